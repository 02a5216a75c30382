"""The compiled polygon fillers set exactly the pixels of the libraries they stand in for.

Each rule is checked against its library on random polygons whose vertices sit on integers, on
half pixels (where the tie rules decide) or anywhere, partly off the image, self-intersecting
or not; then whole images painted with and without the fillers are compared.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from rasterio.features import rasterize

from polymask.labels import LabelMap
from polymask.limits import MAX_STEPS
from polymask.model import ImageAnnotation, Shape
from polymask.raster import burn, scanfill
from polymask.raster.coco_polygon import polygon_mask

_scanfill = pytest.importorskip("polymask.raster._scanfill", reason="built without a C compiler")


@st.composite
def polygons(draw, min_points=3):
    """(height, width, (n, 2) vertices): integers, halves, quarters or any float, a few pixels
    around the image or far beyond it."""
    h, w = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    n = draw(st.integers(min_points, 12))
    grid = draw(st.sampled_from([1, 2, 4, None]))
    margin = draw(st.sampled_from([8, 8, 8, 300]))  # sometimes long edges far off the image
    side = max(h, w) + margin
    if grid is None:
        coord = st.floats(-margin, side, allow_nan=False, allow_infinity=False)
    else:
        coord = st.integers(-margin * grid, side * grid).map(lambda v, g=grid: v / g)
    xy = draw(st.lists(st.tuples(coord, coord), min_size=n, max_size=n))
    return h, w, np.array(xy, dtype=float)


def pillow_polygon(h, w, xy, value=7, mode="L"):
    img = Image.new(mode, (w, h), 0)
    ImageDraw.Draw(img).polygon([tuple(p) for p in xy], fill=value, outline=value)
    return np.asarray(img)


def gdal_polygon(h, w, rings, value=7, dtype=np.uint8):
    closed = [np.vstack([r, r[:1]]).tolist() for r in rings]
    geom = {"type": "Polygon", "coordinates": closed}
    return rasterize([(geom, value)], out_shape=(h, w), dtype=dtype)


@pytest.fixture(scope="module")
def pillow_rule():
    if scanfill.pillow_filler() is None:
        pytest.skip("this Pillow's polygon rule is not the one the C filler reproduces")


@pytest.mark.parametrize(("dtype", "value", "mode"), [(np.uint8, 7, "L"), (np.uint16, 40000, "I")])
@settings(max_examples=250, deadline=None)
@given(polygons())
def test_pillow_rule_matches_pillow(pillow_rule, dtype, value, mode, case):
    h, w, xy = case
    out = np.zeros((h, w), dtype)
    _scanfill.pillow_polygon(out, xy, value)
    np.testing.assert_array_equal(out, pillow_polygon(h, w, xy, value, mode).astype(dtype))


@settings(max_examples=400, deadline=None)
@given(polygons())
def test_gdal_rule_matches_rasterio(case):
    h, w, xy = case
    ring = np.vstack([xy, xy[:1]])
    out = np.zeros((h, w), np.uint8)
    _scanfill.gdal_polygon(out, ring, (len(ring),), 7)
    np.testing.assert_array_equal(out, gdal_polygon(h, w, [xy]))


@settings(max_examples=150, deadline=None)
@given(polygons(), st.lists(polygons(), min_size=1, max_size=3))
def test_gdal_rule_with_holes_matches_rasterio(outer, holes):
    """Rings are filled together (even-odd), each walked clockwise as GDAL walks it."""
    h, w, xy = outer
    rings = [xy] + [hole[2] for hole in holes]
    closed = [np.vstack([r, r[:1]]) for r in rings]
    out = np.zeros((h, w), np.uint16)
    _scanfill.gdal_polygon(out, np.vstack(closed), tuple(map(len, closed)), 300)
    np.testing.assert_array_equal(out, gdal_polygon(h, w, rings, 300, np.uint16))


@settings(max_examples=400, deadline=None)
@given(polygons(min_points=1))
def test_coco_rule_matches_numpy_reference(case):
    h, w, xy = case
    out = np.zeros((h, w), np.uint8)
    assert _scanfill.coco_polygon(out, xy, 1, MAX_STEPS)
    np.testing.assert_array_equal(out.astype(bool), polygon_mask(xy, h, w))


def test_fillers_paint_over_what_is_there():
    """Only the polygon's pixels change; the rest of the map keeps its values."""
    out = np.full((6, 8), 9, np.uint8)
    square = [(2.0, 1.0), (5.0, 1.0), (5.0, 4.0), (2.0, 4.0)]
    _scanfill.gdal_polygon(out, square + square[:1], (5,), 3)
    expected = np.full((6, 8), 9, np.uint8)
    expected[1:4, 2:5] = 3  # centres (2.5..4.5, 1.5..3.5) are inside
    np.testing.assert_array_equal(out, expected)


def test_coco_rule_refuses_an_outline_too_long_to_walk():
    out = np.zeros((4, 4), np.uint8)
    huge = [(0.0, 0.0), (1e7, 0.0), (1e7, 1e7)]
    assert _scanfill.coco_polygon(out, huge, 1, 1000) is False
    assert not out.any()


@pytest.mark.parametrize(
    ("out", "xy", "value", "error"),
    [
        (np.zeros((3, 3), np.int32), [(0, 0), (1, 1), (2, 0)], 1, TypeError),
        (np.zeros((3, 6), np.uint8)[:, ::2], [(0, 0), (1, 1), (2, 0)], 1, TypeError),
        (np.zeros(9, np.uint8), [(0, 0), (1, 1), (2, 0)], 1, TypeError),
        (np.zeros((3, 3), np.uint8), [(0, 0), (1, 1), (2, 0)], 256, OverflowError),
        (np.zeros((3, 3), np.uint8), [(0, 0)], 1, ValueError),
        (np.zeros((3, 3), np.uint8), [(0, 0), (1,), (2, 0)], 1, ValueError),
        (np.zeros((3, 3), np.uint8), [(0, 0), (1, float("nan")), (2, 0)], 1, ValueError),
        (np.zeros((3, 3), np.uint8), np.zeros((3, 2), np.float32), 1, TypeError),
    ],
)
def test_bad_arguments_are_refused(out, xy, value, error):
    with pytest.raises(error):
        _scanfill.pillow_polygon(out, xy, value)


def test_multipolygon_parts_are_burned_one_by_one_as_gdal_does():
    """Two overlapping squares: GDAL burns each part, so the overlap is inside (not even-odd)."""
    from polymask.raster.center import _polygon_rings

    a = [[1.0, 1.0], [6.0, 1.0], [6.0, 6.0], [1.0, 6.0], [1.0, 1.0]]
    b = [[4.0, 4.0], [9.0, 4.0], [9.0, 9.0], [4.0, 9.0], [4.0, 4.0]]
    geom = {"type": "MultiPolygon", "coordinates": [[a], [b]]}
    out = np.zeros((10, 10), np.uint8)
    for xy, sizes in _polygon_rings(geom):
        _scanfill.gdal_polygon(out, xy, sizes, 5)
    reference = rasterize([(geom, 5)], out_shape=(10, 10), dtype=np.uint8)
    np.testing.assert_array_equal(out, reference)
    assert out[5, 5] == 5


def test_ring_sizes_must_cover_the_points():
    out = np.zeros((3, 3), np.uint8)
    with pytest.raises(ValueError):
        _scanfill.gdal_polygon(out, [(0, 0), (1, 1), (2, 0), (0, 0)], (3,), 1)


@contextmanager
def scanfill_with(**attributes):
    """polymask.raster.scanfill with attributes replaced, its cached fillers decided again inside
    and after."""
    try:
        with pytest.MonkeyPatch.context() as m:
            for name, value in attributes.items():
                m.setattr(scanfill, name, value)
            _forget_fillers()
            yield
    finally:
        _forget_fillers()


def _forget_fillers():
    scanfill.pillow_filler.cache_clear()
    scanfill.gdal_filler.cache_clear()


def test_filler_is_withheld_when_pillow_differs():
    with scanfill_with(PILLOW_RULE=((0, 0), (0, 1))):
        assert scanfill.pillow_filler() is None


# --- whole images: painted with the fillers and by the libraries alone -----------------------


@st.composite
def scenes(draw):
    h, w = draw(st.integers(8, 48)), draw(st.integers(8, 48))
    coord = st.integers(-8, 2 * max(h, w) + 16).map(lambda v: v / 2)
    shapes = []
    for i in range(draw(st.integers(1, 8))):
        kind = draw(
            st.sampled_from(["polygon", "polygon", "rectangle", "circle", "ellipse", "line"])
        )
        label = draw(st.sampled_from(["a", "b", "c"]))
        if kind == "polygon":
            pts = draw(st.lists(st.tuples(coord, coord), min_size=3, max_size=10))
            holes = ()
            if draw(st.booleans()) and len(pts) > 3:
                holes = (tuple(draw(st.lists(st.tuples(coord, coord), min_size=3, max_size=5))),)
            shapes.append(Shape(label=label, kind=kind, points=tuple(pts), holes=holes))
        elif kind == "ellipse":
            centre = draw(st.tuples(coord, coord))
            radii = draw(st.tuples(st.integers(1, 20), st.integers(1, 20)))
            points = (centre, tuple(map(float, radii)))
            shapes.append(Shape(label=label, kind=kind, points=points, rotation=30.0 * i))
        else:
            points = tuple(draw(st.lists(st.tuples(coord, coord), min_size=2, max_size=2)))
            shapes.append(Shape(label=label, kind=kind, points=points))
    return ImageAnnotation(source="s.json", key="s", width=w, height=h, shapes=tuple(shapes))


@pytest.mark.parametrize("convention", ["labelme", "center", "coco"])
@settings(max_examples=60, deadline=None)
@given(scene=scenes())
def test_images_are_the_same_with_and_without_the_fillers(convention, scene):
    labels = LabelMap.from_names(["_background_", "a", "b", "c"])
    fast = burn(scene, labels, convention, instances=True)
    with scanfill_with(_scanfill=None):
        slow = burn(scene, labels, convention, instances=True)
    np.testing.assert_array_equal(fast.classes, slow.classes)
    np.testing.assert_array_equal(fast.instances, slow.instances)
