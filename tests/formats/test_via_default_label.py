"""VIA single-class projects: regions with no label attribute take ``--default-label``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.errors import AnnotationError
from polymask.formats import load_annotations
from polymask.formats.options import FormatOptions
from polymask.io.masks import read_mask

RECT = {"name": "rect", "x": 2, "y": 1, "width": 4, "height": 3}
POINT = {"name": "point", "cx": 7, "cy": 7}


def _via2(tmp_path, regions: list) -> object:
    """A VIA 2.0.10 project as VIA saves it when no region attribute was ever defined."""
    doc = {
        "_via_settings": {
            "ui": {"annotation_editor_height": 25, "leftsidebar_width": 18},
            "core": {"buffer_size": 18, "filepath": {}, "default_filepath": ""},
            "project": {"name": "cells"},
        },
        "_via_img_metadata": {
            "cell.png5120": {
                "filename": "cell.png",
                "size": 5120,
                "regions": regions,
                "file_attributes": {},
            }
        },
        "_via_attributes": {"region": {}, "file": {}},
        "_via_data_format_version": "2.0.10",
        "_via_image_id_list": ["cell.png5120"],
    }
    path = tmp_path / "project.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


def _via1(tmp_path, regions: dict) -> object:
    """A VIA 1.x annotations file: one flat object, regions keyed "0", "1", ..."""
    doc = {
        "cell.png5120": {
            "fileref": "",
            "size": 5120,
            "filename": "cell.png",
            "base64_img_data": "",
            "file_attributes": {},
            "regions": regions,
        }
    }
    path = tmp_path / "via1.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


@pytest.mark.parametrize(
    ("write", "where"),
    [
        (
            lambda tmp: _via2(tmp, [{"shape_attributes": RECT, "region_attributes": {}}]),
            "_via_img_metadata.cell.png5120.regions[0].region_attributes",
        ),
        (
            lambda tmp: _via1(tmp, {"0": {"shape_attributes": RECT, "region_attributes": {}}}),
            "cell.png5120.regions.0.region_attributes",  # VIA 1 keys regions "0", "1", ...
        ),
    ],
    ids=["via2-project", "via1-flat"],
)
def test_regions_without_attributes_take_the_default_label(tmp_path, write, where):
    path = write(tmp_path)
    with pytest.raises(AnnotationError) as raised:
        load_annotations(path, options=FormatOptions(image_size=(8, 6)))
    (problem,) = raised.value.problems
    assert "--default-label NAME" in problem.message
    assert problem.path == where
    options = FormatOptions(image_size=(8, 6), default_label="nucleus")
    (image,) = load_annotations(path, options=options)
    assert [(s.label, s.kind, s.points) for s in image.shapes] == [
        ("nucleus", "rectangle", ((2.0, 1.0), (6.0, 4.0)))
    ]


def test_a_region_with_its_own_label_keeps_it(tmp_path):
    regions = [
        {"shape_attributes": RECT, "region_attributes": {}},
        {"shape_attributes": POINT, "region_attributes": {"label": "debris"}},
    ]
    options = FormatOptions(image_size=(8, 8), default_label="nucleus")
    (image,) = load_annotations(_via2(tmp_path, regions), options=options)
    assert [s.label for s in image.shapes] == ["nucleus", "debris"]


def test_rasterize_with_a_default_label(tmp_path):
    path = _via2(tmp_path, [{"shape_attributes": RECT, "region_attributes": {}}])
    out = tmp_path / "masks"
    args = ["rasterize", str(path), "-o", str(out), "--image-size", "8x6"]
    result = CliRunner().invoke(cli, [*args, "--default-label", "nucleus", "-j1"])
    assert result.exit_code == 0, result.output
    assert (out / "labels.txt").read_text().split() == ["__ignore__", "_background_", "nucleus"]
    # the rect x 2..6, y 1..4 covers the pixels whose centres are inside it
    expected = np.zeros((6, 8), dtype=np.uint8)
    expected[1:4, 2:6] = 1
    np.testing.assert_array_equal(read_mask(out / "cell.png"), expected)
