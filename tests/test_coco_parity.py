"""The ``coco`` convention and COCO RLE decoding equal pycocotools, bit for bit.

pycocotools is the independent truth here (the ``dev`` extra installs it); without it these
tests skip, except the hand-computed ones.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polymask.formats import load_annotations
from polymask.formats.rle import (
    RleError,
    RleSizeError,
    counts_to_mask,
    decode,
    polygons_area,
    string_to_counts,
)
from polymask.labels import LabelMap
from polymask.raster import burn
from polymask.raster.coco_polygon import polygon_mask

# pycocotools 2.0.x on numpy 2 warns about its own __array__; nothing of ours
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _pycocotools():
    return pytest.importorskip(
        "pycocotools.mask", reason="pycocotools not installed (pip install polymask[coco])"
    )


def test_axis_aligned_box_by_hand():
    # x in [1, 4], y in [1, 3]: columns whose centre lies inside are 1..3; the edges at
    # y = 1 and y = 3 toggle rows ceil(1.1 - 0.5) = 1 and ceil(3.1 - 0.5) = 3, so rows 1..2.
    expected = np.zeros((5, 6), dtype=bool)
    expected[1:3, 1:4] = True
    np.testing.assert_array_equal(polygon_mask([1, 1, 4, 1, 4, 3, 1, 3], 5, 6), expected)


def test_uncompressed_rle_by_hand():
    # column-major: 5 zeros (column 0 and row 0 of column 1), 3 ones, 1 zero, 3 ones, 8 zeros
    expected = np.zeros((4, 5), dtype=bool)
    expected[1:4, 1:3] = True
    np.testing.assert_array_equal(counts_to_mask([5, 3, 1, 3, 8], 4, 5), expected)


def test_compressed_rle_by_hand():
    # "0" is count 0 (the mask starts with ones), "2" is 2, "1" is 1 (three counts, no deltas)
    assert string_to_counts("021") == [0, 2, 1]
    np.testing.assert_array_equal(counts_to_mask([0, 2, 1], 3, 1), [[True], [True], [False]])


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ("0~", "not part of a COCO RLE string"),
        ("0P", "ends in the middle"),
        ("0PPPPPPP0", "32 bits"),
    ],
)
def test_bad_rle_strings(counts, message):
    with pytest.raises(RleError, match=message):
        string_to_counts(counts)


def test_every_form_of_counts_decodes_alike_and_a_size_mismatch_is_its_own_error():
    expected = np.zeros((4, 5), dtype=bool)
    expected[1:4, 1:3] = True  # as test_uncompressed_rle_by_hand
    runs = [5, 3, 1, 3, 8]
    # "53107": the string pycocotools' mask.encode gives for this mask
    for counts in (runs, np.array(runs, np.uint32).tobytes(), "53107"):
        np.testing.assert_array_equal(decode((4, 5), counts, 4, 5), expected)
    with pytest.raises(RleSizeError, match="RLE size is 4x5 .* but the image is 5x4"):
        decode((4, 5), runs, 5, 4)


def test_rle_of_the_wrong_length_is_refused():
    with pytest.raises(RleError, match="cover 7 pixels but the size 2x3 has 6"):
        counts_to_mask([3, 4], 2, 3)


coords = st.floats(min_value=-12, max_value=76, allow_nan=False, width=32)
half_steps = st.integers(min_value=-20, max_value=140).map(lambda v: v / 2)


@settings(max_examples=300, deadline=None)
@given(
    height=st.integers(1, 64),
    width=st.integers(1, 64),
    xs=st.lists(st.one_of(coords, half_steps), min_size=3, max_size=12),
    ys=st.lists(st.one_of(coords, half_steps), min_size=3, max_size=12),
)
def test_polygons_match_pycocotools(height, width, xs, ys):
    mask = _pycocotools()
    n = min(len(xs), len(ys))
    flat = [v for pair in zip(xs[:n], ys[:n], strict=True) for v in pair]
    expected = mask.decode(mask.frPyObjects([flat], height, width))[:, :, 0].astype(bool)
    np.testing.assert_array_equal(polygon_mask(flat, height, width), expected)


def test_large_polygons_match_pycocotools():
    mask = _pycocotools()
    rng = np.random.default_rng(7)
    for _ in range(5):
        h, w = 1200, 1700
        angles = np.sort(rng.uniform(0, 2 * np.pi, 60))
        radius = rng.uniform(200, 900, 60)
        xy = np.stack([850 + radius * np.cos(angles), 600 + radius * np.sin(angles)], axis=1)
        flat = xy.ravel().tolist()
        expected = mask.decode(mask.frPyObjects([flat], h, w))[:, :, 0].astype(bool)
        np.testing.assert_array_equal(polygon_mask(flat, h, w), expected)


@settings(max_examples=100, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    density=st.floats(0, 1),
    seed=st.integers(0, 2**32 - 1),
)
def test_rle_matches_pycocotools(height, width, density, seed):
    mask = _pycocotools()
    m = np.random.default_rng(seed).random((height, width)) < density
    rle = mask.encode(np.asfortranarray(m.astype(np.uint8)))
    counts = string_to_counts(rle["counts"].decode())
    np.testing.assert_array_equal(counts_to_mask(counts, height, width), m)
    # and pycocotools reads our decoded counts back as the same mask
    again = mask.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    np.testing.assert_array_equal(mask.decode(again).astype(bool), m)


def _random_coco(rng, images=3):
    """A COCO file with polygons (several parts), compressed and uncompressed RLE, overlaps."""
    mask = _pycocotools()
    doc = {
        "images": [],
        "annotations": [],
        "categories": [{"id": 5, "name": "b"}, {"id": 2, "name": "a"}, {"id": 90, "name": "c"}],
    }
    for i in range(images):
        h, w = (int(v) for v in rng.integers(5, 60, 2))
        doc["images"].append({"id": i + 1, "file_name": f"im{i}.jpg", "width": w, "height": h})
        for _ in range(int(rng.integers(1, 6))):
            kind = rng.integers(3)
            if kind == 0:
                parts = [
                    rng.uniform(-3, max(h, w) + 3, 2 * int(rng.integers(3, 8))).tolist()
                    for _ in range(int(rng.integers(1, 3)))
                ]
                seg = parts
            else:
                m = np.zeros((h, w), dtype=np.uint8)
                y0, x0 = rng.integers(0, h), rng.integers(0, w)
                m[y0 : y0 + int(rng.integers(1, h)), x0 : x0 + int(rng.integers(1, w))] = 1
                rle = mask.encode(np.asfortranarray(m))
                if kind == 1:
                    seg = {"size": [h, w], "counts": rle["counts"].decode()}
                else:
                    seg = {"size": [h, w], "counts": string_to_counts(rle["counts"].decode())}
            doc["annotations"].append(
                {
                    "id": len(doc["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": int(rng.choice([5, 2, 90])),
                    "segmentation": seg,
                    "iscrowd": int(kind != 0),
                }
            )
    return doc


def test_coco_files_rasterize_as_ann_to_mask(tmp_path):
    _pycocotools()
    from pycocotools.coco import COCO

    rng = np.random.default_rng(3)
    for n in range(8):
        path = tmp_path / f"instances_{n}.json"
        path.write_text(json.dumps(_random_coco(rng)))
        coco = COCO(str(path))
        label_map = LabelMap.from_names(["a", "b", "c"])
        by_name = {c["id"]: label_map.class_id(c["name"]) for c in coco.loadCats(coco.getCatIds())}
        for ann in load_annotations(path):
            img = next(i for i in coco.dataset["images"] if i["file_name"].startswith(ann.key))
            expected = np.zeros((img["height"], img["width"]), dtype=np.uint8)
            for a in coco.loadAnns(coco.getAnnIds(imgIds=[img["id"]])):  # file order: later on top
                expected[coco.annToMask(a).astype(bool)] = by_name[a["category_id"]]
            np.testing.assert_array_equal(burn(ann, label_map, convention="coco").classes, expected)


@settings(max_examples=50, deadline=None)
@given(x=coords, y=coords, bw=st.floats(0, 40), bh=st.floats(0, 40))
def test_rectangles_match_pycocotools_boxes(x, y, bw, bh):
    from polymask.model import ImageAnnotation, Shape

    mask = _pycocotools()
    h, w = 30, 45
    expected = mask.decode(mask.frPyObjects(np.array([[x, y, bw, bh]]), h, w))[:, :, 0]
    rect = Shape(label="a", kind="rectangle", points=((x + bw, y), (x, y + bh)))
    ann = ImageAnnotation(source="-", key="k", width=w, height=h, shapes=(rect,))
    classes = burn(ann, LabelMap.from_names(["a"]), convention="coco").classes
    np.testing.assert_array_equal(classes, expected)


@settings(max_examples=200, deadline=None)
@given(
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    parts=st.lists(
        st.lists(st.tuples(st.one_of(coords, half_steps), st.one_of(coords, half_steps)),
                 min_size=3, max_size=8),
        min_size=1, max_size=3,
    ),
)  # fmt: skip
def test_polygons_area_is_cocos_area(height, width, parts):
    """COCO's ``area`` of a polygon annotation: the pixels of its parts' merged masks."""
    mask = _pycocotools()
    flats = [[v for point in part for v in point] for part in parts]
    expected = int(mask.area(mask.merge(mask.frPyObjects(flats, height, width))))
    xy = [np.array(f, dtype=float).reshape(-1, 2) for f in flats]
    assert polygons_area(xy, height, width) == expected
