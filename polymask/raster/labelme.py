"""The ``labelme`` pixel convention: LabelMe's own conversion (Pillow ``ImageDraw``: outline
pixels included; rectangles, circles, points of radius 5 and lines 10 px wide drawn by Pillow)."""

from __future__ import annotations

import math

import numpy as np

from polymask.model import Shape
from polymask.raster.geometry import to_geometry
from polymask.raster.patch import paste_patch


def paint(size: tuple[int, int], jobs: list[tuple[Shape, int]], dtype) -> np.ndarray:
    """LabelMe's Pillow drawing, straight onto one canvas.

    Painting a shape with its value directly sets exactly the pixels LabelMe's per-shape boolean
    mask would, without allocating a full-size mask per shape. Polygons are filled by
    :mod:`polymask.raster.scanfill` where it reproduces this Pillow; the other shapes are drawn by
    Pillow into the returned array itself (:mod:`polymask.raster.canvas`); where it cannot,
    :func:`paint_copying` draws the same pixels on an image of its own.
    """
    from PIL import ImageDraw

    from polymask.raster.canvas import drawing_canvas
    from polymask.raster.scanfill import pillow_filler

    fill = pillow_filler()
    out = np.zeros(size, dtype=dtype)
    draw = None
    for shape, value in jobs:
        if shape.kind == "mask":
            paste_patch(out, shape, value)
        elif shape.holes:
            out[_labelme_mask(size, shape)] = value
        elif fill is not None and shape.kind in ("polygon", "ellipse"):
            fill(out, _labelme_outline(shape), int(value))
        else:
            if draw is None:
                canvas = drawing_canvas(out)
                if canvas is None:
                    return paint_copying(size, jobs, dtype)
                draw = ImageDraw.Draw(canvas)
            _draw_labelme(draw, shape, int(value))
    return out


def _labelme_outline(shape: Shape) -> list[tuple[float, float]]:
    """The vertices Pillow is given for a polygon or an ellipse."""
    if shape.kind == "ellipse":
        return to_geometry(shape).exterior.coords[:-1]
    return shape.points


def paint_copying(size: tuple[int, int], jobs: list[tuple[Shape, int]], dtype) -> np.ndarray:
    """:func:`paint` on a Pillow image of its own, read back at the end (and around
    shapes that numpy paints: holes, mask patches)."""
    from PIL import Image, ImageDraw

    height, width = size
    canvas = Image.new("L" if dtype == np.uint8 else "I", (width, height), 0)
    draw = ImageDraw.Draw(canvas)
    for shape, value in jobs:
        if shape.kind == "mask" or shape.holes:
            out = np.asarray(canvas).astype(dtype)
            if shape.kind == "mask":
                paste_patch(out, shape, value)
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
    draw.polygon(list(map(tuple, shape.points)), fill=1, outline=1)  # Pillow takes no array rows
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
