"""COCO instances JSON: the pydantic schema, referential checks and the canonical model.

One file describes many images. Each annotation's ``segmentation`` is a list of polygons (flat
``[x1, y1, x2, y2, ...]`` lists), an uncompressed RLE (``counts`` a list) or a compressed RLE
(``counts`` a string). Shapes are labelled with their category's name; every image also
carries all the file's categories as (id, name) pairs, used or not, so that the ids can be the
pixel values (as COCO-Stuff's PNGs have them).

In the canonical model an annotation with several polygons becomes several polygon shapes with
the annotation's id as their group (one instance); an RLE becomes a ``mask`` shape cropped to
its bounding box. Crowd annotations (``iscrowd: 1``, or ``true`` as some tools write it) are
burned as their category, as ``annToMask`` does, or as the ignore index with ``--crowd
ignore``.

A file is read whole (:func:`load`), or indexed in one cheap pass and then read an image at a
time wherever the work runs (:func:`index`, :func:`load_part`, see :mod:`polymask.formats`).
Both ways build the same annotations and the same problems through the same code for each
annotation. A valid file is validated by pydantic in one call; a file with errors, when the
caller takes partial loads, is validated element by element (:mod:`polymask.formats.coco_scan`)
so that a malformed annotation or image record fails its image alone. Element by element, as
:func:`index` and :func:`load_part` always read, msgspec (where installed) decodes the records
through a mirror of the schema, and pydantic those the mirror refuses, so that their problems
are pydantic's. An image that cannot be named (its ``file_name`` leads outside the output
folder or repeats another's output name, its id is another image's, or its record is
malformed) is keyed by its place, ``<file key>/images[3]``, and carries errors.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from operator import mul
from pathlib import Path
from typing import Annotated, Any, Union

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from polymask.errors import AnnotationError, Problem
from polymask.formats import HEAD_BYTES, FileIndex, ImageEntry, coco_scan
from polymask.formats.coco_scan import Piece, as_text, piece, read_bytes, scan
from polymask.formats.common import (
    JsonReporter,
    invalid_json_problem,
    parse_problems,
    read_text,
    resolve_image,
)
from polymask.formats.detect import coco_results, sniff_json
from polymask.formats.options import FormatOptions, image_key
from polymask.formats.rle import (
    RleError,
    RleSizeError,
    decode,
    polygons_area,
)
from polymask.labels import IGNORE
from polymask.limits import MAX_COORD, MAX_SIDE, MAX_STEPS, SCALE, check_size, polygon_steps
from polymask.model import ImageAnnotation, Shape

Coord = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORD, le=MAX_COORD)]
Side = Annotated[int, Field(gt=0, le=MAX_SIDE)]
Id = Union[int, str]  # noqa: UP007 (pydantic reads the union at runtime)

BBOX_TOLERANCE = 2.0
"""Pixels a bbox side may differ from the segmentation's bounds before a warning."""
AREA_TOLERANCE = 0.1
"""Relative difference of ``area`` from the segmentation's area before a warning."""
FLAT_SEGMENTATION = (
    "segmentation is a flat list of numbers; COCO polygons are a list of lists: [[x1, y1, ...]]"
)
RESULTS_FILE = (
    "this is a COCO results (predictions) file, a list of detections with image_id, "
    "category_id and score: rasterize and validate need the ground-truth instances file, an "
    "object with images, annotations and categories"
)


class CocoImage(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: Id
    file_name: str = Field(min_length=1)
    width: Side
    height: Side

    @model_validator(mode="after")
    def _area(self) -> CocoImage:
        reason = check_size(self.width, self.height)
        if reason:
            raise ValueError(reason)
        return self


class CocoCategory(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    name: str = Field(min_length=1)
    supercategory: str | None = None


class CocoRle(BaseModel):
    """Run-length encoded mask: ``size`` is [height, width]; ``counts`` list or string."""

    model_config = ConfigDict(extra="allow")

    size: tuple[Side, Side]
    counts: list[Annotated[int, Field(ge=0, lt=1 << 32)]] | str


def _pairs(polygon: list[float]) -> list[float]:
    if len(polygon) % 2:
        raise ValueError(f"a polygon is a flat list of x, y pairs, got {len(polygon)} numbers")
    return polygon


Polygon = Annotated[list[Coord], Field(min_length=6), AfterValidator(_pairs)]


def _segmentation_kind(value: Any) -> str | None:
    """The union member a segmentation is read as. A list of numbers (one polygon without its
    enclosing list) matches none, so that it is one error rather than one per number."""
    if isinstance(value, list):
        return None if value and not isinstance(value[0], list) else "polygon-list"
    if isinstance(value, (dict, CocoRle)):
        return "rle-object"
    return None


Segmentation = Annotated[
    Union[Annotated[list[Polygon], Tag("polygon-list")], Annotated[CocoRle, Tag("rle-object")]],  # noqa: UP007
    Discriminator(
        _segmentation_kind,
        custom_error_type="segmentation_type",
        custom_error_message="segmentation must be a list of polygons or an RLE object",
    ),
]
_HIDDEN_TAGS = frozenset({"polygon-list", "rle-object"})


class CocoAnnotation(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: Id | None = None
    image_id: Id
    category_id: int
    segmentation: Segmentation | None = None
    area: Annotated[float, Field(allow_inf_nan=False, ge=0)] | None = None
    bbox: Annotated[list[Coord], Field(min_length=4, max_length=4)] | None = None
    iscrowd: int = Field(default=0, ge=0, le=1)

    @field_validator("iscrowd", mode="before")
    @classmethod
    def _crowd_words(cls, value: Any) -> Any:
        """``true``/``false``, as JSON booleans or strings, are what some exporters write."""
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return int(value.strip().lower() == "true")
        return value


class CocoFile(BaseModel):
    """A COCO instances file (``instances_*.json``): images, annotations, categories."""

    model_config = ConfigDict(extra="allow", title="COCO instances")

    images: list[CocoImage]
    annotations: list[CocoAnnotation]
    categories: list[CocoCategory]


_CATEGORY_LIST = TypeAdapter(list[CocoCategory])

# -- the schema again, for msgspec ------------------------------------------------------------
#
# pydantic builds a model per element with a Python validator or two; msgspec decodes the same
# JSON into plain objects several times faster. The mirror takes only what the schema above
# takes and gives the same values (tests/formats/test_coco_fast.py holds the two equal); an
# element it refuses is left to pydantic, which reads it again and says why, so every problem
# keeps its text, path and place. Structs are duck-typed for the models: the code below reads
# the same attributes from either. The coordinate, side and RLE mirrors serve COCO results
# files too (polymask.formats.coco_results).

NESTING = 200
"""The most ``[`` and ``{`` an element may hold for msgspec to read it: pydantic's JSON parser
refuses a document nested much deeper than this, msgspec does not, and an element with no more
brackets than this cannot nest deeper (a test checks pydantic takes this depth)."""

if coco_scan.msgspec is not None:
    from msgspec import Meta, MsgspecError, Struct
    from msgspec.json import Decoder

    FastCoord = Annotated[float, Meta(ge=-MAX_COORD, le=MAX_COORD)]
    FastSide = Annotated[int, Meta(gt=0, le=MAX_SIDE)]

    class _FastImage(Struct):
        """:class:`CocoImage`; the record :class:`Part` carries to a worker."""

        id: int | str
        file_name: Annotated[str, Meta(min_length=1)]
        width: FastSide
        height: FastSide

        def __post_init__(self) -> None:
            if check_size(self.width, self.height):
                raise ValueError("too large: pydantic says why")

    class FastRle(Struct):
        size: tuple[FastSide, FastSide]
        counts: list[Annotated[int, Meta(ge=0, lt=1 << 32)]] | str

    class _FastAnnotation(Struct, kw_only=True):
        """:class:`CocoAnnotation`, without its ``iscrowd`` words (``"true"``), which are rare
        enough to leave to pydantic."""

        id: int | str | None = None
        image_id: int | str
        category_id: int
        segmentation: list[Annotated[list[FastCoord], Meta(min_length=6)]] | FastRle | None = None
        area: Annotated[float, Meta(ge=0)] | None = None  # msgspec refuses infinities
        bbox: Annotated[list[FastCoord], Meta(min_length=4, max_length=4)] | None = None
        iscrowd: bool | Annotated[int, Meta(ge=0, le=1)] = 0

        def __post_init__(self) -> None:
            if type(self.iscrowd) is bool:
                self.iscrowd = int(self.iscrowd)
            if isinstance(self.segmentation, list):
                for polygon in self.segmentation:
                    if len(polygon) % 2:
                        raise ValueError("an odd polygon: pydantic says why")

    _MIRRORS = {
        model: (Decoder(list[fast]), Decoder(fast))
        for model, fast in ((CocoImage, _FastImage), (CocoAnnotation, _FastAnnotation))
    }


def looks_like(head: str) -> bool:
    """Whether the start of a file reads as COCO JSON (for format detection)."""
    return sniff_json(head) == "coco"


def load(
    path: Path,
    key: str,
    root: Path,
    strict: bool = False,
    options: FormatOptions | None = None,
    problems: list[Problem] | None = None,
) -> list[ImageAnnotation]:
    """Read a COCO file into one :class:`ImageAnnotation` per image, in the file's image order.

    Without ``problems``, raises :class:`AnnotationError` with every problem found when any is
    an error. With it, each image's errors ride on the image and errors of no image go to
    ``problems`` (see :mod:`polymask.formats`); it raises only when the file as a whole is
    wrong. Warnings (bbox or area that do not match the segmentation, annotations without
    segmentation) ride on the images.
    """
    file = str(path)
    text = read_text(path)
    try:
        read = _read_whole(CocoFile.model_validate_json(text, strict=strict), key, text, file)
    except ValidationError as exc:
        refused = _file_problems(text, file, exc)
        read = None if problems is None else _read_by_elements(text.encode(), file, key, strict)
        if read is None:
            raise AnnotationError(refused) from None
        read.refused = refused
    images, outside, ordered = _assemble(read, path, root, options)
    if read.refused and not read.failed:  # refused whole, yet no part of it fails: say why
        raise AnnotationError(read.refused)
    if problems is not None:
        problems.extend(outside)
    elif any(p.severity == "error" for p in ordered):
        raise AnnotationError(ordered)
    return images


def index(
    path: Path, key: str, root: Path, strict: bool = False, options: FormatOptions | None = None
) -> FileIndex:
    """The images of a COCO file, each with what :func:`load_part` needs to read it alone.

    One pass over the file validates its images and categories and finds every annotation's
    byte span and image id without keeping the annotation; only annotations that name no
    image are validated here (their problems are the file's). Raises :class:`AnnotationError`
    when the file as a whole is wrong, with the problems :func:`load` reports for it.
    ``options`` shape what :func:`load_part` builds, not the index: they are given to it.
    """
    file = str(path)
    stamp = coco_scan.stamp(path)  # before the bytes: a change while they are read shows
    data = read_bytes(path, file)
    read = _read_by_elements(data, file, key, strict, annotations=False)
    if read is None:
        raise AnnotationError(_whole_text_problems(data, file, strict))
    images, categories = read.images, read.categories
    problems = list(read.category_problems)
    layout = read.layout.annotations
    owners = _owners(images, layout.ids)
    for j in np.flatnonzero(owners < 0).tolist():  # annotations of no image
        report = piece(data, layout.spans[j], file, ("annotations", j))
        ann, errors = _validated(CocoAnnotation, report, strict)
        problems += errors or _dangling(ann, j, images, categories, report)
    # every image's rows at once, in image order (file order within each image): each image's
    # rows are a slice of the table
    owned = np.flatnonzero(owners >= 0)
    order = owned[np.argsort(owners[owned], kind="stable")]
    table = np.column_stack([layout.spans[order, :2], order, layout.spans[order, 2:]])
    counts = np.bincount(owners[owned], minlength=len(images.records))
    ends = np.cumsum(counts)
    begins = ends - counts
    blocks = coco_scan.blocks(table, begins, ends)
    view = memoryview(data)
    entries = []
    for i, record in enumerate(images.records):
        a, b = int(begins[i]), int(ends[i])
        ranges = [blocks[i]] if blocks[i] is not None else table[a:b, :2].tolist()
        check = coco_scan.checksum(view[start:end] for start, end in ranges)
        part = Part(record, categories, table[a:b].tobytes(), tuple(images.errors[i]), stamp, check)
        size = (record.width, record.height) if record is not None else (0, 0)
        entries.append(ImageEntry(images.keys[i], f"images[{i}]", *size, part=part))
    return FileIndex(entries, problems, tuple(categories.items()))


def _owners(images: _Images, raw_ids: list) -> np.ndarray:
    """The image each annotation names (its index in ``images``), -1 for none."""
    get = images.ids.get
    try:
        found = [get(raw_id, -1) for raw_id in raw_ids]
    except TypeError:  # a list or an object where an id should be: it names no image
        found = [-1 if (i := images.owner(raw_id)) is None else i for raw_id in raw_ids]
    return np.array(found, dtype=np.int64)


@dataclass(frozen=True)
class Part:
    """What :func:`load_part` needs to read one image of an indexed file: small, picklable
    (plain values: an array pickles dozens of times slower than its bytes, and a chunk of
    parts is pickled for every worker task)."""

    record: Any
    """The image's entry in ``images`` (a :class:`CocoImage`, or its msgspec mirror); None when
    it is malformed."""
    categories: dict[int, str]
    spans: bytes
    """A (k, 5) int64 array's bytes, one row per annotation of the image in file order: byte
    offsets of its start and end, its index in ``annotations``, the line and column where it
    starts."""
    errors: tuple[Problem, ...] = ()
    """The image's own errors, found by :func:`index` (its record, its name, its id)."""
    stamp: tuple[int, int] | None = None
    """The file's size and modification time when it was indexed (None: not a local file)."""
    checksum: int = 0
    """CRC-32 of the bytes :func:`load_part` reads for the image, as they were indexed."""

    @property
    def rows(self) -> list[list[int]]:
        """:attr:`spans` as lists of numbers."""
        return np.frombuffer(self.spans, dtype=np.int64).reshape(-1, 5).tolist()


def load_part(
    path: Path,
    key: str,
    root: Path,
    entry: ImageEntry,
    strict: bool = False,
    options: FormatOptions | None = None,
) -> ImageAnnotation:
    """One image of a file :func:`index` has read (``key`` and ``root`` as given to it): only
    its annotations' bytes are read and validated. The annotation equals the one :func:`load`
    gives for the image, its problems included."""
    part: Part = entry.part
    file = str(path)
    drawn = _Drawn(part.record, list(part.errors))
    rows = part.rows
    with path.open("rb") as f:
        unchanged = part.stamp is None or coco_scan.stamp_of(f) == part.stamp
        raws, check = _read_spans(f, rows) if unchanged else ([], None)
    if check != part.checksum:
        msg = "changed since its images were indexed (written to during the run): run again"
        raise AnnotationError([Problem(file, msg, entry.place, code="PM002")])
    reports = [
        Piece(raw, file, ("annotations", j), line, column)
        for raw, (_, _, j, line, column) in zip(raws, rows, strict=True)
    ]
    checked = _validated_all(CocoAnnotation, reports, strict)
    for report, (ann, errors) in zip(reports, checked, strict=True):
        drawn.add(ann, report.loc[1], errors, part.categories, options, report)
    return drawn.annotation(path, root, entry.key, tuple(part.categories.items()))


def _read_spans(f, rows: list) -> tuple[list[bytes], int]:
    """The bytes of each span of ``rows`` (in file order), read as
    :func:`~polymask.formats.coco_scan.block` says, and the checksum of what was read."""
    block = coco_scan.block(rows)
    if block is None:
        raws = []
        for start, end, *_ in rows:
            f.seek(start)
            raws.append(f.read(end - start))
        return raws, coco_scan.checksum(raws)
    first, last = block
    f.seek(first)
    data = f.read(last - first)
    raws = [data[start - first : end - first] for start, end, *_ in rows]
    return raws, coco_scan.checksum([data])


# -- a file read whole or by elements ---------------------------------------------------------


@dataclass
class _Images:
    """The images of a file: records, output names, the errors each has of its own, and which
    image each id names."""

    records: list[CocoImage | None]
    errors: list[list[Problem]]
    keys: list[str] = field(default_factory=list)
    ids: dict = field(default_factory=dict)
    examples: dict[type, Any] = field(default_factory=dict)
    """An id of each type the images use, for messages."""

    def owner(self, image_id) -> int | None:
        """The image an annotation's ``image_id`` (as validated, or as JSON gave it) names."""
        try:
            return self.ids.get(image_id)
        except TypeError:  # a list or an object where an id should be: no image
            return None


@dataclass
class _Read:
    """A file's categories and images, checked, and its annotations to come."""

    categories: dict[int, str]
    category_problems: list[Problem]
    images: _Images
    annotations: Iterable[tuple[int, CocoAnnotation | None, Any, list[Problem], Any]] = ()
    """(index, the annotation or None, the image id as read, its schema errors, a reporter)."""
    layout: Any = None
    """Where the elements are (:func:`polymask.formats.coco_scan.scan`), when read by them."""
    failed: bool = False
    """Whether an element failed validation (known once the annotations are iterated)."""
    refused: list[Problem] = field(default_factory=list)
    """The problems of validating the file whole, when pydantic refused it."""


def _read_whole(doc: CocoFile, key: str, text: str, file: str) -> _Read:
    report = JsonReporter(text, file)
    categories, found = _categories(doc.categories, report)
    records = list(doc.images)
    ids = [img.id for img in records]
    images = _images(records, ids, [[] for _ in records], key, lambda i: report)
    annotations = ((j, ann, ann.image_id, [], report) for j, ann in enumerate(doc.annotations))
    return _Read(categories, found, images, annotations)


def _read_by_elements(
    data: bytes, file: str, key: str, strict: bool, annotations: bool = True
) -> _Read | None:
    """The file read element by element (:mod:`polymask.formats.coco_scan`), its annotations
    validated as they are iterated (when asked for); None when it is wrong as a whole: not a
    COCO object, or a malformed category (categories are the file's, not an image's)."""
    layout = scan(data)
    if layout is None:
        return None
    categories_piece = piece(data, layout.categories, file, ("categories",))
    try:
        declared = _CATEGORY_LIST.validate_json(categories_piece.text, strict=strict)
    except ValidationError:
        return None
    categories, found = _categories(declared, categories_piece)

    reports = [piece(data, row, file, ("images", i)) for i, row in enumerate(layout.images.spans)]
    records, errors = [], []
    for record, problems in _validated_all(CocoImage, reports, strict):
        records.append(record)
        errors.append(problems)
    images = _images(records, layout.images.ids, errors, key, reports.__getitem__)
    read = _Read(categories, found, images, layout=layout, failed=any(errors))
    if annotations:
        read.annotations = _annotations_by_elements(read, data, file, strict)
    return read


def _annotations_by_elements(read: _Read, data: bytes, file: str, strict: bool) -> Iterator:
    spans, ids = read.layout.annotations.spans, read.layout.annotations.ids
    for first in range(0, len(ids), 1024):  # in runs: msgspec reads a run in one call
        run = range(first, min(first + 1024, len(ids)))
        reports = [piece(data, spans[j], file, ("annotations", j)) for j in run]
        checked = _validated_all(CocoAnnotation, reports, strict)
        for j, report, (ann, errors) in zip(run, reports, checked, strict=True):
            read.failed |= bool(errors)
            yield j, ann, ids[j], errors, report


def _validated_all(model, reports: list[Piece], strict: bool) -> list[tuple[Any, list[Problem]]]:
    """What :func:`_validated` gives for each piece: msgspec reads those its mirror of the
    schema takes (all of them in one call, as a valid file's are), pydantic the rest."""
    fast = _fast(model, [r.raw for r in reports]) if coco_scan.msgspec is not None else None
    if fast is None:
        return [_validated(model, r, strict) for r in reports]
    return [
        (value, []) if value is not None else _validated(model, r, strict)
        for value, r in zip(fast, reports, strict=True)
    ]


def _fast(model, raws: list[bytes]) -> list:
    """Each element as the mirror of ``model`` reads it, None where it does not. Elements are
    each a JSON value, so joined by commas they are an array of them, unless the file changed
    since it was scanned: the count of what it gives is checked."""
    many, one = _MIRRORS[model]
    joined = b"[" + b",".join(raws) + b"]"
    if _brackets(joined) - 1 <= NESTING:  # and so has each element
        shallow = [True] * len(raws)
    else:
        shallow = [_brackets(raw) <= NESTING for raw in raws]
    if all(shallow):
        try:
            values = many.decode(joined)
        except MsgspecError:
            pass  # one of them is refused: each alone
        else:
            if len(values) == len(raws):
                return values
    values = []
    for raw, ok in zip(raws, shallow, strict=True):
        try:
            values.append(one.decode(raw) if ok else None)
        except MsgspecError:
            values.append(None)
    return values


def _brackets(raw: bytes) -> int:
    return raw.count(b"[") + raw.count(b"{")


def _validated(model, report: Piece, strict: bool) -> tuple[Any, list[Problem]]:
    """(the element, []) or (None, its problems placed in the file)."""
    try:
        return model.model_validate_json(report.text, strict=strict), []
    except ValidationError as exc:
        return None, report.shifted(_schema_problems(report.text, report.file, exc))


def _whole_text_problems(data: bytes, file: str, strict: bool) -> list[Problem]:
    """The problems of a file that cannot be read by elements, as :func:`load` finds them."""
    text = as_text(data)
    try:
        CocoFile.model_validate_json(text, strict=strict)
    except ValidationError as exc:
        return _file_problems(text, file, exc)
    return [invalid_json_problem(text, file)]


def _file_problems(text: str, file: str, exc: ValidationError) -> list[Problem]:
    """The problems of a file pydantic refuses as a whole."""
    if coco_results(text[:HEAD_BYTES]):
        return [Problem(file, RESULTS_FILE, code="PM052")]
    return _schema_problems(text, file, exc)


def _schema_problems(text: str, file: str, exc: ValidationError) -> list[Problem]:
    problems = parse_problems(text, file, exc, hidden=_HIDDEN_TAGS)
    return [
        replace(p, message=FLAT_SEGMENTATION) if _flat_segmentation(err) else p
        for err, p in zip(exc.errors(include_url=False), problems, strict=True)
    ]


def _flat_segmentation(err: dict) -> bool:
    value = err.get("input")
    return (
        err["type"] == "segmentation_type"
        and isinstance(value, list)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )


def _categories(declared: list[CocoCategory], report) -> tuple[dict[int, str], list[Problem]]:
    """Category id -> name (the first, when an id repeats), and the repeats."""
    categories: dict[int, str] = {}
    found = []
    for i, cat in enumerate(declared):
        if cat.id in categories:
            msg = f"category id {cat.id} is used twice"
            found.append(report.problem(("categories", i, "id"), msg, "PM040"))
        categories.setdefault(cat.id, cat.name)
    return categories, found


def _images(
    records: list[CocoImage | None],
    raw_ids: list,
    errors: list[list[Problem]],
    key: str,
    report_for: Callable[[int], Any],
) -> _Images:
    """Each image's output name and own errors (a repeated id, a ``file_name`` that gives no
    output name or another image's), and the image each id names. A malformed record keeps
    the id it wrote, so that its annotations fail with it rather than as strays."""
    images = _Images(records, errors)
    taken: dict[str, int] = {}
    for i, record in enumerate(records):
        images.keys.append(f"{key}/images[{i}]")  # replaced by the output name when it has one
        if record is None:
            if type(raw_ids[i]) in (int, str):
                images.ids.setdefault(raw_ids[i], i)
            continue
        where = ("images", i)
        if record.id in images.ids:
            msg = f"image id {record.id!r} is used twice"
            errors[i].append(report_for(i).problem((*where, "id"), msg, "PM041"))
            continue
        images.ids[record.id] = i
        try:
            name = image_key(key, record.file_name)
        except ValueError as exc:
            msg = f"file_name {record.file_name!r} {exc}"
            errors[i].append(report_for(i).problem((*where, "file_name"), msg, "PM042"))
            continue
        if name in taken:
            msg = f"file_name gives the output name {name!r}, as images[{taken[name]}] does"
            errors[i].append(report_for(i).problem((*where, "file_name"), msg, "PM043"))
        else:
            taken[name] = i
            images.keys[i] = name
    for image_id in images.ids:
        images.examples.setdefault(type(image_id), image_id)
    return images


def _assemble(read: _Read, path: Path, root: Path, options: FormatOptions | None):
    """(the images' annotations, the errors of no image, every problem in the order found)."""
    images, categories = read.images, read.categories
    drawn = [
        _Drawn(record, list(errors))
        for record, errors in zip(images.records, images.errors, strict=True)
    ]
    ordered = [*read.category_problems, *(p for errors in images.errors for p in errors)]
    outside = list(read.category_problems)
    for j, ann, raw_id, errors, report in read.annotations:
        i = images.owner(raw_id)
        if i is None:
            found = errors or _dangling(ann, j, images, categories, report)
            outside += found
        else:
            found = drawn[i].add(ann, j, errors, categories, options, report)
        ordered += found
    declared = tuple(categories.items())
    out = [d.annotation(path, root, k, declared) for d, k in zip(drawn, images.keys, strict=True)]
    return out, outside, ordered


@dataclass
class _Drawn:
    """What one image gathers from its annotations."""

    record: CocoImage | None
    errors: list[Problem]
    shapes: list[Shape] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def add(self, ann, j: int, errors: list[Problem], categories, options, report) -> list:
        """Annotation ``j`` of this image (None, with its schema errors, when malformed); the
        problems it brings. An image whose record is malformed fails whatever its annotations
        hold: they are only validated."""
        if errors or self.record is None:
            self.errors += errors
            return errors
        made, found = _annotation(ann, j, self.record, categories, options, report)
        self.shapes += made
        for p in found:
            (self.errors if p.severity == "error" else self.warnings).append(p)
        return found

    def annotation(self, path: Path, root: Path, key: str, categories: tuple) -> ImageAnnotation:
        record = self.record
        image_file = resolve_image(path, record.file_name, root) if record is not None else None
        return ImageAnnotation(
            format="coco",
            source=str(path),
            key=key,
            width=record.width if record is not None else 0,
            height=record.height if record is not None else 0,
            image_path=str(image_file) if image_file is not None else None,
            shapes=tuple(self.shapes),
            warnings=tuple(self.warnings),
            errors=tuple(self.errors),
            categories=categories,
        )


def _dangling(ann: CocoAnnotation, j: int, images: _Images, categories, report) -> list[Problem]:
    """The errors of an annotation that names no image."""
    where = ("annotations", j)
    msg = f"image_id {ann.image_id!r} is not in images{_id_hint(ann.image_id, images)}"
    found = [report.problem((*where, "image_id"), msg, "PM044")]
    if ann.category_id not in categories:
        msg = f"category_id {ann.category_id} is not in categories"
        found.append(report.problem((*where, "category_id"), msg, "PM045"))
    return found


def _id_hint(image_id, images: _Images) -> str:
    """Where ids are numbers in one list and strings in the other, say so: ``1`` and ``"1"``
    look alike in most viewers."""
    if not images.examples or type(image_id) in images.examples:
        return ""
    twin = str(image_id) if isinstance(image_id, int) else image_id
    if isinstance(image_id, str) and image_id.strip().lstrip("-").isdigit():
        twin = int(image_id)
    example = twin if images.owner(twin) is not None else next(iter(images.examples.values()))
    kind = "string" if isinstance(example, str) else "numeric"
    return f" (images use {kind} ids such as {json.dumps(example)})"


# -- one annotation to shapes -----------------------------------------------------------------


def _annotation(
    ann: CocoAnnotation,
    j: int,
    image: CocoImage,
    categories: dict[int, str],
    options: FormatOptions | None,
    report,
) -> tuple[list[Shape], list[Problem]]:
    """The shapes of annotation ``j`` of ``image``, and its problems in the order found."""
    where = ("annotations", j)
    label = categories.get(ann.category_id)
    if label is None:
        msg = f"category_id {ann.category_id} is not in categories"
        return [], [report.problem((*where, "category_id"), msg, "PM045")]
    if ann.iscrowd and options is not None and options.crowd == "ignore":
        label = IGNORE
    group = ann.id if ann.id is not None else f"annotations[{j}]"
    found: list[Problem] = []
    seg = ann.segmentation
    if not seg:
        msg = "annotation has no segmentation: nothing to draw"
        found.append(report.problem(where, msg, "PM046", "warning"))
        return [], found
    if isinstance(seg, list):
        made, bounds, area = _polygons(seg, j, label, group, ann.area is not None, report, found)
    else:
        made, bounds, area = _rle(seg, j, label, group, image, report, found)
    if made:
        _check_box(ann, where, made, bounds, area, image, report, found)
    return made, found


def _polygons(seg: list, j: int, label: str, group, measure: bool, report, found: list):
    """(polygon shapes, their bounds, their outline area when ``measure``). Each polygon is
    measured on its list of numbers in plain Python: numpy's cost per call is more than the
    work on a polygon of a few dozen vertices."""
    shapes = []
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    twice = 0.0
    for k, flat in enumerate(seg):
        xs, ys = flat[0::2], flat[1::2]
        lo_x, hi_x, lo_y, hi_y = min(xs), max(xs), min(ys), max(ys)
        xy = np.fromiter(flat, np.float64, len(flat)).reshape(-1, 2)  # np.array is slower
        bound = len(xs) * (SCALE * max(hi_x - lo_x, hi_y - lo_y) + 2)  # no edge walks more
        if bound > MAX_STEPS and polygon_steps(xy) > MAX_STEPS:
            msg = f"polygon outline is too long to rasterize (over {MAX_STEPS // 5} px)"
            found.append(report.problem(("annotations", j, "segmentation", k), msg, "PM047"))
            continue
        # the schema has checked every coordinate: no second validation as a Shape
        where = f"annotations[{j}].segmentation[{k}]"
        shapes.append(Shape.from_validated(label, "polygon", xy, group=group, where=where))
        x0, y0 = min(x0, lo_x), min(y0, lo_y)
        x1, y1 = max(x1, hi_x), max(y1, hi_y)
        if measure:  # the shoelace formula: x[i] * y[i + 1] - y[i] * x[i + 1] around the ring
            right = sum(map(mul, xs, flat[3::2])) + xs[-1] * ys[0]
            twice += abs(right - (sum(map(mul, ys, flat[2::2])) + ys[-1] * xs[0]))
    return shapes, (x0, y0, x1, y1), twice / 2


def _rle(seg: CocoRle, j: int, label: str, group, image: CocoImage, report, found: list):
    """([the mask shape], its bounds or None when empty, its pixel count); no shape when the
    RLE does not fit the image or cannot be decoded."""
    where = ("annotations", j, "segmentation")
    try:
        mask = decode(seg.size, seg.counts, image.height, image.width)
    except RleSizeError as exc:
        found.append(report.problem((*where, "size"), str(exc), "PM048"))
        return [], None, 0.0
    except RleError as exc:
        found.append(report.problem((*where, "counts"), f"bad RLE: {exc}", "PM049"))
        return [], None, 0.0
    cropped = crop(mask)
    if cropped is not None:
        patch, corner = cropped
        bounds = (corner[0], corner[1], corner[0] + patch.shape[1], corner[1] + patch.shape[0])
    else:
        patch, corner, bounds = np.zeros((0, 0), dtype=bool), (0.0, 0.0), None
    shape = Shape(
        label=label,
        kind="mask",
        points=(corner,),
        mask=patch,
        group=group,
        where=f"annotations[{j}].segmentation",
    )
    return [shape], bounds, float(np.count_nonzero(patch))


def crop(mask: np.ndarray) -> tuple[np.ndarray, tuple[float, float]] | None:
    """A decoded RLE's bounding-box patch and its top-left pixel (x, y), as a ``mask`` shape
    holds it; None for an empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if not rows.size:
        return None
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1], (float(cols[0]), float(rows[0]))


def _check_box(
    ann: CocoAnnotation,
    where: tuple,
    made: list[Shape],
    bounds: tuple | None,
    area: float,
    image: CocoImage,
    report,
    found: list,
) -> None:
    """Warn when ``bbox`` or ``area`` disagree with the segmentation (COCO derives both from
    it). ``area`` is the mask's pixel count, or the polygons' area inside their outlines; but
    for COCO a polygon's area is the pixels pycocotools fills, which differ from the outline's
    area by about half its perimeter (most for small objects): those are counted only when the
    outline's area disagrees."""
    if ann.bbox is not None and bounds is not None:
        x, y, bw, bh = ann.bbox
        x0, y0, x1, y1 = bounds
        off = max(abs(x - x0), abs(y - y0), abs(x + bw - x1), abs(y + bh - y1))
        if bw < 0 or bh < 0 or off > BBOX_TOLERANCE:
            shown = f"[{x0:g}, {y0:g}, {x1 - x0:g}, {y1 - y0:g}]"
            msg = f"bbox {ann.bbox} does not match the segmentation's bounds {shown}"
            found.append(report.problem((*where, "bbox"), msg, "PM050", "warning"))
    if ann.area is None or not _differ(ann.area, area):
        return
    if made[0].kind == "mask":
        msg = f"area {ann.area:g} does not match the segmentation's area {area:g}"
    else:
        filled = polygons_area([s.points for s in made], image.height, image.width)
        if not _differ(ann.area, filled):
            return
        msg = (
            f"area {ann.area:g} does not match the segmentation's area: {filled} px as "
            f"pycocotools fills it, {area:g} inside its outline"
        )
    found.append(report.problem((*where, "area"), msg, "PM051", "warning"))


def _differ(stated: float, measured: float) -> bool:
    return abs(stated - measured) > max(AREA_TOLERANCE * measured, 2.0)
