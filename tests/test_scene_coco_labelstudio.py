"""One scene written by hand as COCO and as Label Studio burns, under ``center``, to what a
brute-force pixel-centre test with shapely says; under ``coco``, to what pycocotools says."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from polymask.formats import detect_format, load_annotations
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.conftest import REPO

SCENE = REPO / "tests" / "formats" / "scene"
FILES = {"coco": "coco.json", "label-studio": "label-studio.json"}
LABELS = LabelMap.from_names(["building", "car", "tree"])
TRUTH = [  # painted in this order: the tree is on top
    ("building", shapely.Polygon(
        [(3.3, 2.7), (21.8, 3.1), (22.4, 12.6), (12.7, 13.2), (11.9, 24.3), (2.6, 23.8)])),
    ("car", shapely.box(24.3, 15.8, 36.6, 26.2)),
    ("tree", shapely.Polygon([(15.2, 8.3), (27.9, 1.4), (29.1, 18.7)])),
]


def centre_truth(width: int = 40, height: int = 30) -> np.ndarray:
    """Pixel (r, c) takes the last shape containing its centre (c + 0.5, r + 0.5)."""
    ys, xs = np.mgrid[0:height, 0:width] + 0.5
    out = np.zeros((height, width), dtype=np.uint8)
    for label, geom in TRUTH:
        out[shapely.contains_xy(geom, xs, ys)] = LABELS.class_id(label)
    return out


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_scene_matches_pixel_centre_truth(fmt):
    path = SCENE / FILES[fmt]
    assert detect_format(path) == fmt
    (ann,) = load_annotations(path)
    assert (ann.key, ann.width, ann.height) == ("scene", 40, 30)
    expected = centre_truth()
    assert set(np.unique(expected)) == {0, 1, 2, 3}  # every shape visible: the test can fail
    np.testing.assert_array_equal(burn(ann, LABELS, convention="center").classes, expected)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools on numpy 2
def test_coco_scene_under_its_own_convention_is_ann_to_mask():
    pytest.importorskip("pycocotools", reason="pycocotools not installed (polymask[coco])")
    from pycocotools.coco import COCO

    coco = COCO(str(SCENE / FILES["coco"]))
    expected = np.zeros((30, 40), dtype=np.uint8)
    for a in coco.loadAnns(coco.getAnnIds(imgIds=[1])):
        name = coco.loadCats(a["category_id"])[0]["name"]
        expected[coco.annToMask(a).astype(bool)] = LABELS.class_id(name)
    (ann,) = load_annotations(SCENE / FILES["coco"])
    classes = burn(ann, LABELS, convention="coco").classes
    np.testing.assert_array_equal(classes, expected)
    # the rules differ: pycocotools' masks are not the pixel-centre ones on this scene
    assert np.count_nonzero(classes != centre_truth()) > 0
