"""LabelMe JSON: the pydantic schema of the real format and its conversion to the canonical model.

The schema follows what LabelMe writes (versions 3 to 6): ``shapes`` with ``shape_type`` polygon,
rectangle, circle, line, linestrip, point, oriented_rectangle or mask (a base64 PNG patch);
``imagePath``, optional embedded ``imageData`` and the image size. Unknown extra keys are kept
out of the way, since LabelMe and its forks add their own.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from polymask.errors import AnnotationError, Problem
from polymask.formats import labelme_fast
from polymask.formats.common import (
    decode_base64_image,
    image_size,
    parse_problems,
    read_text,
    resolve_image,
)
from polymask.formats.detect import sniff_json
from polymask.limits import MAX_COORD, MAX_SIDE, check_size
from polymask.model import ImageAnnotation, Shape

Coord = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORD, le=MAX_COORD)]
PointXY = tuple[Coord, Coord]


class _ShapeBase(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: str = Field(min_length=1)
    points: list[PointXY]
    group_id: int | None = None
    description: str | None = None
    flags: dict[str, bool] | None = None

    point_count: ClassVar[tuple[int, int | None]] = (1, None)

    @field_validator("points")
    @classmethod
    def _count(cls, points: list) -> list:
        lo, hi = cls.point_count
        n = len(points)
        if n < lo or (hi == lo and n != lo):
            kind = cls.model_fields["shape_type"].default
            need = "exactly" if hi == lo else "at least"
            raise ValueError(f"a {kind} needs {need} {lo} points, got {n}")
        return points


class PolygonShape(_ShapeBase):
    shape_type: Literal["polygon"] = "polygon"
    point_count = (3, None)


class RectangleShape(_ShapeBase):
    shape_type: Literal["rectangle"] = "rectangle"
    point_count = (2, 2)


class OrientedRectangleShape(_ShapeBase):
    shape_type: Literal["oriented_rectangle"] = "oriented_rectangle"
    point_count = (4, 4)


class CircleShape(_ShapeBase):
    shape_type: Literal["circle"] = "circle"
    point_count = (2, 2)


class LineShape(_ShapeBase):
    shape_type: Literal["line"] = "line"
    point_count = (2, 2)


class LineStripShape(_ShapeBase):
    shape_type: Literal["linestrip"] = "linestrip"
    point_count = (2, None)


class PointShape(_ShapeBase):
    shape_type: Literal["point"] = "point"
    point_count = (1, 1)


class MaskShape(_ShapeBase):
    shape_type: Literal["mask"] = "mask"
    point_count = (2, 2)
    mask: str = Field(description="base64 PNG of the patch between the two points")


SHAPE_TYPES = {
    cls.model_fields["shape_type"].default: cls
    for cls in (
        PolygonShape,
        RectangleShape,
        OrientedRectangleShape,
        CircleShape,
        LineShape,
        LineStripShape,
        PointShape,
        MaskShape,
    )
}
_TAGS = frozenset(SHAPE_TYPES)


def _shape_tag(value: Any) -> str | None:
    """Old LabelMe files have no ``shape_type``; such shapes are polygons."""
    kind = (
        value.get("shape_type") if isinstance(value, dict) else getattr(value, "shape_type", None)
    )
    if kind is None:
        return "polygon"
    return kind if isinstance(kind, str) else None


LabelMeShape = Annotated[
    Union[tuple(Annotated[cls, Tag(tag)] for tag, cls in SHAPE_TYPES.items())],  # noqa: UP007
    Discriminator(_shape_tag),
]


_KeyedShape = Annotated[Union[tuple(SHAPE_TYPES.values())], Field(discriminator="shape_type")]  # noqa: UP007


class LabelMeFile(BaseModel):
    """One LabelMe annotation file (one image)."""

    model_config = ConfigDict(extra="allow", title="LabelMe annotation")

    version: str | None = None
    flags: dict[str, bool] | None = None
    shapes: list[LabelMeShape]
    imagePath: str
    imageData: str | None = None
    imageHeight: int | None = Field(default=None, gt=0, le=MAX_SIDE)
    imageWidth: int | None = Field(default=None, gt=0, le=MAX_SIDE)

    @model_validator(mode="after")
    def _area(self) -> LabelMeFile:
        if self.imageHeight and self.imageWidth:
            reason = check_size(self.imageWidth, self.imageHeight)
            if reason:
                raise ValueError(reason)
        return self


class _KeyedLabelMeFile(LabelMeFile):
    """:class:`LabelMeFile` for files in which every shape names its ``shape_type``.

    The callable discriminator that lets old shapes without ``shape_type`` be polygons makes
    pydantic hand each shape, points and all, to Python as a dict: a fifth of the validation
    time. Keyed by ``shape_type``, pydantic picks the member itself. This model accepts exactly
    the documents of :class:`LabelMeFile` in which every shape has a ``shape_type`` string, with
    the same result; anything it refuses is validated again by :class:`LabelMeFile`, whose
    problems are the ones reported.
    """

    shapes: list[_KeyedShape]


def _keyed(text: str, strict: bool) -> _KeyedLabelMeFile | None:
    if '"shape_type"' not in text:  # shapes from LabelMe 3 (or none): the keyed model cannot help
        return None
    try:
        return _KeyedLabelMeFile.model_validate_json(text, strict=strict)
    except ValidationError:
        return None


POINT_COUNTS = tuple((tag, cls.point_count) for tag, cls in SHAPE_TYPES.items())
QUICK_PARSERS = (functools.partial(labelme_fast.decode, point_counts=POINT_COUNTS), _keyed)
"""Tried in turn before :class:`LabelMeFile` itself; each accepts only what it accepts, with the
same values, and returns None for anything else (where :class:`LabelMeFile` finds the problems)."""


def looks_like(head: str) -> bool:
    """Whether the start of a file reads as LabelMe JSON (for format detection): an object with
    ``shapes`` (or, failing every key that says otherwise, ``imagePath``) at its top level."""
    return sniff_json(head) == "labelme"


def parse(text: str, file: str, strict: bool = False) -> LabelMeFile:
    """The file's content, or :class:`AnnotationError` with every problem in it.

    What a quick parser returns has the attributes of :class:`LabelMeFile` but may be another
    class (msgspec structs).
    """
    for quick in QUICK_PARSERS:
        doc = quick(text, strict)
        if doc is not None:
            return doc
    try:
        return LabelMeFile.model_validate_json(text, strict=strict)
    except ValidationError as exc:
        raise AnnotationError(
            parse_problems(text, file, exc, _TAGS, tag_field="shape_type")
        ) from None


def load(path: Path, key: str, root: Path, strict: bool = False) -> list[ImageAnnotation]:
    """Read one LabelMe file into one :class:`ImageAnnotation`.

    ``root`` is the dataset folder: an ``imagePath`` that leads outside it is never opened.
    """
    file = str(path)
    doc = parse(read_text(path), file, strict)
    problems: list[Problem] = []

    image_data = None
    declared = (doc.imageWidth, doc.imageHeight)
    if doc.imageData:
        try:
            img, image_data = decode_base64_image(doc.imageData, file, "imageData")
            if None not in declared and img.size != declared:
                problems.append(
                    Problem(
                        file,
                        f"embedded image is {img.size[0]}x{img.size[1]} but imageWidth x "
                        f"imageHeight says {declared[0]}x{declared[1]}",
                        "imageData",
                        code="PM023",
                    )
                )
            declared = img.size
        except AnnotationError as exc:
            problems.extend(exc.problems)

    image_file = resolve_image(path, doc.imagePath, root)
    width, height = declared
    if width is None or height is None:
        if image_file is None:
            problems.append(
                Problem(
                    file,
                    "imagePath leads outside the dataset folder, and the image size is "
                    "needed from it",
                    "imagePath",
                    code="PM024",
                )
            )
        else:
            try:
                width, height = image_size(image_file, file, "imagePath")
            except AnnotationError as exc:
                problems.extend(exc.problems)

    shapes = []
    for i, raw in enumerate(doc.shapes):
        try:
            shapes.append(_to_shape(raw, f"shapes[{i}]", file, width, height))
        except AnnotationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise AnnotationError(problems)
    return [
        ImageAnnotation(
            format="labelme",
            source=file,
            key=key,
            width=width,
            height=height,
            image_path=str(image_file) if image_file is not None else None,
            image_data=image_data,
            shapes=tuple(shapes),
        )
    ]


def _to_shape(
    raw: _ShapeBase, where: str, file: str, width: int | None, height: int | None
) -> Shape:
    # The schema has validated every value already (points are tuples of floats): no second
    # validation as a Shape.
    kind = raw.shape_type
    if kind == "oriented_rectangle":
        kind = "polygon"
    elif kind == "mask":
        return _mask_shape(raw, where, file, width, height, raw.label, raw.group_id)
    return Shape.from_validated(raw.label, kind, tuple(raw.points), group=raw.group_id, where=where)


def _mask_shape(raw: MaskShape, where: str, file: str, width, height, label, group) -> Shape:
    """LabelMe stores a mask as a PNG patch whose top-left corner is the first point.

    Integer corners mean the legacy inclusive box (the patch is cropped to it); fractional
    corners are rounded and the patch keeps its own size, as LabelMe's own export does.
    """
    limit = (width or MAX_SIDE) * (height or MAX_SIDE)
    img, _ = decode_base64_image(raw.mask, file, f"{where}.mask", max_pixels=limit)
    try:
        patch = np.asarray(img.convert("L") if img.mode not in ("1", "L") else img).astype(bool)
    except (OSError, ValueError) as exc:
        raise AnnotationError(
            [Problem(file, f"cannot decode mask PNG: {exc}", f"{where}.mask")]
        ) from None
    pts = np.asarray(raw.points, dtype=float)
    (x1, y1), (x2, y2) = np.round(pts).astype(int)
    if np.array_equal(pts, np.trunc(pts)):
        patch = patch[: max(y2 - y1 + 1, 0), : max(x2 - x1 + 1, 0)]
    corner = ((float(x1), float(y1)),)
    return Shape(label=label, kind="mask", points=corner, mask=patch, group=group, where=where)
