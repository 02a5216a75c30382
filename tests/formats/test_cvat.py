"""CVAT specifics: the mask RLE layout, rotated boxes, z order by default, the XML guard."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.errors import AnnotationError
from polymask.formats import load_annotations
from polymask.formats.cvat import parse_xml
from polymask.io.masks import read_mask
from tests.conftest import REPO
from tests.formats.test_same_scene import TRUTH, centre_truth

VALID = REPO / "tests" / "formats" / "cvat" / "valid" / "annotations.xml"


def _shapes(label: str | None = None, kind: str | None = None):
    street, _ = load_annotations(VALID)
    return [s for s in street.shapes if label in (None, s.label) and kind in (None, s.kind)]


def test_mask_rle_is_row_major_starting_with_background():
    """rle="1, 2, 1, 4, 1, 2, 1" over a 4x3 box: hand-decoded row by row."""
    (mask,) = _shapes(kind="mask")
    assert mask.points[0] == (10.0, 20.0)
    expected = np.array([[0, 1, 1, 0], [1, 1, 1, 1], [0, 1, 1, 0]], dtype=bool)
    np.testing.assert_array_equal(mask.mask, expected)
    assert mask.z == 3


def test_rotated_box_turns_clockwise_on_screen_about_its_centre():
    rotated = [s for s in _shapes(label="car") if s.kind == "polygon"]
    (box,) = rotated
    expected = shapely.affinity.rotate(shapely.box(30, 8, 44, 16), 30, origin="center")
    assert shapely.Polygon(box.points).symmetric_difference(expected).area < 1e-9
    # clockwise with y down: the right end of the box goes down
    right_end = max(box.points, key=lambda p: p[0])
    assert right_end[1] > 12


def test_points_element_is_one_instance():
    signs = [s for s in _shapes(label="sign") if s.kind == "point"]
    assert len(signs) == 2 and signs[0].group == signs[1].group


def test_rasterize_stacks_by_z_order_unless_told_otherwise(tmp_path):
    scene = REPO / "tests" / "formats" / "scene" / "cvat.xml"
    labels = tmp_path / "labels.txt"
    labels.write_text("__ignore__\n_background_\nbuilding\ncar\ntree\n")
    runner = CliRunner()
    for order, out in ((None, "z"), ("file", "file")):
        args = ["rasterize", str(scene), "-o", str(tmp_path / out), "--labels", str(labels), "-j1"]
        result = runner.invoke(cli, args + (["--order", order] if order else []))
        assert result.exit_code == 0, result.output
    truth = centre_truth(TRUTH, 40, 30)
    np.testing.assert_array_equal(read_mask(tmp_path / "z" / "scene.png"), truth)
    assert np.count_nonzero(read_mask(tmp_path / "file" / "scene.png") != truth) > 0


def test_billion_laughs_is_refused_before_any_expansion():
    depth = "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' if i else '<!ENTITY l0 "lol">' for i in range(10)
    )
    data = f"<!DOCTYPE annotations [{depth}]><annotations>&l9;</annotations>".encode()
    with pytest.raises(AnnotationError, match="DTD"):
        parse_xml(data, "bomb.xml")


def test_deep_nesting_is_parsed_without_recursion():
    data = b"<annotations>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</annotations>"
    root = parse_xml(data, "deep.xml")
    assert root.tag == "annotations"
    assert root.children[0].tag == "a" and len(root.children[0].children) == 1
    assert root.children[0].children[0].children == []  # deeper levels are not kept
