"""Drawing in place (Pillow over the array's memory) against drawing on a Pillow image of its
own and reading it back: the same pixels for every kind of LabelMe shape, in any order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polymask.model import Shape
from polymask.raster import canvas
from polymask.raster.labelme import paint as _paint_labelme
from polymask.raster.labelme import paint_copying as _paint_labelme_copying

H, W = 30, 40
coord = st.floats(-10, 50, allow_nan=False).map(lambda v: round(v, 1))
point = st.tuples(coord, coord)


@st.composite
def shapes(draw):
    kind = draw(
        st.sampled_from(
            [
                "polygon",
                "polygon",
                "holes",
                "rectangle",
                "circle",
                "point",
                "line",
                "linestrip",
                "mask",
            ]
        )
    )
    if kind == "polygon":
        return Shape(
            label="x", kind=kind, points=tuple(draw(st.lists(point, min_size=3, max_size=15)))
        )
    if kind == "holes":
        outer = tuple(draw(st.lists(point, min_size=3, max_size=8)))
        hole = tuple(draw(st.lists(point, min_size=3, max_size=5)))
        return Shape(label="x", kind="polygon", points=outer, holes=(hole,))
    if kind in ("rectangle", "circle", "line"):
        return Shape(label="x", kind=kind, points=(draw(point), draw(point)))
    if kind == "linestrip":
        return Shape(
            label="x", kind=kind, points=tuple(draw(st.lists(point, min_size=2, max_size=5)))
        )
    if kind == "point":
        return Shape(label="x", kind=kind, points=(draw(point),))
    patch = np.array(
        draw(st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=3, max_size=3))
    )
    corner = (float(draw(st.integers(-3, W))), float(draw(st.integers(-3, H))))
    return Shape(label="x", kind="mask", points=(corner,), mask=patch)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([(np.uint8, 255), (np.uint16, 65535)]), st.data())
def test_in_place_drawing_gives_the_copying_paths_pixels(dtype_top, data):
    dtype, top = dtype_top
    job_list = data.draw(st.lists(st.tuples(shapes(), st.integers(1, top)), min_size=1, max_size=8))
    fast = _paint_labelme((H, W), job_list, dtype)
    reference = _paint_labelme_copying((H, W), job_list, dtype)
    assert fast.dtype == reference.dtype == dtype
    np.testing.assert_array_equal(fast, reference)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_the_probe_finds_in_place_drawing_with_this_pillow(dtype):
    out = np.zeros((4, 6), dtype)
    img = canvas.drawing_canvas(out)
    assert img is not None
    from PIL import ImageDraw

    ImageDraw.Draw(img).point((5, 3), fill=250)
    assert out[3, 5] == 250 and out.sum() == 250


def test_arrays_pillow_cannot_share_are_refused():
    assert canvas.drawing_canvas(np.zeros((4, 6), np.int32)) is None
    assert canvas.drawing_canvas(np.zeros((4, 6), np.uint8)[:, ::2]) is None
    assert canvas.drawing_canvas(np.zeros((4, 6), ">u2")) is None  # not the native byte order


def test_without_in_place_drawing_the_copying_path_is_used(monkeypatch):
    monkeypatch.setattr(canvas, "_draws_in_place", lambda mode: False)
    square = Shape(label="x", kind="polygon", points=((1, 1), (4, 1), (4, 3), (1, 3)))
    expected = np.zeros((5, 6), np.uint8)
    expected[1:4, 1:5] = 3  # hand-computed: LabelMe includes the outline
    np.testing.assert_array_equal(_paint_labelme((5, 6), [(square, 3)], np.uint8), expected)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_both_widths_paint_the_same_shapes(dtype):
    tri = Shape(label="x", kind="polygon", points=((0, 0), (9, 2), (3, 8)))
    a = _paint_labelme((10, 10), [(tri, 200)], dtype)
    assert a.dtype == dtype
    np.testing.assert_array_equal(a, _paint_labelme_copying((10, 10), [(tri, 200)], dtype))
