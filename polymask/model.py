"""The canonical annotation model that every input format loads into.

Readers of LabelMe, COCO, CVAT, ... turn their files into :class:`ImageAnnotation` objects; the
rasterizer, the statistics and the CLI only ever see this model, so adding a format touches one
module and nothing else.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from polymask.errors import Problem

Point = tuple[float, float]

ShapeKind = Literal[
    "polygon", "rectangle", "circle", "ellipse", "line", "linestrip", "point", "mask"
]
"""Geometry kinds and what ``points`` holds for each:

- ``polygon``: the exterior ring (>= 3 points, implicitly closed); ``holes`` are interior rings.
  Readers of large files give the ring as one C-contiguous (n, 2) float64 array rather than a
  tuple of pairs: cheaper to build, to pickle to workers and to hand to the fillers.
- ``rectangle``: two opposite corners.
- ``circle``: the centre and a point on the circle.
- ``ellipse``: the centre, then ``(rx, ry)``; ``rotation`` in degrees, clockwise in image space.
- ``line``/``linestrip``: the vertices of an open polyline, drawn ``line_width`` pixels wide.
- ``point``: one point, drawn as a disc of radius ``point_radius``.
- ``mask``: ``points[0]`` is the integer top-left pixel of ``mask``, a boolean patch.
"""


class Shape(BaseModel):
    """One labelled geometry, in image pixel coordinates (x right, y down, pixel (r, c) covers
    [c, c+1) x [r, r+1))."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    label: str
    kind: ShapeKind
    points: tuple[Point, ...] | np.ndarray
    holes: tuple[tuple[Point, ...], ...] = ()
    mask: np.ndarray | None = None
    rotation: float = 0.0
    line_width: float = 10.0
    point_radius: float = 5.0
    group: int | str | None = Field(default=None, description="instance/group id from the source")
    z: float = Field(default=0.0, description="stacking order from the source (higher on top)")
    where: str = Field(default="", description="JSON path of the shape in its source file")

    @classmethod
    def from_validated(
        cls, label: str, kind: ShapeKind, points: tuple[Point, ...] | np.ndarray, **optional
    ) -> Shape:
        """The shape ``Shape(...)`` would build from these values, without validating them.

        For readers whose own schema has checked every value already. pydantic's
        ``model_construct`` does the same but resolves each default anew on every call, which
        was a third of the load time of a LabelMe file; the defaults here are immutable, so
        one copy serves every shape.
        """
        if not optional.keys() <= _SHAPE_DEFAULTS.keys():
            raise TypeError(f"not optional fields of Shape: {set(optional) - set(_SHAPE_DEFAULTS)}")
        shape = cls.__new__(cls)
        values = {"label": label, "kind": kind, "points": points, **_SHAPE_DEFAULTS, **optional}
        object.__setattr__(shape, "__dict__", values)
        object.__setattr__(shape, "__pydantic_fields_set__", {"label", "kind", "points", *optional})
        object.__setattr__(shape, "__pydantic_extra__", None)
        object.__setattr__(shape, "__pydantic_private__", None)
        return shape


_SHAPE_DEFAULTS = {
    name: field.default for name, field in Shape.model_fields.items() if not field.is_required()
}


class ImageAnnotation(BaseModel):
    """Everything polymask needs to know about one annotated image."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    format: str | None = Field(
        default=None,
        description="the format of the source file (labelme, coco, ...); its own tool's pixel "
        "convention and overlap order are what burn() uses unless told otherwise",
    )
    source: str = Field(description="the annotation file this came from")
    key: str = Field(description="output name without extension, relative to the input root")
    width: int
    height: int
    image_path: str | None = Field(default=None, description="resolved path of the image, if any")
    image_data: bytes | None = Field(default=None, description="encoded image embedded in source")
    shapes: tuple[Shape, ...] = ()
    warnings: tuple[Problem, ...] = Field(
        default=(), description="things skipped or inconsistent in the source, not fatal"
    )
    errors: tuple[Problem, ...] = Field(
        default=(),
        description="what keeps this image's mask from being made (its image file is missing, "
        "one of its entries is malformed); the other images of the same file are unaffected",
    )
    categories: tuple[tuple[int, str], ...] | None = Field(
        default=None,
        description="the class ids the source declares, as (id, name) pairs (COCO's "
        "categories list, numeric class values): authoritative over ids found from the data",
    )
