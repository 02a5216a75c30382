"""The dataset index: annotation files read into image items, the unit of work.

Users think in images and datasets; files are how tools happen to store them (one image per
LabelMe file, 100,000 in one COCO file). So every run that burns annotations first reads its
inputs into :class:`Item` objects (key, source file, place in it, size) and then works on
items:

- **Keys are unique across the dataset.** Two items with one key (three Label Studio exports
  in one folder all naming ``/image1``) would write one mask over the other: both are refused,
  each with a problem naming the other's source, before anything is written (the same items
  whatever the worker count). ``keys="source"`` forms keys from the source file's path
  instead, for datasets that really hold several exports naming the same images.
- **Items are the work.** Workers take chunks of items, so one big file keeps every worker
  busy, and an item that fails (its image is missing, one of its entries is malformed) costs
  that item alone.
- **Each file is read once per run.** A file of several images is read here, in the workers,
  and its items carry what burning needs: the parsed annotation, or, for formats that index
  big files (COCO), where its entries are, so that each worker reads only its own images. A
  one-image file (LabelMe) needs no reading to be indexed (its key is its path) and is read
  where it is burned; only when no label map is given, so that the map is made of the labels
  found, is it also read here, in the same pass that finds the other files' items. Its label
  names are kept, not its shapes: those would make the index as large as the dataset.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from polymask.errors import AnnotationError, Problem
from polymask.formats import (
    MODULES,
    MULTI_IMAGE,
    TAKES_OPTIONS,
    ImageEntry,
    InputFile,
    detect_format,
    load_annotations,
    no_cycle_collection,
)
from polymask.io.storage import file_sha256
from polymask.labels import FoundLabels, LabelMap
from polymask.model import ImageAnnotation
from polymask.runtime.parallel import pmap
from polymask.settings import Settings, labels_of_file, resolve_label_map

if TYPE_CHECKING:  # the rasterizer (shapely, rasterio) loads where an item is burned
    from polymask.raster import Rasterized

KeyRule = Literal["name", "source"]
COLLISION_CODE = "PM090"


@dataclass(frozen=True)
class Item:
    """One image of the dataset: where it comes from, and what reading it needs."""

    key: str
    """Output name, unique in the dataset (masks are written to ``OUT/<key>.png``)."""
    source: InputFile
    fmt: str
    place: str = ""
    """Where the image sits in its file (``images[3]``); empty for a one-image file."""
    annotation: ImageAnnotation | None = None
    """The parsed annotation, for files read whole."""
    entry: ImageEntry | None = None
    """Where to read it from, for files a format indexes (its ``load_part``)."""
    source_hash: str = ""
    """SHA-256 of the source file's bytes when it was read (empty: not read yet)."""

    @property
    def name(self) -> str:
        """How messages name the item: its file, and its place there."""
        return f"{self.source.path} {self.place}".rstrip()


@dataclass
class Dataset:
    """The items of a run, the problems met finding them, and the labels they use."""

    items: list[Item] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    labels: FoundLabels = field(default_factory=FoundLabels)
    files: int = 0


def read_dataset(
    files: Sequence[InputFile],
    settings: Settings,
    keys: KeyRule = "name",
    masks: Iterable[str | Path] = (),
) -> Dataset:
    """Index ``files`` into items with unique keys (see the module docstring).

    Files of several images are read in the workers of ``settings``; a file that cannot be read
    at all is a problem and contributes no item. Colliding items are left out, each with a
    problem naming the other sources. Without a label map fixed before reading (``settings``'
    labels, or the ``labels.txt`` of ``masks``, as :func:`dataset_label_map` takes them),
    one-image files are read in the workers too, for their labels; a file that cannot be read
    is skipped there, and named where it is burned.
    """
    data = Dataset(files=len(files))
    names = resolve_label_map(settings, masks) is None
    singles: list[Item] = []
    jobs: list[tuple[InputFile, str | None]] = []
    for file in files:
        fmt = settings.fmt or (None if names else detect_format(file.path))
        if names or fmt in MULTI_IMAGE:
            jobs.append((file, fmt))  # a format not given is detected in the worker
        else:
            singles.append(Item(file.key, file, fmt))
    index = partial(index_file, settings=settings, keys=keys)
    # without names every job is a file of several images, a task each; with them most are
    # one-image files, sent in chunks
    chunksize = None if names else 1
    found: dict[str, tuple[str, list[Item], list[Problem], FoundLabels]] = {}
    for fmt, (path, items, problems, labels) in pmap(
        index, jobs, settings.workers, chunksize=chunksize, scheduler=settings.scheduler
    ):
        found[path] = (fmt, items, problems, labels)
    multi: list[Item] = []
    for file, _ in jobs:  # merged in file order: the first use of a label is the first file's
        fmt, items, problems, labels = found[str(file.path)]
        (multi if fmt in MULTI_IMAGE else singles).extend(items)
        data.problems += problems
        data.labels.merge(labels)
    data.items = unique_items(singles + multi, data.problems)
    return data


def index_file(
    job: tuple[InputFile, str | None], settings: Settings, keys: KeyRule
) -> tuple[str, tuple[str, list[Item], list[Problem], FoundLabels]]:
    """Worker: a file's format (detected when None) and :func:`read_file`'s answer for it. A
    one-image file is one item, and its labels alone are kept of reading it."""
    file, fmt = job
    fmt = fmt or detect_format(file.path)
    if fmt in MULTI_IMAGE:
        return fmt, read_file((file, fmt), settings, keys)
    labels = labels_of_file(file, fmt, settings.format_options)
    return fmt, (str(file.path), [Item(file.key, file, fmt)], [], labels)


def read_file(
    job: tuple[InputFile, str], settings: Settings, keys: KeyRule
) -> tuple[str, list[Item], list[Problem], FoundLabels]:
    """Worker: the items of one file of several images, the problems of no item, its labels."""
    file, fmt = job
    problems: list[Problem] = []
    labels = FoundLabels()
    try:
        digest = file_sha256(file.path)
        module = import_module(MODULES[fmt])
        options = settings.format_options if fmt in TAKES_OPTIONS else None
        extra = {"options": options} if options is not None else {}
        if hasattr(module, "index"):
            with no_cycle_collection():
                index = module.index(file.path, file.key, file.root, False, **extra)
            problems += index.problems
            if index.categories is not None:
                labels.add_categories(index.categories, str(file.path))
            items = [
                Item(_key(e.key, file, keys), file, fmt, e.place, entry=e, source_hash=digest)
                for e in index.images
            ]
        else:
            annotations = load_annotations(file, fmt, False, options, problems)
            items = []
            for ann in annotations:
                labels.add_annotation(ann)
                key = _key(ann.key, file, keys)
                items.append(Item(key, file, fmt, annotation=ann, source_hash=digest))
    except AnnotationError as exc:
        return str(file.path), [], problems + exc.problems, labels
    except OSError as exc:
        problem = Problem(str(file.path), f"cannot read: {exc.strerror or exc}", code="PM002")
        return str(file.path), [], [*problems, problem], labels
    return str(file.path), items, problems, labels


def _key(key: str, file: InputFile, rule: KeyRule) -> str:
    """An image's key under ``rule``: as its format names it (beside the file, by the image's
    name), or below the file's own key (``exports/a/image1`` for ``exports/a.json``)."""
    if rule == "name":
        return key
    folder = PurePosixPath(file.key).parent
    return f"{file.key}/{PurePosixPath(key).relative_to(folder).as_posix()}"


def unique_items(items: Iterable[Item], problems: list[Problem]) -> list[Item]:
    """The items whose key no other item has; each colliding one is named in ``problems``."""
    by_key: dict[str, list[Item]] = defaultdict(list)
    for item in items:
        by_key[item.key].append(item)
    kept = []
    for key, group in by_key.items():
        if len(group) == 1:
            kept.append(group[0])
            continue
        for item in group:
            others = "; ".join(o.name for o in group if o is not item)
            problems.append(
                Problem(
                    str(item.source.path),
                    f"output name {key!r} is also made by {others}: neither is written "
                    "(--keys source names each image below its file)",
                    item.place,
                    code=COLLISION_CODE,
                )
            )
    return kept


def dataset_label_map(
    settings: Settings, dataset: Dataset, masks: Iterable[str | Path] = ()
) -> tuple[LabelMap, str | None]:
    """The label map of a run over ``dataset``, by the one rule of :mod:`polymask.settings`,
    and a note to show when its ids depend on the labels found (read while indexing: see
    :func:`read_dataset`). Labels refused as class names are added to
    ``dataset.labels.problems``."""
    fixed = resolve_label_map(settings, masks)
    if fixed is not None:
        return fixed, None
    return dataset.labels.label_map(settings.ignore_index)


def burn_item(
    item: Item, settings: Settings, label_map: LabelMap, instances: bool = False
) -> tuple[ImageAnnotation, Rasterized]:
    """An item's annotation and its maps, burned in memory as ``rasterize`` burns them: the same
    reading, pixel convention, overlap order and unknown-label policy for its format. For the
    commands and the library that draw without writing (``score``, ``stats``, the training
    dataset). Raises :class:`AnnotationError` naming the file: it cannot be read, or the image
    has errors (its warnings are ``validate``'s to report)."""
    problems: list[Problem] = []
    try:
        annotations = read_item(item, settings, problems)
    except OSError as exc:
        msg = f"cannot read: {exc.strerror or exc}"
        raise AnnotationError([Problem(str(item.source.path), msg, code="PM002")]) from None
    except AnnotationError as exc:
        raise AnnotationError(problems + exc.problems) from None
    if len(annotations) != 1:  # an item is one image; a file read whole may hold none
        msg = f"holds {len(annotations)} images where one was indexed"
        raise AnnotationError([*problems, Problem(str(item.source.path), msg, item.place)])
    annotation = annotations[0]
    return annotation, burn_annotation(annotation, item.fmt, settings, label_map, instances)


def burn_annotation(
    annotation: ImageAnnotation,
    fmt: str | None,
    settings: Settings,
    label_map: LabelMap,
    instances: bool = False,
    order: str | None = None,
) -> Rasterized:
    """One annotation burned with the settings for format ``fmt`` (``order`` given: that overlap
    order instead, as COCO results are painted by score); its errors raise
    :class:`AnnotationError`."""
    from polymask.raster import burn

    if annotation.errors:
        raise AnnotationError(list(annotation.errors))
    return burn(
        annotation,
        label_map,
        settings.convention_for(fmt),
        order or settings.order_for(fmt),
        settings.unknown,
        instances,
    )


def read_item(item: Item, settings: Settings, problems: list[Problem]) -> list[ImageAnnotation]:
    """The annotation(s) of an item, read where the work runs. A one-image file is read here;
    its errors raise :class:`AnnotationError`."""
    if item.annotation is not None:
        return [item.annotation]
    fmt = item.fmt
    options = settings.format_options if fmt in TAKES_OPTIONS else None
    if item.entry is not None:
        module = import_module(MODULES[fmt])
        extra = {"options": options} if options is not None else {}
        source = item.source
        with no_cycle_collection():
            return [
                module.load_part(source.path, source.key, source.root, item.entry, False, **extra)
            ]
    return load_annotations(item.source, fmt, False, options, problems)
