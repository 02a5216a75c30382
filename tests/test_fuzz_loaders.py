"""Loaders never fail with anything but a reported problem, whatever the input.

Random JSON, random bytes and mutations of the valid example files (a value replaced by random
JSON, NaN and Infinity included, a key or item deleted) go through format detection, every
loader and the rasterizer; the only exception allowed out is :class:`AnnotationError`, whose
problems all name the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polymask.errors import AnnotationError
from polymask.formats import load_annotations
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.helpers import mutate

FORMATS = (None, "coco", "label-studio")
EXAMPLES = sorted(
    p
    for fmt in ("coco", "label-studio")
    for p in (Path(__file__).parent / "formats" / fmt).glob("valid/*.json")
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "input.json"


def _load_everyway(path: Path) -> None:
    """Load with every format, and burn what loads under the formats' own conventions."""
    for fmt in FORMATS:
        try:
            for ann in load_annotations(path, fmt):
                assert ann.width > 0 and ann.height > 0
                label_map = LabelMap.discover(s.label for s in ann.shapes)
                for convention in ("center", "coco"):
                    classes = burn(ann, label_map, convention).classes
                    assert classes.shape == (ann.height, ann.width)
        except AnnotationError as exc:
            assert exc.problems
            assert all(p.file == str(path) and p.message for p in exc.problems)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_examples(scratch, data):
    source = data.draw(st.sampled_from(EXAMPLES), label="example")
    doc = json.loads(source.read_text())
    mutate(doc, data, json_values)
    scratch.write_text(json.dumps(doc))
    _load_everyway(scratch)


@settings(max_examples=100, deadline=None)
@given(doc=json_values)
def test_random_json(scratch, doc):
    scratch.write_text(json.dumps(doc))
    _load_everyway(scratch)


@settings(max_examples=50, deadline=None)
@given(raw=st.binary(max_size=64))
def test_random_bytes(scratch, raw):
    scratch.write_bytes(raw)
    _load_everyway(scratch)


@pytest.mark.parametrize("fmt", ["coco", "label-studio"])
def test_deep_nesting_is_refused(tmp_path, fmt):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AnnotationError, match="nested too deeply|recursion"):
        load_annotations(path, fmt)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_validate_command_exits_1_without_a_traceback(scratch, data):
    from click.testing import CliRunner

    from polymask.cli.main import cli

    source = data.draw(st.sampled_from(EXAMPLES), label="example")
    text = source.read_text()
    cut = data.draw(st.integers(0, len(text) - 1), label="cut")
    junk = data.draw(st.sampled_from(["", "]", "NaN", '{"', "1e999", "\x00"]), label="junk")
    scratch.write_text(text[:cut] + junk + text[cut + 1 :])
    for fmt in FORMATS:
        args = ["validate", str(scratch), "-j", "1", "--output-format", "json"]
        result = CliRunner().invoke(cli, args + (["--format", fmt] if fmt else []))
        assert result.exit_code in (0, 1), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
