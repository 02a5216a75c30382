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
from typing import Annotated, Any, Literal, NamedTuple, Union
from urllib.parse import unquote, urlsplit

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    TypeAdapter,
    ValidationError,
)

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


def parse(text: str, file: str, strict: bool = False, partial: bool = False) -> _Parsed:
    """The tasks of an export, and the validation errors of the tasks that failed, by index.

    Without ``partial`` any error raises :class:`AnnotationError`. With it, a task that fails
    validation is kept as its raw JSON value, its errors under its index; only errors outside
    every task (the text is not JSON, its root is neither a list nor an object) still raise.
    """
    try:
        root = LabelStudioExport.model_validate_json(text, strict=strict).root
        return _Parsed(root if isinstance(root, list) else [root], {})
    except ValidationError as exc:
        problems = parse_problems(text, file, exc, _TAGS, hidden=_HIDDEN_TAGS)
        # parse_problems gives one problem per pydantic error, in the same order
        failed: dict[int, list[Problem]] = {}
        for err, problem in zip(exc.errors(include_url=False), problems, strict=True):
            t = _task_index(tuple(err["loc"]))
            if not partial or t is None:
                raise AnnotationError(problems) from None
            failed.setdefault(t, []).append(problem)
    root = _TOLERANT.validate_json(text, strict=strict)
    return _Parsed(root if isinstance(root, list) else [root], failed)


class _Parsed(NamedTuple):
    tasks: list[Task | Any]
    """Each task, or the raw JSON value of one that failed validation."""
    failed: dict[int, list[Problem]]


def _task_index(loc: tuple) -> int | None:
    """The task a pydantic error lies in, or None for an error of the file as a whole."""
    if loc[:1] == ("one-task",):
        return 0
    if loc[:1] == ("task-list",) and len(loc) > 1 and isinstance(loc[1], int):
        return loc[1]
    return None


_MaybeTask = Annotated[Union[Task, Any], Field(union_mode="left_to_right")]  # noqa: UP007
_TOLERANT = TypeAdapter(
    Annotated[Union[list[_MaybeTask], _MaybeTask], Field(union_mode="left_to_right")]  # noqa: UP007
)
"""An export read task by task: a task that fails validation is kept as its raw JSON value."""


def load(
    path: Path, key: str, root: Path, strict: bool = False, problems: list[Problem] | None = None
) -> list[ImageAnnotation]:
    """One :class:`ImageAnnotation` per task that has an annotation with a known image size.

    With ``problems`` (a list), a task with an error (malformed, a bad brush RLE, an invalid
    image size, an image name that cannot be an output name or that an earlier task of the
    file gives) is still returned, the error on its ``errors``: under the output name
    ``<file key>[<task index>]`` when it has no name of its own, at size 0x0 when its size is
    not known. A task that is not even an object, and a file whose tasks give no image, are
    errors of no image, appended to ``problems``.
    """
    file = str(path)
    text = read_text(path)
    single = text.lstrip("\ufeff \t\r\n").startswith("{")
    partial = problems is not None
    tasks, failed = parse(text, file, strict, partial)
    report = JsonReporter(text, file, unwrap=single)
    out: list[ImageAnnotation] = []
    keys: dict[str, int] = {}
    for t, task in enumerate(tasks):
        errors = failed.get(t, [])
        if not isinstance(task, (Task, dict)):
            problems.extend(errors)  # only a task that failed validation can be anything else
            continue
        image = _task_image(task, t, key, keys, report, errors)
        if errors and not partial:
            report.problems.extend(errors)
        elif image is not None:
            out.append(image)
    if report.errors:
        raise AnnotationError(report.problems)
    if report.problems and out:  # task-level warnings ride on the first image of the file
        out[0] = out[0].model_copy(update={"warnings": (*report.problems, *out[0].warnings)})
    elif report.problems:
        nothing = Problem(file, "no task gives an image with a known size", code="PM066")
        if not partial:
            raise AnnotationError([*report.problems, nothing])
        problems.extend([*report.problems, nothing])
    return out


def _task_image(
    task: Task | dict,
    t: int,
    key: str,
    keys: dict[str, int],
    report: JsonReporter,
    errors: list[Problem],
) -> ImageAnnotation | None:
    """The image of task ``t``, its errors appended to ``errors`` (which holds its validation
    errors when it failed validation, then it is a raw ``dict``); None for a task skipped with
    a warning (in ``report``). ``keys``: the output names taken so far, and by which task."""
    if isinstance(task, Task):
        name, field = _image_name(task.data, task.id, t)
    else:
        name, field = _image_name(task.get("data"), task.get("id"), t)
    where = (t, "data", field) if field else (t, "data")
    k = None
    try:
        k = image_key(key, name)
    except ValueError as exc:
        report.add(where, f"image {name!r} {exc}", "PM042", into=errors)
    if k in keys:
        msg = f"image gives the output name {k!r}, as task [{keys[k]}] does"
        report.add(where, msg, "PM043", into=errors)
        k = None
    elif k is not None:
        keys[k] = t
    warnings: list[Problem] = []
    size, shapes = (0, 0), []
    if isinstance(task, Task) and not errors:
        found = _task_shapes(task, t, report, errors, warnings)
        if found is None:
            return None
        size, shapes = found
    return ImageAnnotation(
        format="label-studio",
        source=report.file,
        key=f"{key}[{t}]" if k is None else k,
        width=size[0],
        height=size[1],
        shapes=tuple(shapes),
        warnings=tuple(warnings),
        errors=tuple(errors),
    )


def _task_shapes(
    task: Task, t: int, report: JsonReporter, errors: list[Problem], warnings: list[Problem]
) -> tuple[tuple[int, int], list[Shape]] | None:
    """The image size and shapes of a task's first live annotation, with its errors and
    warnings; None when the task gives no image (no live annotation, no size), with a warning
    in ``report``. An invalid size is an error with size 0x0 and no shapes."""
    add = report.add
    live = [a for a, ann in enumerate(task.annotations) if not ann.was_cancelled]
    if not live:
        add((t,), "task has no annotation that was not cancelled: no mask", "PM060", "warning")
        return None
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
    size = _size(results, (t, "annotations", a, "result"), report, errors)
    if errors:
        return (0, 0), []
    if size is None:
        add(
            (t, "annotations", a),
            "no result states original_width/original_height: the image size is unknown, no mask",
            "PM062",
            "warning",
        )
        return None
    width, height = size
    shapes = []
    for r, res in enumerate(results):
        loc = (t, "annotations", a, "result", r)
        if isinstance(res, OtherResult):
            add(
                loc, f"result type {res.type!r} is not drawn: skipped", "PM063", "warning", warnings
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
            shapes.append(_shape(res, labels[0], width, height, report.path(loc)))
        except RleError as exc:
            add((*loc, "value", "rle"), f"bad brush RLE: {exc}", "PM049", into=errors)
    return size, shapes


def _image_name(data: Any, task_id: Any, index: int) -> tuple[str, str | None]:
    """The image's name (URL path or upload path, unquoted) and the ``data`` field it came from.

    ``data.image`` is the usual field; otherwise the first string field; else ``task-<id>``
    (``task-<index>`` without an id), from no field.
    """
    fallback = f"task-{task_id if isinstance(task_id, (int, str)) else index}"
    if not isinstance(data, dict):
        return fallback, None
    field = (
        "image"
        if isinstance(data.get("image"), str)
        else next((k for k, v in data.items() if isinstance(v, str)), None)
    )
    if field is None:
        return fallback, None
    ref = data[field]
    try:
        name = PurePosixPath(unquote(urlsplit(ref).path)).name
    except ValueError:  # not a URL (an unbalanced "[" reads as a broken IPv6 host)
        name = PurePosixPath(ref).name
    return name or fallback, field


def _size(
    results: list, loc: tuple, report: JsonReporter, errors: list[Problem]
) -> tuple[int, int] | None:
    """The image size all results agree on; disagreement, or a size over the limits, is an
    error appended to ``errors`` (then None)."""
    size = None
    for r, res in enumerate(results):
        w, h = res.original_width, res.original_height
        if w is None or h is None:
            continue
        reason = check_size(w, h)
        if reason:
            report.add((*loc, r, "original_width"), reason, "PM021", into=errors)
            return None
        if size is None:
            size = (w, h)
        elif size != (w, h):
            msg = f"image size {w}x{h} differs from {size[0]}x{size[1]} in an earlier result"
            report.add((*loc, r, "original_width"), msg, "PM067", into=errors)
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
