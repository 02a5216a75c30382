"""Label Studio JSON export: the pydantic schema of its tasks and their canonical model.

An export is a list of tasks (one task object alone is accepted too); each task has ``data``
(the image reference) and ``annotations``, each with a ``result`` list. Coordinates are
percentages of ``original_width`` / ``original_height``. Read: ``polygonlabels``,
``rectanglelabels`` (``rotation`` in degrees, clockwise around the top-left corner),
``ellipselabels`` (centre, radii, rotation) and ``brushlabels`` (Label Studio's own RLE).
Other result types (keypoints, choices, text, ...) are skipped with a warning.

A task gives one image: its first annotation that was not cancelled (others are skipped with a
warning; predictions are not read).
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal, Union
from urllib.parse import unquote, urlsplit

import numpy as np
from pydantic import BaseModel, ConfigDict, Discriminator, Field, RootModel, Tag, ValidationError

from polymask.errors import AnnotationError, Problem
from polymask.formats import lsrle
from polymask.formats.common import JsonReporter, parse_problems, read_text
from polymask.formats.detect import sniff_json
from polymask.formats.options import image_key
from polymask.formats.rle import RleError
from polymask.limits import MAX_SIDE, check_size
from polymask.model import ImageAnnotation, Shape

MAX_PERCENT = 1e6
"""Coordinates beyond +-1e6 % of the image are refused (no tool writes them; drawing would
overflow)."""
Percent = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_PERCENT, le=MAX_PERCENT)]
Degrees = Annotated[float, Field(allow_inf_nan=False, ge=-1e6, le=1e6)]
Labels = Annotated[list[str], Field(min_length=1)]


class _Result(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None = None
    from_name: str | None = None
    to_name: str | None = None
    original_width: Annotated[int, Field(gt=0, le=MAX_SIDE)] | None = None
    original_height: Annotated[int, Field(gt=0, le=MAX_SIDE)] | None = None
    image_rotation: Degrees | None = 0


class PolygonValue(BaseModel):
    model_config = ConfigDict(extra="allow")

    points: Annotated[list[tuple[Percent, Percent]], Field(min_length=3)]
    polygonlabels: Labels


class PolygonResult(_Result):
    type: Literal["polygonlabels"]
    value: PolygonValue


class RectangleValue(BaseModel):
    model_config = ConfigDict(extra="allow")

    x: Percent
    y: Percent
    width: Percent
    height: Percent
    rotation: Degrees = 0.0
    rectanglelabels: Labels


class RectangleResult(_Result):
    type: Literal["rectanglelabels"]
    value: RectangleValue


class EllipseValue(BaseModel):
    model_config = ConfigDict(extra="allow")

    x: Percent
    y: Percent
    radiusX: Annotated[float, Field(allow_inf_nan=False, ge=0, le=MAX_PERCENT)]
    radiusY: Annotated[float, Field(allow_inf_nan=False, ge=0, le=MAX_PERCENT)]
    rotation: Degrees = 0.0
    ellipselabels: Labels


class EllipseResult(_Result):
    type: Literal["ellipselabels"]
    value: EllipseValue


class BrushValue(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: Literal["rle"] = "rle"
    rle: list[Annotated[int, Field(ge=0, le=255)]]
    brushlabels: Labels


class BrushResult(_Result):
    type: Literal["brushlabels"]
    value: BrushValue


class OtherResult(_Result):
    """A result type polymask does not draw (choices, keypoints, text, relations, ...)."""

    type: str | None = None


RESULT_TYPES = {
    "polygonlabels": PolygonResult,
    "rectanglelabels": RectangleResult,
    "ellipselabels": EllipseResult,
    "brushlabels": BrushResult,
}


def _result_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in RESULT_TYPES else "other"


_BRANCHES = {**RESULT_TYPES, "other": OtherResult}
Result = Annotated[
    Union[tuple(Annotated[cls, Tag(tag)] for tag, cls in _BRANCHES.items())],  # noqa: UP007
    Discriminator(_result_tag),
]
_TAGS = frozenset({*RESULT_TYPES, "other"})


class LSAnnotation(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int | str | None = None
    result: list[Result] = []
    was_cancelled: bool = False


class Task(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int | str | None = None
    data: dict[str, Any]
    annotations: list[LSAnnotation] = []


def _root_tag(value: Any) -> str | None:
    if isinstance(value, (list, Task)):
        return "task-list" if isinstance(value, list) else "one-task"
    return "one-task" if isinstance(value, dict) else None


class LabelStudioExport(RootModel):
    """A Label Studio JSON export: a list of tasks (or a single task object)."""

    model_config = ConfigDict(title="Label Studio JSON export")

    root: Annotated[
        Union[Annotated[list[Task], Tag("task-list")], Annotated[Task, Tag("one-task")]],  # noqa: UP007
        Discriminator(
            _root_tag,
            custom_error_type="export_type",
            custom_error_message="a Label Studio export is a list of tasks or one task object",
        ),
    ]


_HIDDEN_TAGS = frozenset({"task-list", "one-task"})


def looks_like(head: str) -> bool:
    """Whether the start of a file reads as a Label Studio export (for format detection)."""
    return sniff_json(head) == "label-studio"


def parse(text: str, file: str, strict: bool = False) -> list[Task]:
    try:
        root = LabelStudioExport.model_validate_json(text, strict=strict).root
    except ValidationError as exc:
        raise AnnotationError(parse_problems(text, file, exc, _TAGS, hidden=_HIDDEN_TAGS)) from None
    return root if isinstance(root, list) else [root]


def load(path: Path, key: str, root: Path, strict: bool = False) -> list[ImageAnnotation]:
    """One :class:`ImageAnnotation` per task that has an annotation with a known image size."""
    file = str(path)
    text = read_text(path)
    single = text.lstrip("\ufeff \t\r\n").startswith("{")
    tasks = parse(text, file, strict)
    report = JsonReporter(text, file, unwrap=single)
    add, problems = report.add, report.problems
    out: list[ImageAnnotation] = []
    keys: dict[str, int] = {}
    for t, task in enumerate(tasks):
        warnings: list[Problem] = []
        name, field = _image_name(task, t)
        try:
            k = image_key(key, name)
        except ValueError as exc:
            add((t, "data", field), f"image {name!r} {exc}", "PM042")
            continue
        if k in keys:
            add(
                (t, "data", field),
                f"image gives the output name {k!r}, as task [{keys[k]}] does",
                "PM043",
            )
            continue
        keys[k] = t
        live = [a for a, ann in enumerate(task.annotations) if not ann.was_cancelled]
        if not live:
            add((t,), "task has no annotation that was not cancelled: no mask", "PM060", "warning")
            continue
        a = live[0]
        for other in live[1:]:
            add(
                (t, "annotations", other),
                f"only annotations[{a}] of a task is used; this one is skipped",
                "PM061",
                "warning",
                warnings,
            )
        results = task.annotations[a].result
        n = len(problems)
        size = _size(results, (t, "annotations", a, "result"), add)
        if len(problems) > n:
            continue
        if size is None:
            add(
                (t, "annotations", a),
                "no result states original_width/original_height: "
                "the image size is unknown, no mask",
                "PM062",
                "warning",
            )
            continue
        width, height = size
        shapes = []
        for r, res in enumerate(results):
            loc = (t, "annotations", a, "result", r)
            where = report.path(loc)
            if isinstance(res, OtherResult):
                add(
                    loc,
                    f"result type {res.type!r} is not drawn: skipped",
                    "PM063",
                    "warning",
                    warnings,
                )
                continue
            if res.image_rotation:
                add(
                    (*loc, "image_rotation"),
                    "image_rotation is ignored: coordinates are read as on the unrotated image",
                    "PM064",
                    "warning",
                    warnings,
                )
            labels = getattr(res.value, res.type)
            if len(labels) > 1:
                add(
                    (*loc, "value", res.type),
                    f"several labels {labels}: only {labels[0]!r} is used",
                    "PM065",
                    "warning",
                    warnings,
                )
            try:
                shapes.append(_shape(res, labels[0], width, height, where))
            except RleError as exc:
                add((*loc, "value", "rle"), f"bad brush RLE: {exc}", "PM049")
        out.append(
            ImageAnnotation(
                format="label-studio",
                source=file,
                key=k,
                width=width,
                height=height,
                shapes=tuple(shapes),
                warnings=tuple(warnings),
            )
        )
    if report.errors:
        raise AnnotationError(problems)
    if problems and out:  # task-level warnings ride on the first image of the file
        out[0] = out[0].model_copy(update={"warnings": (*problems, *out[0].warnings)})
    elif problems:
        raise AnnotationError(
            [*problems, Problem(file, "no task gives an image with a known size", code="PM066")]
        )
    return out


def _image_name(task: Task, index: int) -> tuple[str, str]:
    """The image's name (URL path or upload path, unquoted) and the ``data`` field it came from.

    ``data.image`` is the usual field; otherwise the first string field; else ``task-<id>``.
    """
    field = (
        "image"
        if isinstance(task.data.get("image"), str)
        else next((k for k, v in task.data.items() if isinstance(v, str)), None)
    )
    if field is None:
        return f"task-{task.id if task.id is not None else index}", "data"
    ref = task.data[field]
    try:
        name = PurePosixPath(unquote(urlsplit(ref).path)).name
    except ValueError:  # not a URL (an unbalanced "[" reads as a broken IPv6 host)
        name = PurePosixPath(ref).name
    return name or f"task-{task.id if task.id is not None else index}", field


def _size(results: list, loc: tuple, add) -> tuple[int, int] | None:
    """The image size all results agree on; disagreement is an error."""
    size = None
    for r, res in enumerate(results):
        w, h = res.original_width, res.original_height
        if w is None or h is None:
            continue
        reason = check_size(w, h)
        if reason:
            add((*loc, r, "original_width"), reason, "PM021")
            return None
        if size is None:
            size = (w, h)
        elif size != (w, h):
            add(
                (*loc, r, "original_width"),
                f"image size {w}x{h} differs from {size[0]}x{size[1]} in an earlier result",
                "PM067",
            )
            return None
    return size


def _shape(res, label: str, width: int, height: int, where: str) -> Shape:
    v = res.value

    def sx(x: float) -> float:  # percent to pixels; x * W / 100 round-trips best
        return x * width / 100

    def sy(y: float) -> float:
        return y * height / 100

    if res.type == "polygonlabels":
        points = tuple((sx(x), sy(y)) for x, y in v.points)
        return Shape(label=label, kind="polygon", points=points, group=res.id, where=where)
    if res.type == "rectanglelabels":
        x, y, w, h = sx(v.x), sy(v.y), sx(v.width), sy(v.height)
        if not v.rotation:
            return Shape(
                label=label,
                kind="rectangle",
                points=((x, y), (x + w, y + h)),
                group=res.id,
                where=where,
            )
        t = math.radians(v.rotation)
        c, s = math.cos(t), math.sin(t)
        corners = tuple(
            (x + dx * c - dy * s, y + dx * s + dy * c)
            for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))
        )
        return Shape(label=label, kind="polygon", points=corners, group=res.id, where=where)
    if res.type == "ellipselabels":
        return Shape(
            label=label,
            kind="ellipse",
            points=((sx(v.x), sy(v.y)), (sx(v.radiusX), sy(v.radiusY))),
            rotation=v.rotation,
            group=res.id,
            where=where,
        )
    mask = lsrle.decode(v.rle, height, width)
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size:
        patch, corner = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], (cols[0], rows[0])
    else:
        patch, corner = np.zeros((0, 0), dtype=bool), (0, 0)
    return Shape(
        label=label,
        kind="mask",
        points=((float(corner[0]), float(corner[1])),),
        mask=patch,
        group=res.id,
        where=where,
    )
