"""The ``coco`` pixel convention: shapes drawn as ``pycocotools`` draws them.

Polygons are scan-converted exactly as ``COCO.annToMask`` does
(see :func:`polymask.formats.rle.polygon_block`); mask patches (decoded RLE) are pasted as
they are. Shapes COCO has no word for are drawn the way COCO would draw their outline: a
rectangle as the polygon of its corners (as ``frBbox``), circles, ellipses, points and wide
lines as the polygon of the area they cover.
Holes are cleared from their polygon.
"""

from __future__ import annotations

import numpy as np
import shapely

from polymask.formats.rle import polygon_block
from polymask.limits import MAX_STEPS, polygon_steps
from polymask.model import Shape
from polymask.raster.coco_polygon import polygon_mask
from polymask.raster.geometry import to_geometry
from polymask.raster.patch import paste_patch


class ShapeTooLarge(ValueError):
    """A shape whose outline is too long to walk; ``where`` is its JSON path."""

    def __init__(self, where: str):
        self.where = where
        super().__init__(
            f"outline too long to rasterize under the coco convention (over {MAX_STEPS // 5} px)"
        )


def paint(size: tuple[int, int], jobs: list[tuple[Shape, int]], dtype) -> np.ndarray:
    from polymask.raster.scanfill import coco_filler

    fill = coco_filler()
    out = np.zeros(size, dtype=dtype)
    for shape, value in jobs:
        if shape.kind == "mask":
            paste_patch(out, shape, value)
            continue
        rings = _rings(shape)
        if len(rings) != 1 or rings[0][1]:  # none, parts or holes: masks of their own
            out[_rings_mask(rings, shape, size)] = value
        elif fill is not None:  # the common case, in C
            if not fill(out, rings[0][0], int(value), MAX_STEPS):
                raise ShapeTooLarge(shape.where)
        else:  # without C: paint only the polygon's columns
            (r0, c0), block = polygon_block(_checked(rings[0][0], shape), *size)
            out[r0 : r0 + block.shape[0], c0 : c0 + block.shape[1]][block] = value
    return out


def _rings(shape: Shape) -> list[tuple]:
    """(exterior, holes) of every part of the area a vector shape covers."""
    if shape.kind == "rectangle":
        (x0, y0), (x1, y1) = shape.points
        xs, xe, ys, ye = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
        return [([(xs, ys), (xs, ye), (xe, ye), (xe, ys)], [])]
    if shape.kind == "polygon":
        return [(shape.points, shape.holes)]
    geom = to_geometry(shape)
    parts = geom.geoms if isinstance(geom, shapely.MultiPolygon) else [geom]
    return [
        (p.exterior.coords[:-1], [h.coords[:-1] for h in p.interiors])
        for p in parts
        if not p.is_empty
    ]


def _rings_mask(rings: list[tuple], shape: Shape, size: tuple[int, int]) -> np.ndarray:
    """Parts united, holes cleared from their part."""
    out = np.zeros(size, dtype=bool)
    for exterior, holes in rings:
        part = polygon_mask(_checked(exterior, shape), *size)
        for hole in holes:
            part &= ~polygon_mask(_checked(hole, shape), *size)
        out |= part
    return out


def _checked(ring, shape: Shape) -> np.ndarray:
    xy = np.asarray(ring, dtype=float).reshape(-1, 2)
    if polygon_steps(xy) > MAX_STEPS:
        raise ShapeTooLarge(shape.where)
    return xy
