"""Checking annotation files without producing anything: schema, sizes, embedded data, labels,
and the dataset as a whole: output names that two images share, label names that would not
read back from a labels file, class ids that two files declare differently."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from importlib import import_module

from polymask.dataset import Item, unique_items
from polymask.errors import AnnotationError, Problem, UsageError
from polymask.formats import (
    MODULES,
    InputFile,
    detect_format,
    load_annotations,
    no_cycle_collection,
)
from polymask.formats.duplicates import duplicate_keys
from polymask.formats.options import FormatOptions
from polymask.labels import FoundLabels, LabelMap, UnknownLabel
from polymask.model import ImageAnnotation
from polymask.runtime.parallel import pmap
from polymask.settings import Settings


@dataclass
class ValidationResult:
    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


@dataclass
class FileCheck:
    """What checking one file found: its problems, and what the dataset checks need."""

    problems: list[Problem]
    items: list[Item] = field(default_factory=list)
    labels: FoundLabels = field(default_factory=FoundLabels)


def check_file(
    item: InputFile,
    fmt: str | None = None,
    strict: bool = False,
    label_map: LabelMap | None = None,
    format_options: FormatOptions | None = None,
) -> FileCheck:
    """Every problem in one file; with a label map, labels it does not know are problems too,
    and so are duplicate keys of a JSON object, which every loader takes silently."""
    duplicates = _duplicate_keys(item)
    problems = list(duplicates)
    found = FoundLabels()
    items = []
    try:
        for ann in _annotations(item, fmt, strict, format_options, problems):
            problems += ann.warnings
            problems += ann.errors
            found.add_annotation(ann)
            items.append(Item(ann.key, item, ann.format or ""))
            if label_map is not None:
                problems += _unknown_labels(ann, label_map)
    except AnnotationError as exc:
        return FileCheck(exc.problems + duplicates)  # raised before any image was read
    return FileCheck(problems, items, found)


def _annotations(
    item: InputFile,
    fmt: str | None,
    strict: bool,
    options: FormatOptions | None,
    problems: list[Problem],
) -> Iterator[ImageAnnotation]:
    """The file's images one by one. A file its format indexes (COCO) is read image by image,
    so a file of 100,000 images is checked in the memory of one; errors of no image go to
    ``problems``. Other files are read whole, and any error raises for the whole file."""
    fmt = fmt or detect_format(item.path)
    module = import_module(MODULES[fmt])
    if not hasattr(module, "index"):
        yield from load_annotations(item, fmt, strict, options)
        return
    extra = {"options": options} if options is not None else {}
    with no_cycle_collection():
        index = module.index(item.path, item.key, item.root, strict, **extra)
    problems += index.problems
    for entry in index.images:
        with no_cycle_collection():
            yield module.load_part(item.path, item.key, item.root, entry, strict, **extra)


def _unknown_labels(ann: ImageAnnotation, label_map: LabelMap) -> list[Problem]:
    problems = []
    for shape in ann.shapes:
        try:
            label_map.class_id(shape.label)
        except UnknownLabel:
            msg = f"label {shape.label!r} is not in the label map"
            problems.append(Problem(ann.source, msg, shape.where, code="PM030"))
    return problems


def _duplicate_keys(item: InputFile) -> list[Problem]:
    """Duplicate keys in a JSON file; none for other files and for files that are not text
    (the loader says what is wrong with those)."""
    try:
        text = item.path.read_bytes().decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return []
    return duplicate_keys(text, str(item.path))


def validate_files(
    files: Iterable[InputFile],
    settings: Settings,
    strict: bool = False,
    label_map: LabelMap | None = None,
) -> ValidationResult:
    """Every problem in every file, read with the format and format options of ``settings``
    by its workers; with a label map, unknown labels too."""
    files = list(files)
    check = partial(
        check_file,
        fmt=settings.fmt,
        strict=strict,
        label_map=label_map,
        format_options=settings.format_options,
    )
    result = ValidationResult(files_checked=len(files))
    items: list[Item] = []
    labels = FoundLabels()
    for checked in pmap(check, files, settings.workers, scheduler=settings.scheduler):
        result.problems.extend(checked.problems)
        items += checked.items
        labels.merge(checked.labels)
    unique_items(sorted(items, key=lambda i: (str(i.source.path), i.key)), result.problems)
    if label_map is None:
        try:
            labels.label_map(settings.ignore_index)
        except UsageError as exc:
            result.problems.append(Problem(str(files[0].path), str(exc), code="PM091"))
    result.problems.extend(labels.problems)
    result.problems.sort(key=lambda p: (p.file, p.line or 0, p.path))
    return result
