"""LabelMe's quick parsers change nothing but speed.

For any document, loading with a quick parser (msgspec structs, the ``shape_type``-keyed
pydantic model) gives exactly what loading with :class:`LabelMeFile` alone gives: the same
annotation, or the same problems at the same places. Documents are valid LabelMe files (with
the keys of versions 3 to 5), some mutated (a value replaced by a wrong type, a non-finite or
out-of-range number, a number written in an unusual way, or a key or item deleted), loaded both
lax and ``--strict``; and documents a step beside valid ones.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.generate import image_shapes
from polymask.errors import AnnotationError
from polymask.formats import labelme, labelme_fast
from polymask.limits import MAX_COORD, MAX_SIDE
from tests.helpers import json_container, json_places, labelme_doc, labelme_shape
from tests.test_labelme_format import png_b64

PATCH = png_b64(np.eye(3, dtype=np.uint8) * 255)
QUICK = {"msgspec": labelme.QUICK_PARSERS[0], "keyed": labelme._keyed}
if labelme_fast.msgspec is None:  # the "fast" extra is not installed
    del QUICK["msgspec"]


def outcome(path: Path, strict: bool, quick: tuple) -> str:
    """What loading gives, as text in which 1 and 1.0, or -0.0 and 0.0, differ."""
    with mock.patch.object(labelme, "QUICK_PARSERS", quick):
        try:
            (ann,) = labelme.load(path, "k", path.parent, strict)
        except AnnotationError as exc:
            return repr(exc.problems)
    shapes = [
        (s.model_dump(exclude={"mask"}), None if s.mask is None else s.mask.tolist())
        for s in ann.shapes
    ]
    return repr((ann.model_dump(exclude={"shapes"}), shapes))


KINDS = sorted(labelme.SHAPE_TYPES)
coords = st.floats(-2000, 2000) | st.integers(-2000, 2000)


@st.composite
def shapes(draw) -> dict:
    defect = draw(st.sampled_from([None] * 6 + ["count", "mask"]))
    kind = draw(st.sampled_from(["mask", "polygon"] if defect == "mask" else KINDS))
    lo, hi = labelme.SHAPE_TYPES[kind].point_count
    if defect == "count":
        n = draw(st.sampled_from([lo - 1, (hi or lo) + 1]))
    else:
        n = draw(st.integers(lo, hi if hi is not None else lo + 3))
    points = draw(st.lists(st.tuples(coords, coords), min_size=n, max_size=n))
    extra = {}
    if defect == "mask":
        extra["mask"] = draw(st.sampled_from([None, "", PATCH, 3]))
    elif kind == "mask":
        extra["mask"] = PATCH
    elif draw(st.booleans()):
        extra["mask"] = None  # as LabelMe 5 writes for other kinds
    if draw(st.booleans()):
        extra["description"] = draw(st.none() | st.text(max_size=4))
    shape = labelme_shape(
        draw(st.text(min_size=1, max_size=5)),
        points,
        kind,
        group=draw(st.none() | st.integers(-3, 10**20)),
        **extra,
    )
    if kind == "polygon" and draw(st.integers(0, 9)) == 0:
        del shape["shape_type"]  # LabelMe 3
    if draw(st.integers(0, 9)) == 0:  # LabelMe 4 colours, or an unknown key
        key = draw(st.sampled_from(["line_color", "fill_color", "lineColor", "colour"]))
        shape[key] = draw(st.sampled_from([None, [255, 0, 0, 128], [], "red", [0.5], [[1]]]))
    return shape


odd_values = st.sampled_from(
    [
        float("nan"),
        float("inf"),
        1e30,
        MAX_COORD,
        -MAX_COORD - 1,
        "1.5",
        "",
        "x",
        True,
        None,
        0,
        -1,
        2.5,
        [],
        {},
        [[1, 2], [3, 4], [5, 6]],
        "polygon",
        "mask",
        "hexagon",
        10**20,
        PATCH,
    ]
).map(copy.deepcopy)  # a list or dict put in one document must not leak into the next
ODD_COORDINATES = [
    float("nan"),
    float("inf"),
    -float("inf"),
    MAX_COORD,
    -MAX_COORD,
    MAX_COORD + 1,
    -MAX_COORD - 1,
    float(np.nextafter(MAX_COORD, np.inf)),
    1e30,
    "1.5",
    " 2",
    "nan",
    True,
    False,
    None,
    [1.0],
]
odd_coordinates = st.sampled_from(ODD_COORDINATES)
ODD_NUMBERS = ["1E+2", "-0", "-0.0", "0.30000000000000004441", "1e-400", "1e400", "16777216.000001"]
numbers_written_oddly = st.decimals(allow_nan=False, allow_infinity=False).map(str) | (
    st.sampled_from(ODD_NUMBERS)
)
SIZES = [(1, 1), (0, 10), (10, -1), (MAX_SIDE, 1), (MAX_SIDE + 1, 1), (50_000, 50_000), ("40", 30)]


@st.composite
def documents(draw) -> str:
    """A LabelMe file's text: valid, or valid but for a few mutations."""
    doc = labelme_doc(
        draw(st.lists(shapes(), max_size=4)),
        width=draw(st.integers(1, 60)),
        height=draw(st.integers(1, 60)),
    )
    raw_numbers = []

    def number() -> str:
        raw_numbers.append(draw(numbers_written_oddly))
        return f"@number{len(raw_numbers) - 1}@"

    points = [p for shape in doc["shapes"] for p in shape["points"]]
    for _ in range(draw(st.sampled_from([0, 0, 1, 2])) if points else 0):
        point = draw(st.sampled_from(points))
        point[draw(st.integers(0, 1))] = draw(odd_coordinates | st.builds(number))
    for _ in range(draw(st.sampled_from([0, 0, 1, 2]))):
        action = draw(st.sampled_from(["delete", "odd", "number", "size"]))
        if action == "size":
            doc["imageWidth"], doc["imageHeight"] = draw(st.sampled_from(SIZES))
            continue
        # every value but single coordinates: points are changed whole
        path, key = draw(st.sampled_from(list(json_places(doc, whole=frozenset({"points"})))))
        try:
            parent = json_container(doc, path)
            if action == "delete":
                del parent[key]
            else:
                parent[key] = draw(odd_values) if action == "odd" else number()
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this place
    text = json.dumps(doc, indent=draw(st.sampled_from([None, 1])))
    for i, raw in enumerate(raw_numbers):
        text = text.replace(f'"@number{i}@"', raw)
    return text


@pytest.mark.parametrize("name", sorted(QUICK))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=documents(), strict=st.booleans())
def test_quick_parser_agrees_with_the_model(tmp_path_factory, name, text, strict):
    path = tmp_path_factory.getbasetemp() / f"quick-{name}.json"
    path.write_text(text)
    assert outcome(path, strict, (QUICK[name],)) == outcome(path, strict, ())


def test_quick_parsers_take_typical_files(tmp_path):
    """They are used at all: a LabelMe 5 file of the benchmark set goes through each."""

    doc = labelme_doc(image_shapes(np.random.default_rng(7)), width=1024, height=768)
    text = json.dumps(doc)
    for name, quick in QUICK.items():
        assert quick(text, False) is not None, name
        assert quick(text, True) is not None, name
    path = tmp_path / "a.json"
    path.write_text(text)
    assert outcome(path, False, tuple(QUICK.values())) == outcome(path, False, ())


def edge_documents():
    """Documents a step beside what the quick parsers accept, each named for pytest."""
    square = [[1, 1], [5, 1], [5, 5], [1, 5]]

    def doc(*shapes, **top):
        return json.dumps(labelme_doc(list(shapes), **top))

    for value in [*ODD_COORDINATES, *ODD_NUMBERS]:
        raw = value if isinstance(value, str) and value[0] in "-0123456789" else json.dumps(value)
        text = doc(labelme_shape("a", [[1, 1], ["@", 2], [3, 1]]))
        yield f"coordinate {raw}", text.replace('"@"', raw)
    for kind, cls in labelme.SHAPE_TYPES.items():
        lo, hi = cls.point_count
        for n in (lo - 1, (hi or lo) + 1):
            yield f"{kind} of {n} points", doc(labelme_shape("a", square[:n], kind, mask=PATCH))
    for mask in (None, "", 3, PATCH, "x"):
        for kind in ("mask", "polygon"):
            points = square[: 2 if kind == "mask" else 4]
            yield (
                f"{kind} with mask {mask!r}"[:40],
                doc(labelme_shape("a", points, kind, mask=mask)),
            )
        yield "mask without mask", doc(labelme_shape("a", square[:2], "mask"))
    deep = "[" * 250 + "]" * 250  # deeper than pydantic's parser allows
    for colour in ([0, 255, 0, 128], None, [1.5], "red", [[0]], [True], "@"):
        top = doc(labelme_shape("a", square), lineColor=colour)
        yield f"lineColor {colour}", top.replace('"@"', deep)
        shape = doc(labelme_shape("a", square, line_color=colour))
        yield f"line_color {colour}", shape.replace('"@"', deep)
    yield (
        "deep unknown top-level key",
        doc(labelme_shape("a", square), x=[]).replace("[]", "[" * 250 + "]" * 250),
    )
    for width, height in SIZES:
        yield f"size {width}x{height}", doc(labelme_shape("a", square), width=width, height=height)
    for name, text in ODD_SHAPES.items():
        yield name, doc().replace("[]", f"[{text}]", 1)


TRIANGLE = '"points": [[1, 1], [5, 1], [5, 5]]'
POINT = '"shape_type": "point", "points": [[1, 1]]'
ODD_SHAPES = {
    # duplicate keys: the last one counts, for pydantic as for msgspec
    "shape_type twice, last valid": (
        f'{{"label": "a", "shape_type": "rectangle", "shape_type": "polygon", {TRIANGLE}}}'
    ),
    "shape_type twice, last wrong": (
        f'{{"label": "a", "shape_type": "polygon", "shape_type": "rectangle", {TRIANGLE}}}'
    ),
    "points twice": f'{{"label": "a", "shape_type": "polygon", {TRIANGLE}, "points": [[1, 1]]}}',
    "label twice": f'{{"label": "a", "label": "", "shape_type": "polygon", {TRIANGLE}}}',
    # escapes: surrogate pairs, a lone surrogate, control characters
    "surrogate pair": f'{{"label": "\\ud83d\\ude00", {POINT}}}',
    "lone surrogate": f'{{"label": "\\ud83d", {POINT}}}',
    "escaped NUL": f'{{"label": "a\\u0000b", {POINT}}}',
    "raw tab": f'{{"label": "a\tb", {POINT}}}',
    "leading zero": '{"label": "a", "shape_type": "point", "points": [[1, 01]]}',
    "shape_type null": f'{{"label": "a", "shape_type": null, {TRIANGLE}}}',
    "shape_type capitalised": f'{{"label": "a", "shape_type": "Polygon", {TRIANGLE}}}',
    "group_id 1.0": f'{{"label": "a", {POINT}, "group_id": 1.0}}',
    "group_id true": f'{{"label": "a", {POINT}, "group_id": true}}',
    "flag 1": f'{{"label": "a", {POINT}, "flags": {{"x": 1}}}}',
    # an unknown key nested deeper than pydantic's parser allows (msgspec would skip it)
    "deep unknown key": f'{{"label": "a", {POINT}, "x": {"[" * 250 + "]" * 250}}}',
}
EDGES = dict(edge_documents())


@pytest.mark.parametrize("text", EDGES.values(), ids=EDGES.keys())
def test_quick_parsers_agree_on_edge_cases(tmp_path, text):
    path = tmp_path / "a.json"
    path.write_text(text)
    for quick in QUICK.values():
        for strict in (False, True):
            assert outcome(path, strict, (quick,)) == outcome(path, strict, ())
