"""The ``center`` painter hands rasterio GeoJSON mappings instead of shapely geometries; the
masks must be exactly those that rasterio burns from the shapely geometries themselves."""

from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from rasterio.features import rasterize

from polymask.labels import LabelMap
from polymask.model import ImageAnnotation, Shape
from polymask.raster import burn
from polymask.raster.geometry import to_geojson, to_geometry

W, H = 48, 36
LM = LabelMap.from_names(["_background_", "a", "b", "c"])

coord = st.floats(-8, 56, allow_nan=False).map(lambda v: round(v, 2))
point = st.tuples(coord, coord)
ring = st.one_of(
    st.lists(point, min_size=3, max_size=12),
    st.lists(point, min_size=2, max_size=4).map(lambda r: [*r, r[0]]),  # closed by the file
)


@st.composite
def shapes(draw):
    kind = draw(
        st.sampled_from(
            ["polygon", "polygon", "rectangle", "circle", "ellipse", "line", "linestrip", "point"]
        )
    )
    label = draw(st.sampled_from(["a", "b", "c"]))
    if kind == "polygon":
        holes = tuple(draw(st.lists(ring, max_size=2)))
        return Shape(label=label, kind=kind, points=tuple(draw(ring)), holes=holes)
    if kind in ("rectangle", "circle", "line"):
        return Shape(
            label=label,
            kind=kind,
            points=(draw(point), draw(point)),
            line_width=draw(st.floats(1, 12)),
        )
    if kind == "ellipse":
        radii = (draw(st.floats(0.5, 20)), draw(st.floats(0.5, 20)))
        return Shape(
            label=label, kind=kind, points=(draw(point), radii), rotation=draw(st.floats(0, 360))
        )
    if kind == "linestrip":
        return Shape(
            label=label, kind=kind, points=tuple(draw(st.lists(point, min_size=2, max_size=6)))
        )
    return Shape(label=label, kind=kind, points=(draw(point),), point_radius=draw(st.floats(1, 8)))


def reference(shape_list):
    """rasterio burning the shapely geometries, one call, file order."""
    out = np.zeros((H, W), np.uint8)
    pairs = [
        (g, LM.class_id(s.label))
        for s in shape_list
        if (g := to_geometry(s)) is not None and not g.is_empty
    ]
    if pairs:
        rasterize(pairs, out=out)
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(shapes(), min_size=1, max_size=6))
def test_geojson_path_burns_what_shapely_geometries_burn(shape_list):
    ann = ImageAnnotation(source="m.json", key="m", width=W, height=H, shapes=tuple(shape_list))
    np.testing.assert_array_equal(burn(ann, LM, "center").classes, reference(shape_list))


def test_geojson_has_shapelys_coordinates():
    """Open rings are closed as shapely closes them; closed ones are left alone."""
    open_ring = Shape(
        label="a",
        kind="polygon",
        points=((0, 0), (4, 0), (4, 3)),
        holes=(((1, 1), (2, 1), (2, 2), (1, 1)),),
    )
    geo = to_geojson(open_ring)
    assert geo == {
        "type": "Polygon",
        "coordinates": [[(0, 0), (4, 0), (4, 3), (0, 0)], [(1, 1), (2, 1), (2, 2), (1, 1)]],
    }
    assert shapely.geometry.shape(geo).equals_exact(to_geometry(open_ring), 0)
    sliver = Shape(label="a", kind="polygon", points=((0, 0), (5, 5), (0, 0)))
    assert to_geojson(sliver)["coordinates"] == [[(0, 0), (5, 5), (0, 0), (0, 0)]]
    disc = Shape(label="a", kind="point", points=((5, 5),), point_radius=2)
    assert shapely.geometry.shape(to_geojson(disc)).equals_exact(to_geometry(disc), 0)
