"""CVAT partial loads: with a problems list, an error of one image fails that image only; without
one, any error raises with every problem, as ``validate`` reports them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from polymask.errors import AnnotationError
from polymask.formats import load_annotations
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.conftest import REPO

EXPORT = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <image id="0" name="a.jpg" width="20" height="10">
    <box label="car" source="manual" occluded="0" xtl="1" ytl="1" xbr="5" ybr="5" z_order="0"></box>
  </image>
  <image id="1" name="b.jpg" width="20" height="10">
    <box label="car" source="manual" occluded="0" xtl="1" ytl="1" xbr="5" ybr="5" z_order="0"></box>
    <polygon label="road" source="manual" occluded="0" points="1,1;5;5,5" z_order="0"></polygon>
  </image>
  <image id="2" name="c.jpg" width="0" height="10">
  </image>
  <image id="3" name="d.jpg" width="20" height="10">
    <cuboid label="car" xtl1="1" ytl1="1"></cuboid>
  </image>
  <image id="4" name="e.jpg" width="20" height="10">
    <polygon label="road" occluded="0" points="0,5;20,5;20,10" z_order="0"></polygon>
  </image>
  <cuboid label="car"></cuboid>
</annotations>
"""


@pytest.fixture
def export(tmp_path) -> Path:
    path = tmp_path / "annotations.xml"
    path.write_text(EXPORT)
    return path


def test_each_bad_image_fails_alone(export):
    problems: list = []
    images = load_annotations(export, "cvat", problems=problems)
    summary = [(a.key, a.width, [(p.path, p.line) for p in a.errors]) for a in images]
    assert summary == [
        ("a", 20, []),
        ("b", 20, [("/annotations/image[2]/polygon[1]/@points", 9)]),
        ("annotations/image[3]", 0, [("/annotations/image[3]/@width", 11)]),
        ("d", 20, [("/annotations/image[4]/cuboid[1]", 14)]),
        ("e", 20, []),
    ]
    assert [s.label for s in images[0].shapes] == ["car"]
    assert [s.label for s in images[4].shapes] == ["road"]
    # the top-level <cuboid> belongs to no image
    assert [(p.path, p.line, p.code) for p in problems] == [("/annotations/cuboid[1]", 19, "PM015")]


def test_without_a_problems_list_every_problem_raises_in_file_order(export):
    with pytest.raises(AnnotationError) as raised:
        load_annotations(export, "cvat")
    assert [p.line for p in raised.value.problems] == [9, 11, 14, 19]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<annotations><image></annotations>", "invalid XML: mismatched tag"),
        ("<annotation><image/></annotation>", "a CVAT file has <annotations>"),
    ],
)
def test_a_file_that_cannot_be_read_still_raises(tmp_path, text, message):
    path = tmp_path / "bad.xml"
    path.write_text(text)
    with pytest.raises(AnnotationError, match=message):
        load_annotations(path, "cvat", problems=[])


VALID = sorted((REPO / "tests" / "formats" / "cvat" / "valid").glob("*.xml"))
values = st.text(max_size=8) | st.sampled_from(
    ["nan", "-1", "1e308", "0", "1", "99999999", "1,2;3", ";", "../x", "Train", "7"]
)


@st.composite
def mutated(draw):
    """A valid example with some attribute values replaced."""
    text = draw(st.sampled_from(VALID)).read_text()
    for _ in range(draw(st.integers(1, 4))):
        start = draw(st.integers(0, text.count('="') - 1))
        i = -1
        for _ in range(start + 1):
            i = text.index('="', i + 1)
        j = text.index('"', i + 2)
        value = draw(values).replace('"', "").replace("<", "").replace("&", "")
        text = text[: i + 2] + value + text[j:]
    return text


@settings(
    max_examples=int(os.environ.get("POLYMASK_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(mutated())
def test_mutated_files_load_in_part_and_what_loads_burns(text):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.xml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        problems: list = []
        try:
            images = load_annotations(path, "cvat", problems=problems)
        except AnnotationError as exc:
            assert exc.problems and all(p.file == str(path) for p in exc.problems)
            return
        assert all(p.file == str(path) and p.message for p in problems)
        assert len({a.key for a in images}) == len(images)
        for ann in images:
            assert all(p.file == str(path) and p.message for p in ann.errors)
            if not ann.errors and ann.width * ann.height <= 1 << 20:
                burn(ann, LabelMap.discover(s.label for s in ann.shapes), convention="center")
