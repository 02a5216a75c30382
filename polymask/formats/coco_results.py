"""COCO results files: what detection and instance-segmentation models write.

A results file is a JSON list of detections, ``[{"image_id", "category_id", "segmentation",
"score"}, ...]``, where ``segmentation`` is an RLE (compressed string or uncompressed counts) or
a list of polygons, as in a COCO instances file. It names images by the ids of a ground-truth
instances file and classes by its category ids, so it is read together with that file:
:func:`load_results` checks each detection and groups them by image; :func:`results_annotation`
turns one image's detections into an :class:`~polymask.model.ImageAnnotation` that burns into a
class map like any annotation.

Overlaps are settled by confidence: detections are painted lowest score first, so the most
confident one owns a pixel (a model's own argmax over its instances would do the same). Ties
keep file order. Boxes alone cannot be scored as masks: a detection without a segmentation is
a problem named by its place in the file (``[12].segmentation``).

A model writes up to a hundred detections an image, so a results file of tens of megabytes
holds millions of coordinates: parsed whole into Python lists, and validated into models, they
took ten times the file's size in memory. The file is read one detection at a time instead
(msgspec, from the ``fast`` extra, finds the detections in one pass and reads each through a
mirror of the schema; without it, or for JSON it refuses, the standard library parses them one
by one), and each is kept compact: its polygons as the bytes of one float64 array, an RLE's
counts as the string the file gives or as uint32 bytes. A detection the mirror refuses is
validated by pydantic, which says what is wrong, as it says for the standard library's.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from polymask.errors import AnnotationError, Problem
from polymask.formats import coco_scan
from polymask.formats.coco import Coord, Id, Segmentation, crop
from polymask.formats.coco_scan import as_text, read_bytes
from polymask.formats.common import json_path
from polymask.formats.rle import RleError, RleSizeError, decode
from polymask.limits import MAX_STEPS, SCALE, polygon_steps
from polymask.model import ImageAnnotation, Shape

CODE = "PM053"
"""Problems of a results file (a detection that cannot be scored, an unknown image or class)."""
NOT_A_LIST = (
    "not a COCO results file: expected a list of detections "
    "[{image_id, category_id, segmentation, score}, ...]"
)


class CocoDetection(BaseModel):
    """One detection of a results file; other keys (``bbox``, ``area``, ``id``) are allowed."""

    model_config = ConfigDict(extra="allow", title="COCO detection")

    image_id: Id
    category_id: int
    segmentation: Segmentation
    score: Annotated[float, Field(allow_inf_nan=False)]
    bbox: Annotated[list[Coord], Field(min_length=4, max_length=4)] | None = None


class CocoResultsFile(RootModel[list[CocoDetection]]):
    """A COCO results file: a list of detections."""

    model_config = ConfigDict(title="COCO results")


_HIDDEN_TAGS = frozenset({"polygon-list", "rle-object"})

if coco_scan.msgspec is not None:
    from msgspec import Meta, MsgspecError, Raw, Struct
    from msgspec.json import Decoder

    from polymask.formats.coco import FastCoord, FastRle

    class _FastDetection(Struct):
        """:class:`CocoDetection` for msgspec (see :mod:`polymask.formats.coco`): it takes
        only what the schema takes, and gives the same values."""

        image_id: int | str
        category_id: int
        segmentation: list[Annotated[list[FastCoord], Meta(min_length=6)]] | FastRle
        score: float  # msgspec refuses infinities and NaN
        bbox: Annotated[list[FastCoord], Meta(min_length=4, max_length=4)] | None = None

        def __post_init__(self) -> None:
            if isinstance(self.segmentation, list):
                for polygon in self.segmentation:
                    if len(polygon) % 2:
                        raise ValueError("an odd polygon: pydantic says why")

    _ELEMENTS = Decoder(list[Raw])
    _DETECTION = Decoder(_FastDetection)


@dataclass(frozen=True, slots=True)
class Detection:
    """A detection checked and kept for its image: compact, and quick to pickle, since each
    image's detections travel to the worker that paints them."""

    index: int
    """Its place in the file's list (for messages)."""
    category_id: int
    score: float
    points: bytes = b""
    """The vertices (x, y) of all its polygons, one polygon after the other, as float64 bytes."""
    sizes: tuple[int, ...] = ()
    """The number of vertices of each polygon."""
    rle: tuple[tuple[int, int], str | bytes] | None = None
    """An RLE segmentation's size (height, width) and counts: the compressed string the file
    gives, or the run lengths as uint32 bytes."""


@dataclass
class Results:
    """The detections of a results file, by image id, and what was wrong with the others."""

    path: Path
    by_image: dict[object, list[Detection]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    dropped: int = 0
    """Detections below the minimum score."""


def load_results(path: Path, min_score: float | None = None) -> Results:
    """The detections of a results file with a score of at least ``min_score``, grouped by
    image id. A detection that is malformed is a problem and is left out; a file that is not a
    JSON list raises :class:`AnnotationError`."""
    file = str(path)
    results = Results(path)
    for i, detection in _checked(read_bytes(path, file), file, results.problems):
        if min_score is not None and detection.score < min_score:
            results.dropped += 1
            continue
        results.by_image.setdefault(detection.image_id, []).append(_kept(i, detection))
    return results


def _checked(data: bytes, file: str, problems: list[Problem]) -> Iterator[tuple[int, Any]]:
    """(index, detection) of every element that validates, one at a time (a
    :class:`CocoDetection` or its mirror); the others become problems."""
    elements = _elements(data) if coco_scan.msgspec is not None else None
    if elements is None:
        text = as_text(data)
        del data  # held twice no longer than it takes to decode
        for i, value in _values(text, file):
            detection = _validated(i, value, file, problems)
            if detection is not None:
                yield i, detection
        return
    del data  # the elements hold the bytes as long as they need them
    for i, raw in enumerate(elements):
        try:
            yield i, _DETECTION.decode(raw)
        except (MsgspecError, RecursionError):  # pydantic says why
            detection = _validated(i, _loads(bytes(raw), file), file, problems)
            if detection is not None:
                yield i, detection


def _elements(data: bytes) -> list | None:
    """The elements of the file's list as views into its bytes (msgspec); None where msgspec
    cannot say (not a list, not JSON, JSON it refuses such as ``NaN``, or nested too deep for
    it): the standard library decides then."""
    view = memoryview(data)[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    try:
        return _ELEMENTS.decode(view)
    except (MsgspecError, RecursionError):
        return None


_WS = re.compile(r"[ \t\n\r]*")


def _values(text: str, file: str) -> Iterator[tuple[int, Any]]:
    """(index, value) of each element of the JSON list ``text``, parsed one at a time by the
    standard library's decoder, whose messages and places the errors are."""
    decoder = json.JSONDecoder()
    at = _WS.match(text).end()
    if not text.startswith("[", at):  # not a list, valid JSON or not: json says which
        _loads(text, file)
        raise AnnotationError([Problem(file, NOT_A_LIST, code=CODE)])
    try:
        at = _WS.match(text, at + 1).end()
        i = 0
        while not text.startswith("]", at):  # as json's own scanner reads a list
            if i:
                if not text.startswith(",", at):
                    raise json.JSONDecodeError("Expecting ',' delimiter", text, at)
                at = _WS.match(text, at + 1).end()
            value, at = decoder.raw_decode(text, at)
            yield i, value
            i += 1
            at = _WS.match(text, at).end()
        end = _WS.match(text, at + 1).end()
        if end != len(text):
            raise json.JSONDecodeError("Extra data", text, end)
    except json.JSONDecodeError as exc:
        raise AnnotationError([_invalid(file, exc)]) from None
    except RecursionError:
        raise AnnotationError([_too_deep(file)]) from None


def _loads(text: str | bytes, file: str) -> Any:
    """``json.loads``, its errors as problems of ``file``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError([_invalid(file, exc)]) from None
    except RecursionError:
        raise AnnotationError([_too_deep(file)]) from None


def _invalid(file: str, exc: json.JSONDecodeError) -> Problem:
    msg = f"invalid JSON: {exc.msg}"
    return Problem(file, msg, code="PM001", line=exc.lineno, column=exc.colno)


def _too_deep(file: str) -> Problem:
    return Problem(file, "invalid JSON: nested too deeply", code="PM001")


def _validated(i: int, value: Any, file: str, problems: list[Problem]) -> CocoDetection | None:
    """Element ``i`` validated by pydantic, or None with its problems added to ``problems``."""
    try:
        return CocoDetection.model_validate(value)
    except ValidationError as exc:
        for err in exc.errors(include_url=False):
            loc = (i, *(p for p in err["loc"] if p not in _HIDDEN_TAGS))
            msg = "required field is missing" if err["type"] == "missing" else err["msg"]
            if loc[1:2] == ("segmentation",) and err["type"] == "missing":
                msg = "no segmentation: a box alone cannot be scored as a mask"
            problems.append(Problem(file, msg.removeprefix("Value error, "), json_path(loc), CODE))
    return None


def _kept(i: int, detection) -> Detection:
    """What is kept of a validated detection (a :class:`CocoDetection` or its mirror)."""
    seg = detection.segmentation
    if isinstance(seg, list):
        sizes = tuple(len(polygon) // 2 for polygon in seg)
        points = np.fromiter(chain.from_iterable(seg), np.float64, 2 * sum(sizes))
        return Detection(i, detection.category_id, detection.score, points.tobytes(), sizes)
    counts = seg.counts
    if not isinstance(counts, str):  # validated: each below 2**32
        counts = np.array(counts, dtype=np.uint32).tobytes()
    return Detection(i, detection.category_id, detection.score, rle=(tuple(seg.size), counts))


def results_annotation(
    detections: list[Detection],
    categories: dict[int, str],
    key: str,
    width: int,
    height: int,
    source: str,
) -> ImageAnnotation:
    """One image's detections as an annotation, painted lowest score first. Names come from
    the ground truth's ``categories``; a detection that does not fit the image (an RLE of
    another size, an unknown category, a polygon too long to draw) is an error of the image."""
    errors: list[Problem] = []
    shapes: list[Shape] = []
    for d in sorted(detections, key=lambda d: d.score):  # stable: ties keep file order
        where = f"[{d.index}]"
        label = categories.get(d.category_id)
        if label is None:
            msg = f"category_id {d.category_id} is not in the ground truth's categories"
            errors.append(Problem(source, msg, f"{where}.category_id", CODE))
            continue
        group = f"detections{where}"
        if d.rle is not None:
            shape = _rle_shape(d.rle, label, group, width, height, source, where, errors)
            shapes += [shape] if shape is not None else []
            continue
        for k, xy in enumerate(_polygons(d)):
            # no edge walks more than the extent: the exact count only for polygons near the cap
            bound = len(xy) * (SCALE * float((xy.max(0) - xy.min(0)).max()) + 2)
            if bound > MAX_STEPS and polygon_steps(xy) > MAX_STEPS:
                msg = f"polygon outline is too long to rasterize (over {MAX_STEPS // 5} px)"
                errors.append(Problem(source, msg, f"{where}.segmentation[{k}]", CODE))
                continue
            shapes.append(
                Shape.from_validated(
                    label, "polygon", xy, group=group, where=f"{where}.segmentation[{k}]"
                )
            )
    return ImageAnnotation(
        format="coco",
        source=source,
        key=key,
        width=width,
        height=height,
        shapes=tuple(shapes),
        errors=tuple(errors),
    )


def _polygons(d: Detection) -> list[np.ndarray]:
    """Each polygon of a detection as an (n, 2) float64 array of its own."""
    xy = np.frombuffer(d.points, dtype=np.float64).reshape(-1, 2)
    ends = np.cumsum(d.sizes).tolist()
    return [xy[end - size : end].copy() for size, end in zip(d.sizes, ends, strict=True)]


def _rle_shape(rle, label, group, width, height, source, where, errors) -> Shape | None:
    size, packed = rle
    try:
        mask = decode(size, packed, height, width)
    except RleSizeError as exc:
        errors.append(Problem(source, str(exc), f"{where}.segmentation.size", CODE))
        return None
    except RleError as exc:
        errors.append(Problem(source, f"bad RLE: {exc}", f"{where}.segmentation.counts", CODE))
        return None
    cropped = crop(mask)
    if cropped is None:
        return None  # an empty mask paints nothing
    patch, corner = cropped
    return Shape(
        label=label,
        kind="mask",
        points=(corner,),
        mask=patch,
        group=group,
        where=f"{where}.segmentation",
    )
