"""Annotation files to mask files on disk: the library behind ``polymask rasterize``.

Each file is handled on its own (in a worker process when there are several): load, burn, write
atomically. A mask is skipped when the fingerprint stored in it says it was made from the same
annotation bytes with the same settings, so a rerun after an interruption finishes the job and
an unchanged dataset costs one header read per mask.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from polymask import __version__
from polymask.errors import AnnotationError, Problem
from polymask.formats import DEFAULT_CONVENTION, InputFile, detect_format, load_annotations
from polymask.labels import LabelMap, UnknownPolicy
from polymask.masks import MaskReadError, read_fingerprint, read_mask, write_png
from polymask.model import ImageAnnotation
from polymask.parallel import RunReport, pmap
from polymask.raster import Order, burn
from polymask.storage import as_path, atomic_write

Status = Literal["written", "skipped", "ok", "missing", "differs", "failed"]


@dataclass(frozen=True)
class RasterizeOptions:
    out_dir: Path
    label_map: LabelMap
    convention: str | None = None
    """None: each format's own convention (LabelMe's for LabelMe files)."""
    order: Order = "file"
    unknown: UnknownPolicy = "error"
    instances_dir: Path | None = None
    overlay_dir: Path | None = None
    force: bool = False
    check: bool = False
    fmt: str | None = None
    strict: bool = False


@dataclass
class ImageOutcome:
    key: str
    status: Status
    detail: str = ""


@dataclass
class FileOutcome:
    """What happened to one annotation file: small, so it travels back from workers cheaply."""

    source: str
    images: list[ImageOutcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def rasterize_files(
    files: Iterable[InputFile],
    options: RasterizeOptions,
    workers: int | None = None,
    scheduler: str = "processes",
    report: RunReport | None = None,
) -> Iterator[FileOutcome]:
    """Rasterize every file, yielding outcomes as they finish (order not guaranteed)."""
    work = partial(rasterize_file, options=options)
    yield from pmap(work, files, workers, scheduler=scheduler, report=report)


def rasterize_file(item: InputFile, options: RasterizeOptions) -> FileOutcome:
    outcome = FileOutcome(str(item.path))
    try:
        data_hash = hashlib.sha256(item.path.read_bytes()).hexdigest()
        fmt = options.fmt or detect_format(item.path)
        annotations = load_annotations(item, fmt, options.strict)
    except AnnotationError as exc:
        outcome.problems.extend(exc.problems)
        return outcome
    except OSError as exc:
        outcome.problems.append(Problem(str(item.path), f"cannot read: {exc.strerror or exc}"))
        return outcome
    convention = options.convention or DEFAULT_CONVENTION[fmt]
    for ann in annotations:
        fingerprint = _fingerprint(data_hash, ann.key, convention, options)
        try:
            if options.check:
                outcome.images.append(_check(ann, convention, options))
            else:
                outcome.images.append(_write(ann, convention, fingerprint, options))
        except AnnotationError as exc:
            outcome.problems.extend(exc.problems)
            outcome.images.append(ImageOutcome(ann.key, "failed"))
    return outcome


def collect_labels(
    files: Iterable[InputFile],
    fmt: str | None = None,
    workers: int | None = None,
    scheduler: str = "processes",
):
    """Every label used in the files (for a discovered label map) and the problems met."""
    labels: set[str] = set()
    problems: list[Problem] = []
    for found, errs in pmap(partial(_labels_of, fmt=fmt), files, workers, scheduler=scheduler):
        labels |= found
        problems += errs
    return labels, problems


def _labels_of(item: InputFile, fmt: str | None) -> tuple[set[str], list[Problem]]:
    try:
        return {s.label for a in load_annotations(item, fmt) for s in a.shapes}, []
    except AnnotationError as exc:
        return set(), exc.problems


def _fingerprint(data_hash: str, key: str, convention: str, options: RasterizeOptions) -> str:
    lm = options.label_map
    settings = (
        f"{__version__}|{data_hash}|{key}|{convention}|{options.order}|{options.unknown}|"
        f"{lm.ignore_index}|{sorted(lm.ids.items())}"
    )
    return "sha256:" + hashlib.sha256(settings.encode()).hexdigest()


def _paths(ann: ImageAnnotation, options: RasterizeOptions):
    cls = options.out_dir / f"{ann.key}.png"
    inst = options.instances_dir / f"{ann.key}.png" if options.instances_dir else None
    over = options.overlay_dir / f"{ann.key}.jpg" if options.overlay_dir else None
    return cls, inst, over


def _write(ann: ImageAnnotation, convention: str, fingerprint: str, options: RasterizeOptions):
    cls_path, inst_path, over_path = _paths(ann, options)
    if not options.force and _up_to_date(fingerprint, cls_path, inst_path, over_path):
        return ImageOutcome(ann.key, "skipped")
    r = burn(ann, options.label_map, convention, options.order, options.unknown,
             instances=inst_path is not None)
    detail = ""
    if over_path is not None:
        detail = _write_overlay(ann, r.classes, over_path)
    if inst_path is not None:
        write_png(inst_path, r.instances, fingerprint, palette=False)
    write_png(cls_path, r.classes, fingerprint)  # last: its fingerprint marks the image done
    return ImageOutcome(ann.key, "written", detail)


def _up_to_date(fingerprint: str, cls_path: Path, inst_path: Path | None, over_path: Path | None):
    return (
        read_fingerprint(cls_path) == fingerprint
        and (inst_path is None or read_fingerprint(inst_path) == fingerprint)
        and (over_path is None or over_path.exists())
    )


def _check(ann: ImageAnnotation, convention: str, options: RasterizeOptions) -> ImageOutcome:
    cls_path, inst_path, _ = _paths(ann, options)
    r = burn(ann, options.label_map, convention, options.order, options.unknown,
             instances=inst_path is not None)
    for path, expected in ((cls_path, r.classes), (inst_path, r.instances)):
        if path is None:
            continue
        if not path.exists():
            return ImageOutcome(ann.key, "missing", str(path))
        try:
            found = read_mask(path)
        except MaskReadError as exc:
            return ImageOutcome(ann.key, "differs", str(exc))
        if found.shape != expected.shape:
            return ImageOutcome(
                ann.key, "differs", f"{path}: size {found.shape[::-1]} != {expected.shape[::-1]}"
            )
        n = int(np.count_nonzero(found != expected))
        if n:
            return ImageOutcome(ann.key, "differs", f"{path}: {n} pixels differ")
    return ImageOutcome(ann.key, "ok")


def _write_overlay(ann: ImageAnnotation, classes: np.ndarray, path: Path) -> str:
    """Write the overlay; returns why it could not be made (no image), or ''."""
    from PIL import Image

    from polymask.visualize import overlay

    if ann.image_data is None and ann.image_path is None:
        return "no overlay: the image is outside the dataset folder"
    try:
        source = io.BytesIO(ann.image_data) if ann.image_data else as_path(ann.image_path).open("rb")
        with source, Image.open(source) as img:
            rgb = np.asarray(img.convert("RGB"))
        picture = overlay(rgb, classes)
    except (OSError, ValueError) as exc:
        return f"no overlay: {exc}"
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, "JPEG", quality=90)
    atomic_write(path, buf.getvalue())
    return ""
