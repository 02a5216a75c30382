"""Label Studio: brush RLE decoding, and results turned into pixel geometry."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polymask.formats import load_annotations
from polymask.formats.lsrle import decode
from polymask.formats.rle import RleError
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.formats.lsrle_encode import encode_mask


def _bytes(bits: str) -> list[int]:
    bits = bits.replace(" ", "")
    bits += "0" * (-len(bits) % 8)
    return [int(bits[i : i + 8], 2) for i in range(0, len(bits), 8)]


HEADER_1x2 = "0" * 28 + "1000" + "00111" + "0010 0011 0111 1111"  # 8 values, 8-bit words


def test_brush_rle_by_hand():
    # a 1x2 RGBA image: pixel 0 transparent, pixel 1 red and opaque
    repeat_four_zeros = "1 00 011 00000000"
    literal_four = "0 00 011 11111111 00000000 00000000 11111111"
    data = _bytes(HEADER_1x2 + repeat_four_zeros + literal_four)
    np.testing.assert_array_equal(decode(data, 1, 2), [[False, True]])


def test_brush_rle_run_past_the_end_is_refused():
    data = _bytes(HEADER_1x2 + "1 01 1111 00000000")  # 16 values where 8 are declared
    with pytest.raises(RleError, match="past the 8 values"):
        decode(data, 1, 2)


def test_brush_rle_for_another_size_is_refused():
    with pytest.raises(RleError, match="holds 8 values but a 3x1 RGBA image has 12"):
        decode(_bytes(HEADER_1x2), 1, 3)


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    density=st.floats(0, 1),
    literal_every=st.sampled_from([0, 2, 3]),
    seed=st.integers(0, 2**32 - 1),
)
def test_brush_rle_round_trip(height, width, density, literal_every, seed):
    mask = np.random.default_rng(seed).random((height, width)) < density
    np.testing.assert_array_equal(decode(encode_mask(mask, literal_every), height, width), mask)


def _task(results, image="/data/upload/3/abc-photo.jpg", **extra):
    return {
        "id": 3,
        "data": {"image": image},
        "annotations": [{"id": 1, "result": results}],
        **extra,
    }


def _load(tmp_path, doc, name="export.json"):
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return load_annotations(path)


def test_percent_coordinates_and_keys(tmp_path):
    result = {
        "id": "p",
        "type": "polygonlabels",
        "original_width": 200,
        "original_height": 50,
        "value": {"points": [[10, 20], [50, 20], [50, 80]], "polygonlabels": ["car"]},
    }
    (ann,) = _load(tmp_path, [_task([result])])
    assert (ann.key, ann.width, ann.height) == ("abc-photo", 200, 50)
    (shape,) = ann.shapes
    assert shape.kind == "polygon" and shape.label == "car"
    assert shape.points == ((20.0, 10.0), (100.0, 10.0), (100.0, 40.0))


def test_rectangle_rotates_clockwise_around_its_top_left_corner(tmp_path):
    value = {
        "x": 50,
        "y": 10,
        "width": 20,
        "height": 40,
        "rotation": 30,
        "rectanglelabels": ["sign"],
    }
    result = {
        "id": "r",
        "type": "rectanglelabels",
        "original_width": 100,
        "original_height": 100,
        "value": value,
    }
    (ann,) = _load(tmp_path, [_task([result])])
    (shape,) = ann.shapes
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    # the top edge (20 px long) turns down-right on screen: y grows with a clockwise turn
    expected = [
        (50, 10),
        (50 + 20 * c, 10 + 20 * s),
        (50 + 20 * c - 40 * s, 10 + 20 * s + 40 * c),
        (50 - 40 * s, 10 + 40 * c),
    ]
    np.testing.assert_allclose(shape.points, expected)


def test_unrotated_rectangle_and_ellipse_burn_by_pixel_centres(tmp_path):
    rect = {
        "id": "r",
        "type": "rectanglelabels",
        "original_width": 10,
        "original_height": 10,
        "value": {"x": 10, "y": 20, "width": 30, "height": 20, "rectanglelabels": ["a"]},
    }
    ell = {
        "id": "e",
        "type": "ellipselabels",
        "original_width": 10,
        "original_height": 10,
        "value": {"x": 70, "y": 70, "radiusX": 20, "radiusY": 10, "ellipselabels": ["b"]},
    }
    (ann,) = _load(tmp_path, [_task([rect, ell])])
    classes = burn(ann, LabelMap.from_names(["a", "b"]), convention="center").classes
    expected = np.zeros((10, 10), dtype=np.uint8)
    expected[2:4, 1:4] = 1  # x 1..4, y 2..4
    yy, xx = np.mgrid[0:10, 0:10] + 0.5
    expected[((xx - 7) / 2) ** 2 + ((yy - 7) / 1) ** 2 < 1] = 2  # centre (7, 7), radii 2 and 1
    np.testing.assert_array_equal(classes, expected)


def test_brush_result_becomes_a_mask(tmp_path):
    mask = np.zeros((5, 7), dtype=bool)
    mask[1:4, 2:6] = True
    mask[4, 0] = True
    result = {
        "id": "b",
        "type": "brushlabels",
        "original_width": 7,
        "original_height": 5,
        "value": {"format": "rle", "rle": encode_mask(mask), "brushlabels": ["road"]},
    }
    (ann,) = _load(tmp_path, [_task([result])])
    classes = burn(ann, LabelMap.from_names(["road"])).classes
    np.testing.assert_array_equal(classes, mask.astype(np.uint8))


def test_tasks_without_size_or_annotation_are_skipped_with_warnings(tmp_path):
    good = _task(
        [
            {
                "type": "rectanglelabels",
                "original_width": 4,
                "original_height": 4,
                "value": {"x": 0, "y": 0, "width": 50, "height": 50, "rectanglelabels": ["a"]},
            }
        ],
        image="good.png",
    )
    cancelled = {
        "id": 4,
        "data": {"image": "c.png"},
        "annotations": [{"was_cancelled": True, "result": []}],
    }
    sizeless = _task([{"type": "choices", "value": {"choices": ["x"]}}], image="s.png")
    anns = _load(tmp_path, [good, cancelled, sizeless])
    assert [a.key for a in anns] == ["good"]
    assert sorted(w.path for w in anns[0].warnings) == ["[1]", "[2].annotations[0]"]
    assert all(w.severity == "warning" for w in anns[0].warnings)


def test_keys_keep_the_annotation_files_folder(tmp_path):
    (tmp_path / "sub").mkdir()
    result = {
        "type": "rectanglelabels",
        "original_width": 4,
        "original_height": 4,
        "value": {"x": 0, "y": 0, "width": 50, "height": 50, "rectanglelabels": ["a"]},
    }
    from polymask.formats import InputFile

    path = tmp_path / "sub" / "export.json"
    path.write_text(json.dumps([_task([result], image="http://h/x/y%20z.jpg?sig=1")]))
    (ann,) = load_annotations(InputFile(path, tmp_path))
    assert ann.key == "sub/y z"
