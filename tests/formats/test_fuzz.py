"""Random and mutated VIA, GeoJSON and CVAT files never escape as anything but a reported
:class:`AnnotationError`; what loads also burns without error."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polymask.errors import AnnotationError
from polymask.formats import load_annotations
from polymask.formats.options import FormatOptions
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.conftest import REPO

EXAMPLES = REPO / "tests" / "formats"
FUZZ = settings(
    max_examples=int(os.environ.get("POLYMASK_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.sampled_from(
        [
            "polygon",
            "rect",
            "ellipse",
            "Polygon",
            "MultiPolygon",
            "Feature",
            "",
            "../a.png",
            "a\x00b.png",
            "x" * 300 + ".png",
            "/abs.png",
            "C:\\a.png",
            "sub/",
            ".",
            "label",
        ]
    )
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=6), inner, max_size=5)
    ),
    max_leaves=30,
)


def _paths(doc, prefix=()):
    """Every path into a JSON document, to pick a place to mutate."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _replace(doc, path, value):
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return doc


@st.composite
def mutated(draw, source: Path):
    doc = json.loads(source.read_text())
    paths = list(_paths(doc))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        try:
            doc = _replace(doc, path, draw(json_values))
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation removed that place
        paths = list(_paths(doc))
    return json.dumps(doc, allow_nan=True)


def _check(text: str | bytes, suffix: str, fmt: str, options: FormatOptions | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        try:
            annotations = load_annotations(path, fmt, options=options)
        except AnnotationError as exc:
            assert exc.problems and all(p.message for p in exc.problems)
            return
        for ann in annotations:
            if ann.width * ann.height <= 1 << 20:
                labels = LabelMap.discover(s.label for s in ann.shapes)
                burn(ann, labels, convention="center", instances=True)


SMALL = FormatOptions(image_size=(16, 12))
REF = FormatOptions(reference=str(EXAMPLES / "geojson" / "valid" / "reference.tif"))


@FUZZ
@given(st.sampled_from(sorted((EXAMPLES / "via" / "valid").glob("*.json"))).flatmap(mutated))
def test_mutated_via(text):
    _check(text, ".json", "via", SMALL)


@FUZZ
@given(json_values.map(json.dumps))
def test_random_json_as_via_and_geojson(text):
    _check(text, ".json", "via", SMALL)
    _check(text, ".geojson", "geojson", SMALL)


@FUZZ
@given(
    st.sampled_from(sorted((EXAMPLES / "geojson" / "valid").glob("*.geojson"))).flatmap(mutated),
    st.sampled_from([SMALL, REF]),
)
def test_mutated_geojson(text, options):
    _check(text, ".geojson", "geojson", options)


CVAT = (EXAMPLES / "cvat" / "valid" / "annotations.xml").read_text()
attribute_values = st.text(max_size=12) | st.sampled_from(
    ["nan", "inf", "-1", "1e308", "0", "99999999", "1,2;3", "1, 2, 3", ";", ",", "1,1;2,2;3,3"]
)


@st.composite
def mutated_xml(draw):
    """Replace some attribute values, and sometimes cut or splice the text."""
    text = CVAT
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, text.count('="') - 1))
        i = -1
        for _ in range(start + 1):
            i = text.index('="', i + 1)
        j = text.index('"', i + 2)
        value = draw(attribute_values).replace('"', "").replace("<", "").replace("&", "")
        text = text[: i + 2] + value + text[j:]
    if draw(st.booleans()):
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=10)) + text[cut + draw(st.integers(0, 20)) :]
    return text


@FUZZ
@given(mutated_xml())
def test_mutated_cvat(text):
    _check(text, ".xml", "cvat", None)


@FUZZ
@given(st.binary(max_size=200))
def test_random_bytes(data):
    for suffix, fmt in ((".xml", "cvat"), (".json", "via"), (".geojson", "geojson")):
        _check(data, suffix, fmt, SMALL)
