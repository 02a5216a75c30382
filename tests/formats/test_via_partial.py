"""VIA partial loads: with a problems list, an image whose file is missing or whose entry is
malformed fails alone; without one, any error raises with every problem."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from polymask.errors import AnnotationError
from polymask.formats import load_annotations
from polymask.formats.options import FormatOptions
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.conftest import REPO
from tests.helpers import json_container, json_places


def _region(xs, ys, label="leaf"):
    return {
        "shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
        "region_attributes": {"label": label},
    }


def _entry(name: str, size: int, *regions) -> tuple[str, dict]:
    return f"{name}{size}", {
        "filename": name,
        "size": size,
        "regions": list(regions),
        "file_attributes": {},
    }


def _project(tmp_path, entries: list[tuple[str, dict]], **extra) -> object:
    """A VIA 2.0.10 project file as VIA saves it, images in ``images/``."""
    doc = {
        "_via_settings": {
            "ui": {"annotation_editor_height": 25, "leftsidebar_width": 18},
            "core": {"buffer_size": 18, "filepath": {}, "default_filepath": "images/"},
            "project": {"name": "leaves"},
        },
        "_via_img_metadata": dict(entries),
        "_via_attributes": {"region": {"label": {"type": "text", "default_value": ""}}, "file": {}},
        "_via_data_format_version": "2.0.10",
        "_via_image_id_list": [k for k, _ in entries],
        **extra,
    }
    path = tmp_path / "via_project.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


@pytest.fixture
def photos(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (16, 12)).save(tmp_path / "images" / "a.jpg")
    Image.new("RGB", (20, 10)).save(tmp_path / "images" / "c.jpg")
    return tmp_path


TRIANGLE = ([1, 9, 5], [1, 1, 8])


def test_a_missing_image_file_fails_only_its_image(photos):
    path = _project(
        photos,
        [
            _entry("a.jpg", 11, _region(*TRIANGLE)),
            _entry("b.jpg", 22, _region(*TRIANGLE)),
            _entry("c.jpg", 33, _region(*TRIANGLE)),
        ],
    )
    problems: list = []
    images = load_annotations(path, problems=problems)
    assert problems == []
    summary = [(a.key, a.width, a.height, len(a.shapes), len(a.errors)) for a in images]
    assert summary == [("a", 16, 12, 1, 0), ("b", 0, 0, 0, 1), ("c", 20, 10, 1, 0)]
    (error,) = images[1].errors
    assert error.path == "_via_img_metadata.b.jpg22.filename"
    assert "image not found" in error.message and "--image-size" in error.message
    with pytest.raises(AnnotationError) as raised:
        load_annotations(path)
    assert raised.value.problems == [error]


def test_a_malformed_region_fails_only_its_image(photos):
    path = _project(
        photos,
        [_entry("a.jpg", 11, _region([1, 9, 5], [1, 1])), _entry("c.jpg", 33, _region(*TRIANGLE))],
    )
    problems: list = []
    bad, good = load_annotations(path, problems=problems)
    assert problems == []
    assert (bad.key, bad.width, bad.shapes) == ("a", 0, ())
    (error,) = bad.errors
    assert error.path == "_via_img_metadata.a.jpg11.regions[0].shape_attributes"
    assert "all_points_x has 3 values but all_points_y has 2" in error.message
    assert (good.key, good.width, len(good.shapes), good.errors) == ("c", 20, 1, ())
    with pytest.raises(AnnotationError) as raised:
        load_annotations(path)
    assert [p.path for p in raised.value.problems] == [error.path]


def test_errors_outside_every_image_go_to_problems(photos):
    path = _project(
        photos,
        [_entry("c.jpg", 33, _region(*TRIANGLE)), ("junk", 7)],
        _via_settings=["not", "settings"],
    )
    problems: list = []
    (image,) = load_annotations(path, problems=problems)
    assert sorted(p.path for p in problems) == ["_via_img_metadata.junk", "_via_settings"]
    # default_filepath is in the broken settings: the image is looked for beside the file
    assert image.key == "c" and "image not found" in image.errors[0].message


def test_a_duplicate_name_fails_the_second_image_under_its_place_in_the_file(tmp_path):
    doc = dict([_entry("a.png", 1), _entry("a.jpg", 2), _entry("b.png", 3)])
    path = tmp_path / "export.json"
    path.write_text(json.dumps(doc))
    problems: list = []
    images = load_annotations(path, problems=problems, options=FormatOptions(image_size=(8, 6)))
    assert [(a.key, len(a.errors)) for a in images] == [("a", 0), ("export[1]", 1), ("b", 0)]
    assert images[1].errors[0].message == "image 'a.jpg' is listed twice (also at a.png1)"


@pytest.mark.parametrize("text", ['{"a.png1": {"filename": "a.png", "regions": [', "[1, 2]"])
def test_a_file_that_cannot_be_read_still_raises(tmp_path, text):
    path = tmp_path / "via.json"
    path.write_text(text)
    with pytest.raises(AnnotationError):
        load_annotations(path, "via", problems=[], options=FormatOptions(image_size=(8, 6)))


EXAMPLES = sorted((REPO / "tests" / "formats" / "via" / "valid").glob("*.json"))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 300) | st.floats() | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


@settings(
    max_examples=int(os.environ.get("POLYMASK_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=st.data())
def test_mutated_files_load_in_part_and_what_loads_burns(data):
    doc = json.loads(data.draw(st.sampled_from(EXAMPLES)).read_text())
    for _ in range(data.draw(st.integers(1, 3))):
        places = list(json_places(doc))
        if not places:
            break
        place, key = data.draw(st.sampled_from(places))
        try:
            parent = json_container(doc, place)
            if data.draw(st.booleans()):
                del parent[key]
            else:
                parent[key] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this place
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "via.json"
        path.write_text(json.dumps(doc))
        problems: list = []
        options = FormatOptions(image_size=(16, 12), default_label="x")
        try:
            images = load_annotations(path, "via", options=options, problems=problems)
        except AnnotationError as exc:
            assert exc.problems and all(p.file == str(path) for p in exc.problems)
            return
        assert all(p.file == str(path) and p.message for p in problems)
        assert len({a.key for a in images}) == len(images)
        for ann in images:
            assert all(p.file == str(path) and p.message for p in ann.errors)
            if not ann.errors:
                burn(ann, LabelMap.discover(s.label for s in ann.shapes), convention="center")
