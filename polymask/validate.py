"""Checking annotation files without producing anything: schema, sizes, embedded data, labels."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

from polymask.errors import AnnotationError, Problem
from polymask.formats import InputFile, load_annotations
from polymask.formats.duplicates import duplicate_keys
from polymask.formats.options import FormatOptions
from polymask.labels import LabelMap, UnknownLabel
from polymask.runtime.parallel import pmap
from polymask.settings import Settings


@dataclass
class ValidationResult:
    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)


def check_file(
    item: InputFile,
    fmt: str | None = None,
    strict: bool = False,
    label_map: LabelMap | None = None,
    format_options: FormatOptions | None = None,
) -> list[Problem]:
    """Every problem in one file; with a label map, labels it does not know are problems too,
    and so are duplicate keys of a JSON object, which every loader takes silently."""
    duplicates = _duplicate_keys(item)
    try:
        annotations = load_annotations(item, fmt, strict, format_options)
    except AnnotationError as exc:
        return exc.problems + duplicates
    problems = [w for ann in annotations for w in ann.warnings] + duplicates
    if label_map is not None:
        for ann in annotations:
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
    for problems in pmap(check, files, settings.workers, scheduler=settings.scheduler):
        result.problems.extend(problems)
    result.problems.sort(key=lambda p: (p.file, p.line or 0, p.path))
    return result
