"""The rasterizer against hand-computed cases and a brute-force centre test with shapely."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from polymask.errors import AnnotationError
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.helpers import annotation

LM = LabelMap.from_names(["_background_", "a", "b", "c"])


def centres(h, w):
    ys, xs = np.mgrid[0:h, 0:w]
    return xs + 0.5, ys + 0.5


def brute_force(geom, h, w):
    """Pixels whose centre lies strictly inside the geometry."""
    x, y = centres(h, w)
    return shapely.contains_xy(geom, x, y)


def test_square_hand_computed():
    ann = annotation(
        [dict(label="a", kind="polygon", points=((1, 1), (4, 1), (4, 3), (1, 3)))],
        width=6,
        height=5,
    )
    expected = np.zeros((5, 6), np.uint8)
    expected[1:3, 1:4] = 1  # centres (1.5..3.5, 1.5..2.5)
    np.testing.assert_array_equal(burn(ann, LM, "center").classes, expected)


def test_labelme_convention_includes_outline():
    """Pillow fills the polygon and draws its outline: vertices at integer pixels are inside."""
    ann = annotation(
        [dict(label="a", kind="polygon", points=((1, 1), (4, 1), (4, 3), (1, 3)))],
        width=6,
        height=5,
    )
    expected = np.zeros((5, 6), np.uint8)
    expected[1:4, 1:5] = 1  # rows 1..3, columns 1..4 inclusive
    np.testing.assert_array_equal(burn(ann, LM, "labelme").classes, expected)


def even_odd(points, x, y):
    """Crossing-number test: inside when a ray to the right crosses the ring an odd number of
    times. Independent of GDAL and shapely; defines the fill of self-intersecting rings."""
    inside = np.zeros(x.shape, bool)
    pts = list(points)
    for (x1, y1), (x2, y2) in zip(pts, pts[1:] + pts[:1], strict=True):
        if y1 == y2:
            continue
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(all="ignore"):  # tiny (y2 - y1): those rows do not cross anyway
            x_at = (x2 - x1) * (y - y1) / (y2 - y1) + x1
        inside ^= crosses & (x < x_at)
    return inside


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.floats(-5, 45), st.floats(-5, 35)), min_size=3, max_size=12))
def test_center_polygon_matches_brute_force(points):
    """Any polygon, self-intersecting and multiply wound ones included: even-odd fill."""
    x, y = centres(30, 40)
    ann = annotation([dict(label="a", kind="polygon", points=tuple(points))])
    got = burn(ann, LM, "center").classes == 1
    # Centres lying on an edge (measure zero, but floats can land there) may go either way.
    ring = shapely.LinearRing(points) if len(set(points)) > 1 else shapely.Point(points[0])
    with np.errstate(all="ignore"):  # GEOS on degenerate rings
        boundary = shapely.distance(ring, shapely.points(x, y)) < 1e-9
    assert np.array_equal(got & ~boundary, even_odd(points, x, y) & ~boundary)


def test_hole_is_left_unpainted():
    outer = ((2, 2), (20, 2), (20, 20), (2, 20))
    hole = ((8, 8), (14, 8), (14, 14), (8, 14))
    ann = annotation([dict(label="a", kind="polygon", points=outer, holes=(hole,))], 24, 24)
    for convention in ("center", "labelme"):
        got = burn(ann, LM, convention).classes
        assert got[11, 11] == 0 and got[4, 4] == 1, convention
    got = burn(ann, LM, "center").classes == 1
    np.testing.assert_array_equal(got, brute_force(shapely.Polygon(outer, [hole]), 24, 24))


def test_later_shapes_paint_over_earlier_and_area_order_keeps_small_visible():
    big = dict(label="a", kind="rectangle", points=((0, 0), (20, 20)))
    small = dict(label="b", kind="rectangle", points=((5, 5), (10, 10)))
    on_top = annotation([small, big], 20, 20)
    assert not (burn(on_top, LM, "center", order="file").classes == 2).any()
    by_area = burn(on_top, LM, "center", order="area").classes
    assert (by_area == 2).sum() == 25 and (by_area == 1).sum() == 400 - 25


def test_z_order_sorts_stably():
    shapes = [
        dict(label="b", kind="rectangle", points=((0, 0), (4, 4)), z=1),
        dict(label="a", kind="rectangle", points=((0, 0), (4, 4)), z=0),
    ]
    assert burn(annotation(shapes, 4, 4), LM, "center", order="z").classes[0, 0] == 2


@pytest.mark.parametrize("convention", ["center", "labelme"])
def test_ignore_label_and_instance_zero_under_it(convention):
    shapes = [
        dict(label="a", kind="rectangle", points=((0, 0), (10, 10)), group=1),
        dict(label="__ignore__", kind="rectangle", points=((0, 0), (5, 10))),
    ]
    r = burn(annotation(shapes, 10, 10), LM, convention, instances=True)
    assert r.classes[5, 2] == 255 and r.instances[5, 2] == 0
    assert r.classes[5, 8] == 1 and r.instances[5, 8] == 1
    assert r.instances.dtype == np.uint16


def test_instance_ids_by_label_and_group():
    shapes = [
        dict(label="a", kind="rectangle", points=((0, 0), (2, 2)), group=7),
        dict(label="a", kind="rectangle", points=((4, 0), (6, 2)), group=7),
        dict(label="b", kind="rectangle", points=((0, 4), (2, 6)), group=7),
        dict(label="a", kind="rectangle", points=((4, 4), (6, 6))),
    ]
    inst = burn(annotation(shapes, 8, 8), LM, "center", instances=True).instances
    assert [inst[1, 1], inst[1, 5], inst[5, 1], inst[5, 5]] == [1, 1, 2, 3]


def test_unknown_label_policies():
    shapes = [
        dict(label="a", kind="rectangle", points=((0, 0), (4, 4))),
        dict(label="zebra", kind="rectangle", points=((2, 2), (6, 6))),
    ]
    ann = annotation(shapes, 8, 8)
    with pytest.raises(AnnotationError) as err:
        burn(ann, LM, "center", unknown="error")
    (problem,) = err.value.problems
    assert (
        problem.path == "shapes[1]" and "'zebra'" in problem.message and problem.file == "mem.json"
    )
    assert burn(ann, LM, "center", unknown="ignore").classes[3, 3] == 1
    assert burn(ann, LM, "center", unknown="void").classes[3, 3] == 255


def test_circle_point_and_line_under_center():
    ann = annotation([dict(label="a", kind="circle", points=((20, 15), (30, 15)))])
    got = burn(ann, LM, "center").classes == 1
    x, y = centres(30, 40)
    d = np.hypot(x - 20, y - 15)
    assert got[d < 9.9].all() and not got[d > 10.1].any()

    ann = annotation([dict(label="a", kind="point", points=((20, 15),))])
    got = burn(ann, LM, "center").classes == 1
    assert got[d < 4.9].all() and not got[d > 5.1].any()

    ann = annotation([dict(label="a", kind="line", points=((5, 15), (35, 15)), line_width=4)])
    got = burn(ann, LM, "center").classes == 1
    expected = np.zeros((30, 40), bool)
    expected[13:17, 5:35] = True  # centres within 2 px of y=15, flat ends at x=5 and x=35
    np.testing.assert_array_equal(got, expected)


def test_rotated_ellipse():
    ann = annotation([dict(label="a", kind="ellipse", points=((20, 15), (12, 4)), rotation=90)])
    got = burn(ann, LM, "center").classes == 1
    x, y = centres(30, 40)
    inside = ((x - 20) / 4) ** 2 + ((y - 15) / 12) ** 2  # rotated a quarter turn: tall
    assert got[inside < 0.95].all() and not got[inside > 1.05].any()


def test_mask_patch_clipped_at_the_border():
    patch = np.ones((4, 4), bool)
    patch[0, 0] = False
    ann = annotation([dict(label="b", kind="mask", points=((-1, -1),), mask=patch)], 5, 5)
    for convention in ("center", "labelme"):
        got = burn(ann, LM, convention).classes
        assert got[0, 0] == 2 and got[2, 2] == 2 and got[3, 3] == 0, convention


def test_more_than_255_classes_gives_uint16():
    names = ["_background_"] + [f"c{i}" for i in range(300)]
    lm = LabelMap.from_names(names, ignore_index=65535)
    ann = annotation([dict(label="c299", kind="rectangle", points=((0, 0), (3, 3)))], 4, 4)
    for convention in ("center", "labelme"):
        got = burn(ann, lm, convention).classes
        assert got.dtype == np.uint16 and got[1, 1] == 300, convention


def test_area_of_shapes_used_for_order():
    from polymask.model import Shape
    from polymask.raster.geometry import shape_area

    assert shape_area(Shape(label="a", kind="polygon", points=((0, 0), (4, 0), (4, 3)))) == 6
    circle = Shape(label="a", kind="circle", points=((0, 0), (3, 4)))
    assert shape_area(circle) == pytest.approx(math.pi * 25, rel=1e-2)
