"""One scene written by hand in every format burns to the same classes under ``center``, and
those classes are what a brute-force pixel-centre test with shapely says."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.formats import detect_format, load_annotations
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.conftest import REPO

SCENE = REPO / "tests" / "formats" / "scene"
FILES = {
    "labelme": "labelme.json",
    "via": "via.json",
    "cvat": "cvat.xml",
    "geojson": "scene.geojson",
    "coco": "coco.json",
    "label-studio": "label-studio.json",
}
LABELS = LabelMap.from_names(["building", "car", "tree"])

# The scene as independent truth, painted in this order (tree on top).
TRUTH = [
    (
        "building",
        shapely.Polygon(
            [(3.3, 2.7), (21.8, 3.1), (22.4, 12.6), (12.7, 13.2), (11.9, 24.3), (2.6, 23.8)]
        ),
    ),
    ("car", shapely.box(24.3, 15.8, 36.6, 26.2)),
    ("tree", shapely.Polygon([(15.2, 8.3), (27.9, 1.4), (29.1, 18.7)])),
]


def centre_truth(shapes, width: int, height: int) -> np.ndarray:
    """Pixel (r, c) takes the last shape containing its centre (c + 0.5, r + 0.5)."""
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    out = np.zeros((height, width), dtype=np.uint8)
    for label, geom in shapes:
        out[shapely.contains_xy(geom, xs, ys)] = LABELS.class_id(label)
    return out


def _burn(fmt: str) -> np.ndarray:
    path = SCENE / FILES[fmt]
    assert detect_format(path) == fmt
    (ann,) = load_annotations(path)
    assert (ann.width, ann.height) == (40, 30)
    return burn(ann, LABELS, convention="center").classes


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_scene_matches_pixel_centre_truth(fmt):
    expected = centre_truth(TRUTH, 40, 30)
    assert set(np.unique(expected)) == {0, 1, 2, 3}  # every shape visible: the test can fail
    np.testing.assert_array_equal(_burn(fmt), expected)


def test_cvat_z_order_puts_the_first_shape_on_top():
    """The CVAT file lists the tree first with z_order 1: in file order it would be covered."""
    (ann,) = load_annotations(SCENE / FILES["cvat"])
    by_file = burn(ann, LABELS, convention="center", order="file").classes
    assert np.count_nonzero(by_file != centre_truth(TRUTH, 40, 30)) > 0
    np.testing.assert_array_equal(_burn("cvat"), centre_truth(TRUTH, 40, 30))


@pytest.mark.parametrize("fmt", ["via", "cvat", "geojson"])
def test_stats_of_annotations_count_the_truth(fmt, tmp_path):
    """``polymask stats`` burns with each format's defaults (z order for CVAT) like rasterize."""
    labels = tmp_path / "labels.txt"
    labels.write_text("__ignore__\n_background_\nbuilding\ncar\ntree\n")
    args = ["stats", str(SCENE / FILES[fmt]), "--labels", str(labels), "--json", "-", "-j1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    pixels = {c["name"]: c["pixels"] for c in json.loads(result.stdout)["classes"]}
    truth = np.bincount(centre_truth(TRUTH, 40, 30).ravel(), minlength=4)
    assert [pixels[n] for n in ("_background_", "building", "car", "tree")] == truth.tolist()
