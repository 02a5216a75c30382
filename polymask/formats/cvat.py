"""CVAT for images 1.1 XML: a safe XML reader, pydantic models of its shapes, canonical shapes.

Per ``<image name width height>``: ``<polygon>``, ``<polyline>`` and ``<points>`` with
``points="x,y;x,y"``, ``<box xtl ytl xbr ybr rotation>``, ``<ellipse cx cy rx ry rotation>`` and
``<mask rle left top width height>``; every shape has a ``label``, a ``z_order`` and an optional
``group_id``. ``<tag>`` (a label for the whole image, no pixels) is skipped; tracks (CVAT for
video), cuboids and skeletons are refused, as they have no area in an image mask.

The XML is read with expat and no document type: a file with a DTD is refused, which rules out
entity expansion ("billion laughs") and external entities whatever the expat version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar
from xml.parsers import expat

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from polymask.errors import AnnotationError, Problem
from polymask.formats.common import error_code, resolve_image
from polymask.formats.options import FormatOptions, image_key
from polymask.limits import MAX_COORD, MAX_SIDE, check_size
from polymask.model import ImageAnnotation, Shape

Coord = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORD, le=MAX_COORD)]
Length = Annotated[float, Field(allow_inf_nan=False, ge=0, le=MAX_COORD)]
Angle = Annotated[float, Field(allow_inf_nan=False)]
MAX_ELEMENTS = 10_000_000
"""More elements than this in one file is refused."""
KEEP_DEPTH = 3
"""Elements kept: <annotations>, <image>, and the shapes in it; deeper ones are only counted,
so memory follows the number of shapes however deep a file nests."""


@dataclass
class Element:
    """An XML element with the line it starts on (for error messages)."""

    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)


class _Refused(Exception):
    pass


def parse_xml(data: bytes, file: str) -> Element:
    """The top of the element tree of ``data`` (down to ``KEEP_DEPTH``); any DTD, entity
    declaration or malformed XML is an error."""
    parser = expat.ParserCreate()
    stack: list[Element | None] = []
    roots: list[Element] = []
    count = 0

    def start(tag, attrs):
        nonlocal count
        count += 1
        if count > MAX_ELEMENTS:
            raise _Refused(f"more than {MAX_ELEMENTS} elements")
        if len(stack) >= KEEP_DEPTH:  # <attribute> and deeper: nothing there is read
            stack.append(None)
            return
        el = Element(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(el)
        stack.append(el)

    def end(tag):
        stack.pop()

    def refuse(*_):
        raise _Refused("a document type (DTD) or entity declaration is not allowed in a CVAT file")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        raise AnnotationError(
            [Problem(file, str(exc), line=parser.CurrentLineNumber, code="PM003")]
        ) from None
    except (LookupError, ValueError) as exc:  # the declared encoding is unknown or unusable
        msg = f"invalid XML: cannot decode it: {exc}"
        raise AnnotationError([Problem(file, msg, line=1, code="PM001")]) from None
    except expat.ExpatError as exc:
        msg = f"invalid XML: {expat.errors.messages.get(exc.code, str(exc))}"
        raise AnnotationError(
            [Problem(file, msg, line=exc.lineno, column=exc.offset + 1, code="PM001")]
        ) from None
    return roots[0]


def _point_list(text: str) -> list[tuple[float, float]]:
    points = []
    for pair in text.split(";"):
        parts = pair.split(",")
        if len(parts) != 2:
            raise ValueError(f"expected 'x,y' pairs separated by ';', got {pair!r}")
        points.append((float(parts[0]), float(parts[1])))
    return points


class _ShapeEl(BaseModel):
    model_config = ConfigDict(extra="allow")

    label: str = Field(min_length=1)
    z_order: int = 0
    group_id: int | None = None


class _PointsEl(_ShapeEl):
    points: list[tuple[Coord, Coord]]
    least: ClassVar[int] = 1

    @field_validator("points", mode="before")
    @classmethod
    def _split(cls, value):
        return _point_list(value) if isinstance(value, str) else value

    @field_validator("points")
    @classmethod
    def _count(cls, points):
        if len(points) < cls.least:
            raise ValueError(f"needs at least {cls.least} points, got {len(points)}")
        return points


class PolygonEl(_PointsEl):
    least = 3


class PolylineEl(_PointsEl):
    least = 2


class BoxEl(_ShapeEl):
    xtl: Coord
    ytl: Coord
    xbr: Coord
    ybr: Coord
    rotation: Angle = 0.0


class EllipseEl(_ShapeEl):
    cx: Coord
    cy: Coord
    rx: Length
    ry: Length
    rotation: Angle = 0.0


class MaskEl(_ShapeEl):
    rle: str
    left: int = Field(ge=0, le=MAX_SIDE)
    top: int = Field(ge=0, le=MAX_SIDE)
    width: int = Field(gt=0, le=MAX_SIDE)
    height: int = Field(gt=0, le=MAX_SIDE)


class ImageEl(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    width: int = Field(gt=0, le=MAX_SIDE)
    height: int = Field(gt=0, le=MAX_SIDE)


SHAPE_ELEMENTS: dict[str, type[_ShapeEl]] = {
    "polygon": PolygonEl,
    "polyline": PolylineEl,
    "points": _PointsEl,
    "box": BoxEl,
    "ellipse": EllipseEl,
    "mask": MaskEl,
}
SKIPPED = {"tag"}
"""Image-level labels: they carry no geometry, so they cannot add pixels to a mask."""
REFUSED = {"track", "cuboid", "skeleton"}


def looks_like(head: str) -> bool:
    """Whether the start of a file reads as CVAT XML (for format detection)."""
    text = head.lstrip("\ufeff \t\r\n")
    return text.startswith("<") and "<annotations" in head


def load(
    path: Path, key: str, root: Path, strict: bool = False, options: FormatOptions | None = None
) -> list[ImageAnnotation]:
    """Read a CVAT for images XML file into one :class:`ImageAnnotation` per ``<image>``.

    XML attributes are text, so numbers are always converted: ``strict`` has no effect here.
    """
    file = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        msg = f"cannot read: {exc.strerror}"
        raise AnnotationError([Problem(file, msg, code="PM002")]) from None
    top = parse_xml(data, file)
    if top.tag != "annotations":
        raise AnnotationError(
            [
                Problem(
                    file,
                    f"root element is <{top.tag}>, a CVAT file has <annotations>",
                    f"/{top.tag}",
                    line=top.line,
                    code="PM011",
                )
            ]
        )
    problems: list[Problem] = []
    out: list[ImageAnnotation] = []
    seen: dict[str, int] = {}
    counts: dict[str, int] = {}
    for el in top.children:
        counts[el.tag] = counts.get(el.tag, 0) + 1
        if el.tag in REFUSED:
            problems.append(
                _problem(
                    file,
                    el,
                    f"/annotations/{el.tag}[{counts[el.tag]}]",
                    f"<{el.tag}> is not supported (export the task as 'CVAT for images')",
                    "PM015",
                )
            )
        if el.tag != "image":
            continue
        try:
            where = f"/annotations/image[{counts['image']}]"
            out.append(_image(el, where, path, key, root, seen))
        except AnnotationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise AnnotationError(problems)
    return out


def _problem(file: str, el: Element, where: str, msg: str, code: str = "PM012") -> Problem:
    return Problem(file, msg, where, code=code, line=el.line)


def _validate(model: type[BaseModel], el: Element, where: str, file: str):
    try:
        return model.model_validate(el.attrs)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            attr = err["loc"][0] if err["loc"] else ""
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing":
                msg = "required attribute is missing"
            problems.append(
                Problem(file, msg, f"{where}/@{attr}", code=error_code(err["type"]), line=el.line)
            )
        raise AnnotationError(problems) from None


def _image(
    el: Element, where: str, path: Path, file_key: str, root: Path, seen: dict
) -> ImageAnnotation:
    file = str(path)
    img = _validate(ImageEl, el, where, file)
    reason = check_size(img.width, img.height)
    if reason:
        raise AnnotationError([_problem(file, el, where, reason, "PM021")])
    try:
        key = image_key(file_key, img.name)
    except ValueError as exc:
        msg = f"image name {img.name!r} {exc}"
        raise AnnotationError([_problem(file, el, f"{where}/@name", msg, "PM024")]) from None
    if key in seen:
        raise AnnotationError(
            [
                _problem(
                    file,
                    el,
                    f"{where}/@name",
                    f"image {img.name!r} is listed twice (also on line {seen[key]})",
                    "PM025",
                )
            ]
        )
    seen[key] = el.line

    shapes, problems = [], []
    counts: dict[str, int] = {}
    for child in el.children:
        counts[child.tag] = counts.get(child.tag, 0) + 1
        cwhere = f"{where}/{child.tag}[{counts[child.tag]}]"
        if child.tag in REFUSED:
            problems.append(
                _problem(file, child, cwhere, f"<{child.tag}> is not supported", "PM015")
            )
            continue
        model = SHAPE_ELEMENTS.get(child.tag)
        if model is None:
            continue  # <tag> and anything CVAT adds later without geometry
        try:
            raw = _validate(model, child, cwhere, file)
            shapes.extend(_to_shapes(child.tag, raw, cwhere, img, file, child))
        except AnnotationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise AnnotationError(problems)
    image_file = resolve_image(path, img.name, root)
    return ImageAnnotation(
        format="cvat",
        source=file,
        key=key,
        width=img.width,
        height=img.height,
        image_path=str(image_file) if image_file is not None and image_file.is_file() else None,
        shapes=tuple(shapes),
    )


def _to_shapes(tag: str, raw, where: str, img: ImageEl, file: str, el: Element) -> list[Shape]:
    common = dict(label=raw.label, z=float(raw.z_order), group=raw.group_id, where=where)
    if tag in ("polygon", "polyline"):
        kind = "polygon" if tag == "polygon" else "linestrip"
        return [Shape(kind=kind, points=tuple(raw.points), **common)]
    if tag == "points":
        group = raw.group_id if raw.group_id is not None else f"{where}"
        common["group"] = group  # the points of one element are one instance
        return [Shape(kind="point", points=(p,), **common) for p in raw.points]
    if tag == "box":
        return [_box(raw, common)]
    if tag == "ellipse":
        return [
            Shape(
                kind="ellipse",
                points=((raw.cx, raw.cy), (raw.rx, raw.ry)),
                rotation=raw.rotation,
                **common,
            )
        ]
    return [
        Shape(
            kind="mask",
            points=((float(raw.left), float(raw.top)),),
            mask=_decode_rle(raw, img, file, where, el),
            **common,
        )
    ]


def _box(raw: BoxEl, common: dict) -> Shape:
    """An axis-aligned box is a rectangle; CVAT's rotation (degrees, clockwise on screen, about
    the centre) turns it into a polygon of its rotated corners."""
    x0, y0, x1, y1 = (
        min(raw.xtl, raw.xbr),
        min(raw.ytl, raw.ybr),
        max(raw.xtl, raw.xbr),
        max(raw.ytl, raw.ybr),
    )
    if raw.rotation % 360 == 0:
        return Shape(kind="rectangle", points=((x0, y0), (x1, y1)), **common)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    t = math.radians(raw.rotation)
    c, s = math.cos(t), math.sin(t)
    corners = ((x0, y0), (x1, y0), (x1, y1), (x0, y1))
    rotated = tuple(
        (cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in corners
    )
    return Shape(kind="polygon", points=rotated, **common)


def _decode_rle(raw: MaskEl, img: ImageEl, file: str, where: str, el: Element) -> np.ndarray:
    """CVAT's mask RLE: run lengths alternating 0s and 1s (starting with 0s), row by row over the
    ``width`` x ``height`` box at (left, top). Runs must add up to the box exactly."""
    if raw.left + raw.width > img.width or raw.top + raw.height > img.height:
        msg = (
            f"mask box {raw.width}x{raw.height} at ({raw.left}, {raw.top}) does not fit in the "
            f"{img.width}x{img.height} image"
        )
        raise AnnotationError([_problem(file, el, where, msg)])
    try:
        runs = [int(v) for v in raw.rle.replace(" ", "").split(",") if v != ""]
    except ValueError:
        raise AnnotationError(
            [_problem(file, el, f"{where}/@rle", "rle must be integers separated by commas")]
        ) from None
    if any(r < 0 for r in runs):
        raise AnnotationError(
            [_problem(file, el, f"{where}/@rle", "rle has a negative run length")]
        )
    total, expected = sum(runs), raw.width * raw.height
    if total != expected:
        box = f"{raw.width}x{raw.height} = {expected}"
        msg = f"rle decodes to {total} pixels but the mask box is {box}"
        raise AnnotationError([_problem(file, el, f"{where}/@rle", msg, "PM016")])
    values = np.arange(len(runs)) % 2 == 1
    return np.repeat(values, runs).reshape(raw.height, raw.width)
