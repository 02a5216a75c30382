"""Canonical shapes as shapely geometries, and their areas.

Under the ``center`` convention every shape becomes an area: lines are buffered to their width
(flat ends, round joins), points and circles become discs. Polygons are passed on as drawn,
self-intersections included: the rasterizer fills them by the even-odd rule, as GDAL does.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from polymask.model import Shape

CIRCLE_SEGMENTS = 32
"""Segments per quarter circle: the polygon is within 0.05 px of a true circle of radius 100."""


def to_geometry(shape: Shape) -> BaseGeometry | None:
    """The area a shape covers, or None for mask patches (they are pixels already)."""
    kind = shape.kind
    pts = shape.points
    if kind == "polygon":
        return shapely.Polygon(pts, holes=shape.holes or None)
    if kind == "rectangle":
        (x0, y0), (x1, y1) = pts
        return shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    if kind == "circle":
        (cx, cy), (px, py) = pts
        return shapely.Point(cx, cy).buffer(math.hypot(px - cx, py - cy), quad_segs=CIRCLE_SEGMENTS)
    if kind == "ellipse":
        (cx, cy), (rx, ry) = pts
        disc = shapely.Point(0, 0).buffer(1.0, quad_segs=CIRCLE_SEGMENTS)
        t = math.radians(shape.rotation)
        c, s = math.cos(t), math.sin(t)
        # scale to the radii, rotate clockwise on screen (y points down), move to the centre
        matrix = [rx * c, -ry * s, rx * s, ry * c, cx, cy]
        return shapely.affinity.affine_transform(disc, matrix)
    if kind in ("line", "linestrip"):
        line = shapely.LineString(pts) if len(pts) > 1 else shapely.Point(pts[0])
        return line.buffer(shape.line_width / 2, cap_style="flat", join_style="round")
    if kind == "point":
        return shapely.Point(pts[0]).buffer(shape.point_radius, quad_segs=CIRCLE_SEGMENTS)
    return None


def shape_area(shape: Shape) -> float:
    """Area in square pixels, used to paint large shapes first (``--order area``)."""
    if shape.kind == "mask":
        return float(np.count_nonzero(shape.mask))
    if shape.kind == "polygon":
        return max(_ring_area(shape.points) - sum(_ring_area(h) for h in shape.holes), 0.0)
    geom = to_geometry(shape)
    return float(geom.area) if geom is not None else 0.0


def _ring_area(ring) -> float:
    a = np.asarray(ring, dtype=float)
    if len(a) < 3:
        return 0.0
    x, y = a[:, 0], a[:, 1]
    return abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2


def to_geojson(shape: Shape) -> dict | None:
    """The area a shape covers as a GeoJSON-like mapping, with exactly the coordinates of
    :func:`to_geometry`, or None when it covers nothing (or is a mask patch).

    ``rasterio.features.rasterize`` takes such mappings directly; building them from the points
    (polygons) or with ``shapely.get_coordinates`` (the rest) is about 40x cheaper than shapely's
    ``__geo_interface__``, which walks the coordinates in Python.
    """
    rings = (shape.points, *shape.holes)
    if shape.kind == "polygon" and min(map(len, rings)) >= 3:
        return {"type": "Polygon", "coordinates": list(map(_closed, rings))}
    geom = to_geometry(shape)
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type == "Polygon":
        return {"type": "Polygon", "coordinates": _rings(geom)}
    if geom.geom_type == "MultiPolygon":
        return {"type": "MultiPolygon", "coordinates": [_rings(p) for p in geom.geoms]}
    return shapely.geometry.mapping(geom)


def _closed(ring) -> list:
    """A ring closed as shapely closes it: the first point repeated unless already last, and
    always when that leaves fewer than 4 coordinates."""
    pts = ring.tolist() if isinstance(ring, np.ndarray) else list(ring)  # rows compare as lists
    if pts[0] != pts[-1] or len(pts) < 4:
        pts.append(pts[0])
    return pts


def _rings(polygon) -> list:
    return [shapely.get_coordinates(r).tolist() for r in (polygon.exterior, *polygon.interiors)]
