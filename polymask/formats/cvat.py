"""CVAT for images 1.1 and CVAT for video 1.1 XML: a safe XML reader, pydantic models of its
shapes, canonical shapes for each image or video frame.

Shapes are ``<polygon>``, ``<polyline>`` and ``<points>`` with ``points="x,y;x,y"``, ``<box xtl
ytl xbr ybr rotation>``, ``<ellipse cx cy rx ry rotation>`` and ``<mask rle left top width
height>``, each with a ``z_order``. ``<tag>`` (a label for the whole image, no pixels) is
skipped; cuboids and skeletons are refused, as they have no area in an image mask.

Images: each ``<image name width height>`` of a CVAT for images file is one image, holding
shapes with a ``label`` and an optional ``group_id``. Its output name is its ``name`` without
extension. A project export marks each image with its ``subset`` (Train, Test, ...), and two
subsets may hold images of the same name: when the images of a file span more than one subset,
the output name is ``<subset>/<name>``; a task export, or a project of one subset, keeps the
plain name. Two images of one file with the same output name are an error of the second.

Tracks: a ``<track id label>`` is one object over the frames of a video, its shapes each with a
``frame`` and ``outside``. CVAT for video files hold tracks and no ``<image>``; in a file with
``<image>`` elements a track's frame is the image whose ``id`` is that frame (and whose
``task_id`` is the track's, in a project export). CVAT writes a shape for every frame the object
is in (those between keyframes interpolated) and a shape with ``outside="1"`` on the frame where
it leaves, then nothing until it comes back. So a frame takes the shape its track gives for it;
a frame the track gives none for takes the last shape before it, unless that one is outside, as
an object stays in CVAT until it is marked outside (held, not interpolated again); frames
before the first shape have nothing. An outside shape draws nothing, and its geometry is not
read; ``keyframe`` and ``occluded`` do not change a mask; a frame given twice in one track is an
error. A track's shapes are one instance, grouped as ``track <id>``.

Video frames are named ``frame_000000`` (the frame number in six digits; ``<subset>/`` before
it as above, the subset being the track's or its task's) and are the size ``<original_size>``
in ``<meta>`` gives (else ``--image-size``). Every frame gets a mask, empty ones too: the frames
are the first range that holds every frame a track names, of ``<start_frame>`` to
``<stop_frame>`` of the task or job, 0 to ``<size>`` - 1, and the first to the last frame
named; a task or job of ``<mode>interpolation</mode>`` has its frames with no track at all. In
a project export each task (a track's ``task_id``) is its own video, with the size and range of
its ``<task>`` in the project's ``<meta>``.

With ``problems`` (see :mod:`polymask.formats`), an error of one image or frame (a bad
``<image>`` element, a bad shape in it, a bad track shape that covers the frame) goes on its
``errors``: an image whose name gives no output name of its own is returned as
``<file key>/image[<n>]``, at size 0x0 when its size is not valid. Errors of no image (an
unsupported top-level element, a video without a frame size, track frames that no image has)
are appended to ``problems``.

The XML is read with expat and no document type: a file with a DTD is refused, which rules out
entity expansion ("billion laughs") and external entities whatever the expat version.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
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
"""Elements kept: <annotations>, <image> or <track>, and the shapes in it; deeper ones are
only counted, so memory follows the number of shapes however deep a file nests."""
META_DEPTH = 7
"""Inside <meta>, elements are kept down to <meta>/<project>/<tasks>/<task>/<original_size>/
<width>, with their text: the frame sizes and frame ranges of video tasks."""
MAX_META = 100_000
"""Elements of <meta> kept at most (a project's labels and tasks are far fewer)."""
MAX_TEXT = 256
"""Characters of an element's text kept: the numbers read from <meta> are short."""
MAX_FRAMES = 1 << 18
"""Frames of one video read at most (nearly three hours at 25 frames a second)."""


@dataclass
class Element:
    """An XML element with the line it starts on (for error messages)."""

    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)
    text: str = ""
    """The text inside it, kept only inside <meta>."""


class _Refused(Exception):
    pass


def parse_xml(data: bytes, file: str) -> Element:
    """The top of the element tree of ``data`` (down to ``KEEP_DEPTH``, and to ``META_DEPTH``
    inside <meta>); any DTD, entity declaration or malformed XML is an error."""
    parser = expat.ParserCreate()
    stack: list[Element | None] = []
    roots: list[Element] = []
    count = meta = 0

    def start(tag, attrs):
        nonlocal count, meta
        count += 1
        if count > MAX_ELEMENTS:
            raise _Refused(f"more than {MAX_ELEMENTS} elements")
        depth = len(stack)
        in_meta = depth >= KEEP_DEPTH and stack[-1] is not None and stack[1].tag == "meta"
        if depth >= KEEP_DEPTH and not (in_meta and depth < META_DEPTH and meta < MAX_META):
            stack.append(None)  # <attribute> and deeper: nothing there is read
            return
        meta += in_meta
        el = Element(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(el)
        stack.append(el)
        if depth == 1 and tag == "meta":  # text is read there only: no call for every space
            parser.CharacterDataHandler = text

    def end(tag):
        stack.pop()
        if len(stack) == 1:
            parser.CharacterDataHandler = None

    def text(data):
        el = stack[-1]
        if el is not None and len(el.text) < MAX_TEXT:
            el.text += data

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


class TrackEl(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int | None = None
    label: str = Field(min_length=1)


class TrackedEl(BaseModel):
    """When a shape of a track is: its frame, and whether the object has left the view."""

    model_config = ConfigDict(extra="allow")

    frame: int = Field(ge=0, le=10**9)
    outside: bool = False


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
REFUSED = {"cuboid", "skeleton"}


def looks_like(head: str) -> bool:
    """Whether the start of a file reads as CVAT XML (for format detection)."""
    text = head.lstrip("\ufeff \t\r\n")
    return text.startswith("<") and "<annotations" in head


@dataclass
class _Frame:
    """One image or video frame being read: what becomes one :class:`ImageAnnotation`."""

    key: str
    width: int
    height: int
    image_name: str | None = None
    shapes: list[Shape] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)


Frames = dict[str | None, dict[int, _Frame]]
"""Images and video frames by task (a ``task_id``, None outside project exports) and frame."""


def load(
    path: Path,
    key: str,
    root: Path,
    strict: bool = False,
    options: FormatOptions | None = None,
    problems: list[Problem] | None = None,
) -> list[ImageAnnotation]:
    """Read a CVAT XML file into one :class:`ImageAnnotation` per ``<image>``, or per video
    frame when it holds only tracks (see the module docstring for both, and for ``problems``).

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
        msg = f"root element is <{top.tag}>, a CVAT file has <annotations>"
        raise AnnotationError([Problem(file, msg, f"/{top.tag}", line=top.line, code="PM011")])
    loose: list[Problem] = []  # errors of no image
    images, tracks = [], []
    for el, where in _numbered(top.children, "/annotations"):
        if el.tag == "image":
            images.append((el, where))
        elif el.tag == "track":
            tracks.append(_read_track(el, where, file))
        elif el.tag in REFUSED:
            msg = f"<{el.tag}> is not supported (it has no area in an image mask)"
            loose.append(_problem(file, el, where, msg, "PM015"))
    if images:
        frames, by_frame = _image_frames(images, file, key, loose)
    else:
        frames, by_frame = _video_frames(tracks, top, options or FormatOptions(), file, key, loose)
    for track in tracks:
        _add_track(track, by_frame, bool(images), file, loose)
    if problems is None:
        found = [*loose, *(p for frame in frames for p in frame.errors)]
        if found:  # in file order, once each: a track's error rides on every frame it covers
            raise AnnotationError(sorted(dict.fromkeys(found), key=lambda p: p.line or 0))
    else:
        problems.extend(loose)
    return [_annotation(frame, path, root) for frame in frames]


def _numbered(elements: Iterable[Element], parent: str):
    """(element, its XPath) for each element, numbered per tag from 1 as XPath does."""
    counts: dict[str, int] = {}
    for el in elements:
        counts[el.tag] = counts.get(el.tag, 0) + 1
        yield el, f"{parent}/{el.tag}[{counts[el.tag]}]"


def _problem(file: str, el: Element, where: str, msg: str, code: str = "PM012") -> Problem:
    return Problem(file, msg, where, code=code, line=el.line)


def _validate(
    model: type[BaseModel], el: Element, where: str, file: str, extra: dict | None = None
):
    """The element's attributes (and ``extra`` values) as ``model``; its errors name the
    attribute (``image[1]/box[2]/@xtl``)."""
    try:
        return model.model_validate({**el.attrs, **extra} if extra else el.attrs)
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


def _annotation(frame: _Frame, path: Path, root: Path) -> ImageAnnotation:
    image_file = resolve_image(path, frame.image_name, root) if frame.image_name else None
    return ImageAnnotation(
        format="cvat",
        source=str(path),
        key=frame.key,
        width=frame.width,
        height=frame.height,
        image_path=str(image_file) if image_file is not None and image_file.is_file() else None,
        shapes=tuple(frame.shapes),
        errors=tuple(frame.errors),
    )


def _image_frames(
    images: list[tuple[Element, str]], file: str, file_key: str, loose: list[Problem]
) -> tuple[list[_Frame], Frames]:
    """The images of a CVAT for images file, and the same by task and ``id`` for tracks."""
    split = len({el.attrs.get("subset") for el, _ in images}) > 1
    seen: dict[str, str] = {}
    frames: list[_Frame] = []
    by_frame: Frames = {}
    for n, (el, where) in enumerate(images, 1):
        frame = _image(el, where, file, file_key, split, seen)
        frame.key = frame.key or f"{file_key}/image[{n}]"
        frames.append(frame)
        number = _number(el.attrs.get("id"))
        if number is not None:
            by_frame.setdefault(el.attrs.get("task_id"), {}).setdefault(number, frame)
    return frames, by_frame


def _image(
    el: Element, where: str, file: str, file_key: str, split: bool, seen: dict[str, str]
) -> _Frame:
    """One ``<image>`` and its shapes, without a key when its name gives it no output name of
    its own. ``seen``: the output names taken so far, and by which image."""
    frame = _Frame("", 0, 0)
    try:
        img = _validate(ImageEl, el, where, file)
    except AnnotationError as exc:
        frame.errors.extend(exc.problems)
        return frame
    reason = check_size(img.width, img.height)
    if reason:
        frame.errors.append(_problem(file, el, where, reason, "PM021"))
        return frame
    frame.width, frame.height, frame.image_name = img.width, img.height, img.name
    subset = el.attrs.get("subset") if split else None
    name = f"{subset}/{img.name}" if subset else img.name
    try:
        key = image_key(file_key, name)
    except ValueError as exc:
        msg = f"image name {name!r} {exc}"
        frame.errors.append(_problem(file, el, f"{where}/@name", msg, "PM024"))
        return frame
    if key in seen:
        msg = f"image {name!r} has the output name {key!r} of {seen[key]}"
        frame.errors.append(_problem(file, el, f"{where}/@name", msg, "PM025"))
        return frame
    seen[key] = f"{where} (line {el.line})"
    frame.key = key
    for child, cwhere in _numbered(el.children, where):
        if child.tag in REFUSED:
            msg = f"<{child.tag}> is not supported"
            frame.errors.append(_problem(file, child, cwhere, msg, "PM015"))
            continue
        model = SHAPE_ELEMENTS.get(child.tag)
        if model is None:
            continue  # <tag> and anything CVAT adds later without geometry
        try:
            raw = _validate(model, child, cwhere, file)
            common = dict(label=raw.label, z=float(raw.z_order), group=raw.group_id, where=cwhere)
            frame.shapes.extend(_to_shapes(child.tag, raw, common, frame, file, child))
        except AnnotationError as exc:
            frame.errors.extend(exc.problems)
    return frame


def _number(text: str | None) -> int | None:
    """A frame number, size or count written as XML text; None when it is not one."""
    try:
        value = int(text.strip()) if text is not None else -1
    except ValueError:
        return None
    return value if value >= 0 else None


@dataclass
class _Tracked:
    """One shape element of a track, and the errors that belong to the frames it covers."""

    el: Element
    where: str
    frame: int
    outside: bool
    errors: list[Problem]


@dataclass
class _Track:
    where: str
    line: int
    head: TrackEl | None
    task: str | None
    subset: str | None
    shapes: list[_Tracked]
    errors: list[Problem]
    """Errors of the whole track (its label, a shape with no valid frame)."""


def _read_track(el: Element, where: str, file: str) -> _Track:
    """A track's own attributes and when each of its shapes is; geometry is read later,
    once the size of the frames is known."""
    track = _Track(where, el.line, None, el.attrs.get("task_id"), el.attrs.get("subset"), [], [])
    try:
        track.head = _validate(TrackEl, el, where, file)
    except AnnotationError as exc:
        track.errors.extend(exc.problems)
    for child, cwhere in _numbered(el.children, where):
        if child.tag not in SHAPE_ELEMENTS and child.tag not in REFUSED:
            continue
        errors = []
        if child.tag in REFUSED:
            errors.append(_problem(file, child, cwhere, f"<{child.tag}> is not supported", "PM015"))
        try:
            when = _validate(TrackedEl, child, cwhere, file)
        except AnnotationError as exc:
            track.errors.extend([*exc.problems, *errors])
            continue
        track.shapes.append(_Tracked(child, cwhere, when.frame, when.outside, errors))
    return track


@dataclass(frozen=True)
class _VideoMeta:
    """What the <meta> of a task or job says about its frames."""

    size: tuple[int, int] | None = None
    frames: int | None = None
    start: int | None = None
    stop: int | None = None
    subset: str | None = None
    video: bool = False
    """Its mode is ``interpolation``: a video, whose frames get masks even with no track."""


def _child(el: Element, tag: str) -> Element | None:
    return next((c for c in el.children if c.tag == tag), None)


def _text(el: Element, tag: str) -> str | None:
    child = _child(el, tag)
    return child.text.strip() if child is not None else None


def _original_size(el: Element) -> tuple[int, int] | None:
    size = _child(el, "original_size")
    if size is None:
        return None
    width, height = _number(_text(size, "width")), _number(_text(size, "height"))
    return (width, height) if width is not None and height is not None else None


def _video_metas(top: Element) -> dict[str | None, _VideoMeta]:
    """The <meta> of each task by its id: a task or job export's under None (CVAT 2 writes a
    job's <original_size> beside the <job>), a project export's under each task's id."""
    meta = _child(top, "meta")
    if meta is None:
        return {}
    beside = _original_size(meta)
    tasks = [(None, el) for el in meta.children if el.tag in ("task", "job")]
    for project in (el for el in meta.children if el.tag == "project"):
        for group in (el for el in project.children if el.tag == "tasks"):
            tasks += [(_text(t, "id"), t) for t in group.children if t.tag == "task"]
    out = {
        task_id: _VideoMeta(
            _original_size(el) or beside,
            _number(_text(el, "size")),
            _number(_text(el, "start_frame")),
            _number(_text(el, "stop_frame")),
            _text(el, "subset"),
            _text(el, "mode") == "interpolation",
        )
        for task_id, el in tasks
    }
    if None not in out and beside is not None:
        out[None] = _VideoMeta(beside)
    return out


def _span(meta: _VideoMeta, named: list[int]) -> tuple[int, int] | None:
    """The first and last frame of a video: the first range of the module docstring's that
    holds every frame named; None for a video with no frame named and no range in <meta>."""
    ranges = []
    if meta.start is not None and meta.stop is not None and meta.start <= meta.stop:
        ranges.append((meta.start, meta.stop))
    if meta.frames:
        ranges.append((0, meta.frames - 1))
    if named:
        ranges.append((min(named), max(named)))
    return next((r for r in ranges if not named or r[0] <= min(named) and max(named) <= r[1]), None)


def _video_frames(
    tracks: list[_Track],
    top: Element,
    options: FormatOptions,
    file: str,
    file_key: str,
    loose: list[Problem],
) -> tuple[list[_Frame], Frames]:
    """The frames of a CVAT for video file: every frame of each task's video."""
    metas = _video_metas(top)
    named = {task: [] for task, meta in metas.items() if meta.video}
    subsets = {task: meta.subset for task, meta in metas.items()}
    for track in tracks:
        named.setdefault(track.task, []).extend(s.frame for s in track.shapes)
        subsets[track.task] = track.subset or subsets.get(track.task)
    split = len({subsets.get(task) for task in named}) > 1
    meta = _child(top, "meta") or top
    place, line = ("/annotations/meta" if meta is not top else "/annotations"), meta.line
    frames: list[_Frame] = []
    by_frame: Frames = {}
    seen: set[str] = set()
    for task, numbers in named.items():
        video = "the video" if task is None else f"the video of task {task}"
        said = metas.get(task) or metas.get(None) or _VideoMeta()
        size = said.size or options.image_size
        span = _span(said, numbers)
        reason = _unfit(size, span)
        subset = subsets.get(task) if split else None
        for number in range(span[0], span[1] + 1) if span is not None and not reason else ():
            name = f"frame_{number:06d}"
            try:
                key = image_key(file_key, f"{subset}/{name}" if subset else name)
            except ValueError as exc:
                reason = f"subset {subset!r} {exc}"
                break
            if key in seen:
                reason = f"its frames have the output names of another task's ({key!r})"
                break
            seen.add(key)
            frame = _Frame(key, *size)
            frames.append(frame)
            by_frame.setdefault(task, {})[number] = frame
        if reason:
            msg = f"{video}: {reason}"
            loose.append(Problem(file, msg, place, code="PM021", line=line))
    return frames, by_frame


def _unfit(size: tuple[int, int] | None, span: tuple[int, int] | None) -> str | None:
    """Why the frames of a video cannot be made, or None."""
    if size is None:
        return "no <original_size> in <meta> gives its frame size; give --image-size"
    if span is not None and span[1] - span[0] >= MAX_FRAMES:
        return f"frames {span[0]} to {span[1]} are over {MAX_FRAMES} frames"
    return check_size(*size)


def _add_track(
    track: _Track, by_frame: Frames, images: bool, file: str, loose: list[Problem]
) -> None:
    """Draw a track's shapes on the frames they cover, and put its errors on those frames.

    ``images``: the frames are the ``<image>`` elements of the file, so a frame the track names
    may be missing (an error of no image). In a video every frame named is there, unless the
    frames of its task could not be made (an error given already).
    """
    frames = by_frame.get(track.task, {})
    numbers = sorted(frames)
    timeline: list[_Tracked] = []
    for shape in sorted(track.shapes, key=lambda s: s.frame):
        if timeline and timeline[-1].frame == shape.frame:
            msg = f"frame {shape.frame} is given twice in this track (also at {timeline[-1].where})"
            # which of the two is meant is not known: the frames the first covers are wrong
            timeline[-1].errors.append(
                _problem(file, shape.el, f"{shape.where}/@frame", msg, "PM025")
            )
        else:
            timeline.append(shape)
    missing = sorted({s.frame for s in timeline} - frames.keys())
    if images and missing:
        shown = ", ".join(map(str, missing[:5])) + (", ..." if len(missing) > 5 else "")
        msg = f"no <image> has the id of frame {shown} of this track"
        loose.append(Problem(file, msg, track.where, code="PM044", line=track.line))
    ends = [s.frame for s in timeline[1:]] + [math.inf]
    group = f"track {track.head.id}" if track.head and track.head.id is not None else track.where
    spanned: list[_Frame] = []
    for shape, end in zip(timeline, ends, strict=True):
        if shape.outside:  # covers no frame, but an error of it is an error of its frame
            covered = [frames[shape.frame]] if shape.frame in frames else []
        else:
            first, last = bisect.bisect_left(numbers, shape.frame), bisect.bisect_left(numbers, end)
            covered = [frames[n] for n in numbers[first:last]]
        spanned += covered
        if not shape.outside and track.head is not None and not shape.errors and covered:
            _draw(track.head, shape, group, covered, frames.get(shape.frame, covered[0]), file)
        _attach(shape.errors, covered, loose)
    _attach(track.errors, spanned, loose)


def _draw(
    head: TrackEl, shape: _Tracked, group: str, covered: list[_Frame], frame: _Frame, file: str
) -> None:
    """Put one track shape on every frame it covers (``frame``: the one it is given for), or
    its geometry errors on it."""
    label = {"label": head.label}
    try:
        raw = _validate(SHAPE_ELEMENTS[shape.el.tag], shape.el, shape.where, file, label)
        common = dict(label=raw.label, z=float(raw.z_order), group=group, where=shape.where)
        made = _to_shapes(shape.el.tag, raw, common, frame, file, shape.el)
    except AnnotationError as exc:
        shape.errors.extend(exc.problems)
        return
    for covered_frame in covered:
        covered_frame.shapes.extend(made)


def _attach(errors: list[Problem], frames: list[_Frame], loose: list[Problem]) -> None:
    """Errors of a track go on every frame they make wrong, or are errors of no image."""
    if errors and not frames:
        loose.extend(errors)
    for frame in frames:
        frame.errors.extend(errors)


def _to_shapes(tag: str, raw, common: dict, frame: _Frame, file: str, el: Element) -> list[Shape]:
    if tag in ("polygon", "polyline"):
        kind = "polygon" if tag == "polygon" else "linestrip"
        return [Shape(kind=kind, points=tuple(raw.points), **common)]
    if tag == "points":
        if common["group"] is None:
            common["group"] = common["where"]  # the points of one element are one instance
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
            mask=_decode_rle(raw, frame, file, common["where"], el),
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


def _decode_rle(raw: MaskEl, frame: _Frame, file: str, where: str, el: Element) -> np.ndarray:
    """CVAT's mask RLE: run lengths alternating 0s and 1s (starting with 0s), row by row over the
    ``width`` x ``height`` box at (left, top). Runs must add up to the box exactly."""
    if raw.left + raw.width > frame.width or raw.top + raw.height > frame.height:
        msg = (
            f"mask box {raw.width}x{raw.height} at ({raw.left}, {raw.top}) does not fit in the "
            f"{frame.width}x{frame.height} image"
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
