"""Burning canonical shapes into class-index and instance-id maps.

The rules, in plain words:

- Pixel (row r, column c) covers [c, c+1) x [r, r+1) in image coordinates. Background is 0.
- ``center`` convention: a pixel takes a shape's class when its centre lies inside the shape
  (GDAL's rule, through ``rasterio.features.rasterize``); polygon self-intersections and holes
  follow the even-odd rule.
- ``labelme`` convention: LabelMe's own conversion (Pillow ``ImageDraw``: outline pixels included;
  rectangles, circles, points of radius 5 and lines 10 px wide drawn by Pillow).
- ``coco`` convention: ``pycocotools``' ``annToMask``, bit for bit (:mod:`polymask.raster.coco`).
- Each format's own tool has its rule, and an annotation is burned by the rule of the format it
  was read from unless a convention is given: ``labelme`` for LabelMe files, ``coco`` for COCO,
  ``center`` for the rest (and for annotations built in code).
- Overlaps: a later shape paints over an earlier one. ``order="area"`` paints larger shapes first,
  so small objects stay visible; ``order="z"`` sorts by the format's stacking order. Both are
  stable, so ties keep file order. By default CVAT annotations stack by z order (CVAT records
  it), the others in file order.
- A shape labelled ``__ignore__`` (or an unknown label under ``unknown="void"``) paints the
  ignore index; instance pixels under the ignore index are 0.
- Instance ids count from 1 in file order, one per distinct (label, group id); a shape without a
  group id is an instance of its own. Ignored shapes take an id too, as in LabelMe.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from polymask.conventions import (
    CONVENTIONS,
    ORDERS,
    Convention,
    Order,
    format_convention,
    format_order,
)
from polymask.errors import AnnotationError, Problem
from polymask.labels import LabelMap, UnknownLabel, UnknownPolicy
from polymask.limits import check_size
from polymask.model import ImageAnnotation, Shape
from polymask.raster.center import paint as paint_center
from polymask.raster.coco import ShapeTooLarge
from polymask.raster.coco import paint as paint_coco
from polymask.raster.geometry import shape_area
from polymask.raster.labelme import paint as paint_labelme


@dataclass
class Rasterized:
    """The maps for one image. ``classes`` is uint8 when every id fits, else uint16."""

    classes: np.ndarray
    instances: np.ndarray | None = None
    warnings: list[Problem] = field(default_factory=list)


def burn(
    annotation: ImageAnnotation,
    label_map: LabelMap,
    convention: Convention | None = None,
    order: Order | None = None,
    unknown: UnknownPolicy = "error",
    instances: bool = False,
) -> Rasterized:
    """Rasterize one annotation. Raises :class:`AnnotationError` naming every unknown label
    when ``unknown="error"``.

    ``convention`` and ``order`` None: those of the format the annotation was read from, so a
    LabelMe file burns to LabelMe's own pixels and a COCO file to pycocotools'.
    """
    convention = convention or format_convention(annotation.format)
    order = order or format_order(annotation.format)
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

    reason = check_size(annotation.width, annotation.height)
    if reason:  # the loaders refuse such sizes; annotations built in code meet them here
        raise AnnotationError([Problem(annotation.source, reason, code="PM021")])
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


_PAINTERS: dict[str, Callable] = {
    "center": paint_center,
    "labelme": paint_labelme,
    "coco": paint_coco,
}
