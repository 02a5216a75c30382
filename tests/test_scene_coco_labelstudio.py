"""The hand-written scene (tests/formats/scene, checked under ``center`` in every format by
tests/formats/test_same_scene.py) as COCO, under its own convention: pycocotools' annToMask."""

from __future__ import annotations

import numpy as np
import pytest

from polymask.formats import load_annotations
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.conftest import REPO
from tests.formats.test_same_scene import TRUTH, centre_truth

SCENE = REPO / "tests" / "formats" / "scene"
LABELS = LabelMap.from_names(["building", "car", "tree"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pycocotools on numpy 2
def test_coco_scene_under_its_own_convention_is_ann_to_mask():
    pytest.importorskip("pycocotools", reason="pycocotools not installed (polymask[coco])")
    from pycocotools.coco import COCO

    coco = COCO(str(SCENE / "coco.json"))
    expected = np.zeros((30, 40), dtype=np.uint8)
    for a in coco.loadAnns(coco.getAnnIds(imgIds=[1])):
        name = coco.loadCats(a["category_id"])[0]["name"]
        expected[coco.annToMask(a).astype(bool)] = LABELS.class_id(name)
    (ann,) = load_annotations(SCENE / "coco.json")
    classes = burn(ann, LABELS, convention="coco").classes
    np.testing.assert_array_equal(classes, expected)
    # the rules differ: pycocotools' masks are not the pixel-centre ones on this scene
    assert np.count_nonzero(classes != centre_truth(TRUTH, 40, 30)) > 0
