"""Burning canonical shapes into class-index and instance-id maps.

The rules, in plain words:

- Pixel (row r, column c) covers [c, c+1) x [r, r+1) in image coordinates. Background is 0.
- ``center`` convention: a pixel takes a shape's class when its centre lies inside the shape
  (GDAL's rule, through ``rasterio.features.rasterize``); polygon self-intersections and holes
  follow the even-odd rule.
- ``labelme`` convention: LabelMe's own conversion (Pillow ``ImageDraw``: outline pixels included;
  rectangles, circles, points of radius 5 and lines 10 px wide drawn by Pillow).
- ``coco`` convention: ``pycocotools``' ``annToMask``, bit for bit (:mod:`polymask.raster_coco`).
- Overlaps: a later shape paints over an earlier one. ``order="area"`` paints larger shapes first,
  so small objects stay visible; ``order="z"`` sorts by the format's stacking order. Both are
  stable, so ties keep file order.
- A shape labelled ``__ignore__`` (or an unknown label under ``unknown="void"``) paints the
  ignore index; instance pixels under the ignore index are 0.
- Instance ids count from 1 in file order, one per distinct (label, group id); a shape without a
  group id is an instance of its own. Ignored shapes take an id too, as in LabelMe.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from polymask.errors import AnnotationError, Problem
from polymask.geometry import shape_area, to_geojson, to_geometry
from polymask.labels import LabelMap, UnknownLabel, UnknownPolicy
from polymask.model import ImageAnnotation, Shape
from polymask.raster_coco import ShapeTooLarge
from polymask.raster_coco import paint as _paint_coco

Convention = Literal["center", "labelme", "coco"]
Order = Literal["file", "area", "z"]
CONVENTIONS: tuple[str, ...] = ("center", "labelme", "coco")
ORDERS: tuple[str, ...] = ("file", "area", "z")


@dataclass
class Rasterized:
    """The maps for one image. ``classes`` is uint8 when every id fits, else uint16."""

    classes: np.ndarray
    instances: np.ndarray | None = None
    warnings: list[Problem] = field(default_factory=list)


def burn(
    annotation: ImageAnnotation,
    label_map: LabelMap,
    convention: Convention = "center",
    order: Order = "file",
    unknown: UnknownPolicy = "error",
    instances: bool = False,
) -> Rasterized:
    """Rasterize one annotation. Raises :class:`AnnotationError` naming every unknown label
    when ``unknown="error"``."""
    painter = _PAINTERS.get(convention)
    if painter is None:
        raise ValueError(f"unknown convention {convention!r}; expected one of {CONVENTIONS}")
    jobs = _resolve(annotation, label_map, unknown)
    if order == "area":
        jobs.sort(key=lambda job: -shape_area(job[0]))
    elif order == "z":
        jobs.sort(key=lambda job: job[0].z)
    elif order != "file":
        raise ValueError(f"unknown order {order!r}; expected one of {ORDERS}")

    size = (annotation.height, annotation.width)
    dtype = np.uint8 if label_map.max_id <= 255 else np.uint16
    try:
        classes = painter(size, [(s, c) for s, c, _ in jobs], dtype)
        inst = None
        if instances:
            inst = painter(size, [(s, i) for s, _, i in jobs], np.uint16)
    except ShapeTooLarge as exc:
        problem = Problem(annotation.source, str(exc), exc.where, code="PM031")
        raise AnnotationError([problem]) from None
    if inst is not None:
        inst[classes == label_map.ignore_index] = 0
    return Rasterized(classes, inst)


def _resolve(
    annotation: ImageAnnotation, label_map: LabelMap, unknown: UnknownPolicy
) -> list[tuple[Shape, int, int]]:
    """(shape, class id, instance id) in file order, with the unknown-label policy applied."""
    jobs = []
    problems = []
    instance_ids: dict[tuple, int] = {}
    for n, shape in enumerate(annotation.shapes):
        try:
            cls = label_map.class_id(shape.label)
        except UnknownLabel:
            if unknown == "error":
                problems.append(
                    Problem(
                        annotation.source,
                        f"label {shape.label!r} is not in the label map",
                        shape.where,
                        code="PM030",
                    )
                )
                continue
            if unknown == "ignore":
                continue
            cls = label_map.ignore_index
        key = (shape.label, shape.group if shape.group is not None else ("", n))
        inst = instance_ids.setdefault(key, len(instance_ids) + 1)
        jobs.append((shape, cls, inst))
    if problems:
        raise AnnotationError(problems)
    return jobs


def _paint_center(size: tuple[int, int], jobs: list[tuple[Shape, int]], dtype) -> np.ndarray:
    """GDAL's centre rule: polygons filled by :mod:`polymask.scanfill` where it reproduces GDAL,
    the rest burned by rasterio in runs of consecutive shapes, handed over as GeoJSON mappings
    (see :func:`polymask.geometry.to_geojson`)."""
    from rasterio.features import rasterize

    from polymask.scanfill import gdal_filler

    fill = gdal_filler()
    out = np.zeros(size, dtype=dtype)
    run: list = []

    def flush():
        if run:
            rasterize(run, out=out, all_touched=False)
            run.clear()

    for shape, value in jobs:
        if shape.kind == "mask":
            flush()
            _paste_patch(out, shape, value)
            continue
        geom = to_geojson(shape)
        if geom is None:
            continue
        polygons = _polygon_rings(geom) if fill is not None else None
        if polygons is None:
            run.append((geom, int(value)))
            continue
        flush()
        for xy, sizes in polygons:
            fill(out, xy, sizes, int(value))
    flush()
    return out


def _polygon_rings(geom: dict) -> list[tuple[list, tuple[int, ...]]] | None:
    """(vertices of all rings, ring sizes) per polygon of a GeoJSON Polygon or MultiPolygon, or
    None for other types. GDAL burns the parts of a multipolygon one by one."""
    kind, coords = geom["type"], geom["coordinates"]
    if kind == "Polygon":
        coords = [coords]
    elif kind != "MultiPolygon":
        return None
    return [([p for ring in rings for p in ring], tuple(map(len, rings))) for rings in coords]


def _paint_labelme(size: tuple[int, int], jobs: list[tuple[Shape, int]], dtype) -> np.ndarray:
    """LabelMe's Pillow drawing, straight onto one canvas.

    Painting a shape with its value directly sets exactly the pixels LabelMe's per-shape boolean
    mask would, without allocating a full-size mask per shape. Polygons are filled by
    :mod:`polymask.scanfill` where it reproduces this Pillow; the other shapes are drawn by
    Pillow into the returned array itself (:mod:`polymask.canvas`); where it cannot,
    :func:`_paint_labelme_copying` draws the same pixels on an image of its own.
    """
    from PIL import ImageDraw

    from polymask.canvas import drawing_canvas
    from polymask.scanfill import pillow_filler

    fill = pillow_filler()
    out = np.zeros(size, dtype=dtype)
    draw = None
    for shape, value in jobs:
        if shape.kind == "mask":
            _paste_patch(out, shape, value)
        elif shape.holes:
            out[_labelme_mask(size, shape)] = value
        elif fill is not None and shape.kind in ("polygon", "ellipse"):
            fill(out, _labelme_outline(shape), int(value))
        else:
            if draw is None:
                canvas = drawing_canvas(out)
                if canvas is None:
                    return _paint_labelme_copying(size, jobs, dtype)
                draw = ImageDraw.Draw(canvas)
            _draw_labelme(draw, shape, int(value))
    return out


def _labelme_outline(shape: Shape) -> list[tuple[float, float]]:
    """The vertices Pillow is given for a polygon or an ellipse."""
    if shape.kind == "ellipse":
        return to_geometry(shape).exterior.coords[:-1]
    return shape.points


def _paint_labelme_copying(
    size: tuple[int, int], jobs: list[tuple[Shape, int]], dtype
) -> np.ndarray:
    """:func:`_paint_labelme` on a Pillow image of its own, read back at the end (and around
    shapes that numpy paints: holes, mask patches)."""
    from PIL import Image, ImageDraw

    height, width = size
    canvas = Image.new("L" if dtype == np.uint8 else "I", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for shape, value in jobs:
        if shape.kind == "mask" or shape.holes:
            out = np.asarray(canvas).astype(dtype)
            if shape.kind == "mask":
                _paste_patch(out, shape, value)
            else:
                out[_labelme_mask(size, shape)] = value
            canvas = Image.fromarray(out if dtype == np.uint8 else out.astype(np.int32))
            draw = ImageDraw.Draw(canvas)
        else:
            _draw_labelme(draw, shape, int(value))
    return np.asarray(canvas).astype(dtype, copy=False)


def _labelme_mask(size: tuple[int, int], shape: Shape) -> np.ndarray:
    """A polygon with holes: exterior drawn, then holes cleared, on a mask of its own."""
    from PIL import Image, ImageDraw

    mask = Image.new("L", (size[1], size[0]), 0)
    draw = ImageDraw.Draw(mask)
    draw.polygon(list(shape.points), fill=1, outline=1)
    for hole in shape.holes:
        draw.polygon(list(hole), fill=0, outline=0)
    return np.asarray(mask, dtype=bool)


def _draw_labelme(draw, shape: Shape, v: int) -> None:
    pts = [tuple(p) for p in shape.points]
    kind = shape.kind
    if kind == "polygon":
        draw.polygon(pts, fill=v, outline=v)
    elif kind == "rectangle":
        (x0, y0), (x1, y1) = pts
        draw.rectangle(((min(x0, x1), min(y0, y1)), (max(x0, x1), max(y0, y1))), fill=v, outline=v)
    elif kind == "circle":
        (cx, cy), (px, py) = pts
        d = math.hypot(cx - px, cy - py)
        draw.ellipse(((cx - d, cy - d), (cx + d, cy + d)), fill=v, outline=v)
    elif kind == "point":
        (cx, cy), r = pts[0], shape.point_radius
        draw.ellipse(((cx - r, cy - r), (cx + r, cy + r)), fill=v, outline=v)
    elif kind == "line":
        draw.line(pts, fill=v, width=round(shape.line_width))
    elif kind == "linestrip":
        draw.line(pts, fill=v, width=round(shape.line_width), joint="curve")
    elif kind == "ellipse":
        draw.polygon(list(_labelme_outline(shape)), fill=v, outline=v)
    else:
        raise ValueError(f"cannot draw shape kind {kind!r}")


def _paste_patch(out: np.ndarray, shape: Shape, value: int) -> None:
    """Set the pixels of a boolean mask patch whose top-left pixel is ``points[0]``, clipped."""
    x0, y0 = (int(v) for v in shape.points[0])
    patch = shape.mask
    h, w = out.shape
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + patch.shape[0], h), min(x0 + patch.shape[1], w)
    if ys < ye and xs < xe:
        region = out[ys:ye, xs:xe]
        region[patch[ys - y0 : ye - y0, xs - x0 : xe - x0]] = value


_PAINTERS: dict[str, Callable] = {
    "center": _paint_center,
    "labelme": _paint_labelme,
    "coco": _paint_coco,
}
