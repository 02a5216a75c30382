"""Image items to mask files on disk: the library behind ``polymask rasterize``.

The dataset is first read into items (:mod:`polymask.dataset`); each item is then handled on
its own (in a worker process when there are several): read if not read yet, burn, write
atomically. An item that fails costs that mask alone. A mask is skipped when the fingerprint
stored in it says it was made from the same annotation bytes with the same settings, so a
rerun after an interruption finishes the job and an unchanged dataset costs one header read
per mask.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np

from polymask import __version__
from polymask.dataset import Item, read_dataset, read_item
from polymask.errors import AnnotationError, Problem, UsageError
from polymask.formats import TAKES_OPTIONS, InputFile
from polymask.io.masks import MaskReadError, read_fingerprint, read_mask, write_png
from polymask.io.ownership import (
    ERROR_MAP_MARK,
    OVERLAY_COMMENT,
    REFUSED_CODE,
    ForeignFile,
    check_free_or_ours,
    is_free_or_ours,
)
from polymask.io.storage import atomic_write, file_sha256, is_local
from polymask.io.walk import walk_files
from polymask.labels import LabelMap
from polymask.model import ImageAnnotation
from polymask.raster import burn
from polymask.runtime.parallel import RunReport, pmap
from polymask.settings import Settings

Status = Literal["written", "skipped", "ok", "missing", "differs", "failed"]


@dataclass(frozen=True)
class RasterizeOptions:
    """Where and how masks are written; what they contain is decided by ``settings`` and
    ``label_map`` (:mod:`polymask.settings`)."""

    out_dir: Path
    label_map: LabelMap
    settings: Settings = field(default_factory=Settings)
    instances_dir: Path | None = None
    overlay_dir: Path | None = None
    force: bool = False
    check: bool = False
    mask_format: Literal["png", "tif"] | None = None
    """None: GeoTIFF aligned with ``--reference`` for GeoJSON given one, else PNG."""


@dataclass
class ImageOutcome:
    key: str
    status: Status
    detail: str = ""


@dataclass
class Outcome:
    """What happened to one item: small, so it travels back from workers cheaply."""

    source: str
    images: list[ImageOutcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def rasterize_files(
    files: Sequence[InputFile], options: RasterizeOptions, report: RunReport | None = None
) -> Iterator[Outcome]:
    """Index ``files`` into items (:func:`~polymask.dataset.read_dataset`) and rasterize them:
    for library callers who hold a label map already. What indexing met (files that cannot be
    read, key collisions) comes first, as outcomes of their own."""
    dataset = read_dataset(files, options.settings)
    for problem in dataset.problems:
        yield Outcome(problem.file, problems=[problem])
    yield from rasterize_items(dataset.items, options, report)


def rasterize_items(
    items: Iterable[Item], options: RasterizeOptions, report: RunReport | None = None
) -> Iterator[Outcome]:
    """Rasterize every item, yielding outcomes as they finish (order not guaranteed), with the
    workers and scheduler of ``options.settings``."""
    work = partial(rasterize_item, options=options)
    s = options.settings
    yield from pmap(work, items, s.workers, scheduler=s.scheduler, report=report)


def rasterize_item(item: Item, options: RasterizeOptions) -> Outcome:
    outcome = Outcome(str(item.source.path))
    try:
        data_hash = item.source_hash or file_sha256(item.source.path)
        if _unchanged_single_image(item, data_hash, options):
            outcome.images.append(ImageOutcome(item.key, "skipped"))
            return outcome
        annotations = read_item(item, options.settings, outcome.problems)
        frame = _geotiff_frame(item.fmt, options)
    except AnnotationError as exc:
        outcome.problems.extend(exc.problems)
        outcome.images.append(ImageOutcome(item.key, "failed"))
        return outcome
    except OSError as exc:
        outcome.problems.append(
            Problem(str(item.source.path), f"cannot read: {exc.strerror or exc}", code="PM002")
        )
        outcome.images.append(ImageOutcome(item.key, "failed"))
        return outcome
    settings = options.settings
    convention, order = settings.convention_for(item.fmt), settings.order_for(item.fmt)
    for ann in annotations:
        outcome.problems.extend(ann.warnings)  # reported, but the mask is still made
        if ann.errors:
            outcome.problems.extend(ann.errors)
            outcome.images.append(ImageOutcome(item.key, "failed"))
            continue
        fingerprint = _fingerprint(data_hash, item.key, convention, order, item.fmt, options)
        try:
            if options.check:
                outcome.images.append(_check(ann, item.key, convention, order, frame, options))
            else:
                outcome.images.append(
                    _write(ann, item.key, convention, order, frame, fingerprint, options)
                )
        except AnnotationError as exc:
            outcome.problems.extend(exc.problems)
            outcome.images.append(ImageOutcome(item.key, "failed"))
        except ForeignFile as exc:
            outcome.problems.append(Problem(exc.path, exc.reason, code=REFUSED_CODE))
            outcome.images.append(ImageOutcome(item.key, "failed"))
    return outcome


def _unchanged_single_image(item: Item, data_hash: str, options: RasterizeOptions) -> bool:
    """Whether the masks of a one-image file are up to date, judged before parsing it.

    The fingerprint depends on the file's bytes, its key and the settings only, so for these
    items it is known before the file is parsed: an unchanged dataset costs a hash and a PNG
    header read per file instead of a JSON parse (about 5x faster on the benchmark set).
    """
    unread = item.annotation is None and item.entry is None
    if not unread or options.force or options.check:
        return False
    settings = options.settings
    convention, order = settings.convention_for(item.fmt), settings.order_for(item.fmt)
    fingerprint = _fingerprint(data_hash, item.key, convention, order, item.fmt, options)
    cls_path, inst_path, over_path = _paths(item.key, options)
    return _up_to_date(fingerprint, _marks(None, cls_path, inst_path), over_path)


def _geotiff_frame(fmt: str, options: RasterizeOptions):
    """The reference grid masks are written on as GeoTIFFs, or None for PNG masks."""
    reference = options.settings.format_options.reference
    if fmt != "geojson" or not reference or options.mask_format == "png":
        return None
    from polymask.io.geotiff import reference_frame

    try:
        return reference_frame(reference)
    except ValueError as exc:  # the loader read it a moment ago, but it may have changed since
        raise AnnotationError([Problem(reference, str(exc), code="PM028")]) from None


def _fingerprint(
    data_hash: str, key: str, convention: str, order: str, fmt: str, options: RasterizeOptions
) -> str:
    lm = options.label_map
    settings = (
        f"{__version__}|{data_hash}|{key}|{convention}|{order}|{options.settings.unknown}|"
        f"{lm.ignore_index}|{sorted(lm.ids.items())}"
    )
    if fmt in TAKES_OPTIONS:  # only where they matter
        settings += f"|{options.settings.format_options.describe()}|{options.mask_format}"
    return "sha256:" + hashlib.sha256(settings.encode()).hexdigest()


def check_targets(items: Iterable[Item], options: RasterizeOptions) -> None:
    """Refuse, before any work, a run that would replace files polymask did not write.

    Every item's outputs are known from its key (``OUT/<key>.png``), so all of them are checked
    here: ``-o`` pointing at a folder of photos stops before the first write. (GeoTIFF masks,
    named only once their reference grid is read, are checked again where they are written.)
    Raises :class:`~polymask.errors.UsageError` naming the first refused path.
    """
    if options.instances_dir is not None and _same_folder(options.instances_dir, options.out_dir):
        raise UsageError(
            "--instances and -o/--output name one folder: instance maps would "
            "replace the class masks"
        )
    refused: list[str] = []
    for item in items:
        cls, inst, over = _paths(item.key, options)
        refused += [
            str(path)
            for path, kind in ((cls, "mask"), (inst, "mask"), (over, "overlay"))
            if path is not None and not is_free_or_ours(path, kind)
        ]
    if refused:
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        raise UsageError(
            f"{refused[0]}: exists and was not written by polymask; refusing to replace it{more}"
        )


def label_file_change(out_dir: Path, label_map: LabelMap, force: bool) -> bool:
    """Whether ``OUT/labels.txt`` must be (re)written; refuse to replace a different map.

    The map beside the masks says what their pixel values mean. One that differs from this
    run's belongs to other masks (``-o`` pointed at another dataset's folder, or the user's own
    labels file), or this run's ids moved (a class added): replacing it silently would lose
    that file or give old masks a wrong meaning, so it takes ``--force``. Raises
    :class:`~polymask.errors.UsageError`.
    """
    path = out_dir / "labels.txt"
    if not path.exists():
        return True
    if not path.is_file():
        raise UsageError(f"{path}: exists and is not a regular file; refusing to replace it")
    try:
        found = LabelMap.from_file(path, label_map.ignore_index)
    except UsageError:
        found = None
    if found == label_map:
        return False
    if force:
        return True
    differ = _first_difference(found, label_map) if found is not None else "it is not a label map"
    raise UsageError(
        f"{path}: holds another label map ({differ}); the masks beside it were made with it. "
        "Refusing to replace it: use another -o folder, or --force to rewrite the masks "
        "with this run's ids"
    )


def _first_difference(old: LabelMap, new: LabelMap) -> str:
    for name, i in sorted(new.ids.items(), key=lambda kv: kv[1]):
        if name not in old.ids:
            return f"no {name!r} there, {i} now"
        if old.ids[name] != i:
            return f"{name!r} is {old.ids[name]} there, {i} now"
    gone = next(iter(sorted(set(old.ids) - set(new.ids))))
    return f"{gone!r} is {old.ids[gone]} there, not in this run's map"


def _same_folder(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve() if is_local(a) and is_local(b) else str(a) == str(b)


def _paths(key: str, options: RasterizeOptions, frame=None):
    ext = "tif" if frame is not None else "png"
    cls = options.out_dir / f"{key}.{ext}"
    inst = options.instances_dir / f"{key}.{ext}" if options.instances_dir else None
    over = options.overlay_dir / f"{key}.jpg" if options.overlay_dir else None
    return cls, inst, over


def _write(
    ann: ImageAnnotation,
    key: str,
    convention: str,
    order: str,
    frame,
    fingerprint: str,
    options: RasterizeOptions,
):
    cls_path, inst_path, over_path = _paths(key, options, frame)
    marks = _marks(frame, cls_path, inst_path)
    if not options.force and _up_to_date(fingerprint, marks, over_path):
        return ImageOutcome(key, "skipped")
    for path, kind in ((cls_path, "mask"), (inst_path, "mask"), (over_path, "overlay")):
        if path is not None and marks.get(path) in (None, ERROR_MAP_MARK):  # else ours: read
            check_free_or_ours(path, kind)
    r = _burn(ann, convention, order, options, instances=inst_path is not None)
    detail = ""
    if over_path is not None:
        detail = _write_overlay(ann, r.classes, over_path)
    if inst_path is not None:
        _save(inst_path, r.instances, frame, fingerprint, palette=False)
    _save(cls_path, r.classes, frame, fingerprint)  # last: its fingerprint marks the image done
    return ImageOutcome(key, "written", detail)


def _save(path: Path, array: np.ndarray, frame, fingerprint: str, palette: bool = True) -> None:
    """A PNG mask, or a GeoTIFF on the reference grid ``frame``."""
    if frame is None:
        write_png(path, array, fingerprint, palette)
    else:
        from polymask.io.geotiff import write_geotiff

        write_geotiff(path, array, frame, fingerprint, palette)


def _stored_fingerprint(path: Path, frame) -> str | None:
    """The fingerprint of a mask file, or None where there is none to trust: a PNG must be
    intact (a byte flipped in its pixels would leave the fingerprint chunk as it was, and the
    broken mask would be skipped on every rerun); a GeoTIFF's is read as it is."""
    if frame is None:
        return read_fingerprint(path, intact=True)
    from polymask.io.geotiff import read_geotiff_fingerprint

    return read_geotiff_fingerprint(path)


def _marks(frame, *paths: Path | None) -> dict[Path, str | None]:
    """The fingerprint of each mask path given (None: missing, damaged or not a mask), read
    once for both questions asked of it: is it up to date, and is it polymask's to replace."""
    return {p: _stored_fingerprint(p, frame) for p in paths if p is not None}


def _up_to_date(fingerprint: str, marks: dict[Path, str | None], over_path: Path | None) -> bool:
    return all(mark == fingerprint for mark in marks.values()) and (
        over_path is None or over_path.exists()
    )


def _burn(
    ann: ImageAnnotation, convention: str, order: str, options: RasterizeOptions, instances: bool
):
    """The maps of one image, as both writing and ``--check`` draw them."""
    return burn(ann, options.label_map, convention, order, options.settings.unknown, instances)


def _check(
    ann: ImageAnnotation, key: str, convention: str, order: str, frame, options: RasterizeOptions
) -> ImageOutcome:
    cls_path, inst_path, _ = _paths(key, options, frame)
    r = _burn(ann, convention, order, options, instances=inst_path is not None)
    for path, expected in ((cls_path, r.classes), (inst_path, r.instances)):
        if path is None:
            continue
        if not path.exists():
            return ImageOutcome(key, "missing", str(path))
        try:
            found = read_mask(path) if frame is None else _read_geotiff_mask(path)
        except MaskReadError as exc:
            return ImageOutcome(key, "differs", str(exc))
        if found.shape != expected.shape:
            return ImageOutcome(
                key, "differs", f"{path}: size {found.shape[::-1]} != {expected.shape[::-1]}"
            )
        n = int(np.count_nonzero(found != expected))
        if n:
            return ImageOutcome(key, "differs", f"{path}: {n} pixels differ")
    return ImageOutcome(key, "ok")


def find_orphans(options: RasterizeOptions, keys: set[str]) -> list[Path]:
    """Masks in the output folders that no annotation produces any more (its annotation was
    deleted or renamed): for ``--check``, which otherwise looks only at the masks the
    annotations name. Only files polymask wrote count (they carry a fingerprint); other files,
    labels.txt among them, are not ours to judge."""
    orphans = []
    outputs = [d for d in (options.out_dir, options.instances_dir, options.overlay_dir) if d]
    for folder in (options.out_dir, options.instances_dir):
        if folder is None or not folder.is_dir():
            continue
        inside = [d for d in outputs if d != folder and d.is_relative_to(folder)]
        for path in walk_files(folder, (".png", ".tif"), []):
            if any(path.is_relative_to(d) for d in inside):
                continue  # another output folder's files (-o out --instances out/inst)
            key = path.relative_to(folder).with_suffix("").as_posix()
            if key not in keys and is_free_or_ours(path, "mask"):  # exists: so ours
                orphans.append(path)
    return orphans


def _read_geotiff_mask(path: Path) -> np.ndarray:
    from rasterio.errors import RasterioError

    from polymask.io.geotiff import read_geotiff

    try:
        return read_geotiff(path)
    except (OSError, RasterioError) as exc:
        raise MaskReadError(f"{path}: cannot read GeoTIFF: {exc}") from exc


def _write_overlay(ann: ImageAnnotation, classes: np.ndarray, path: Path) -> str:
    """Write the overlay; returns why it could not be made (no image, or one that cannot be
    read at the mask's size within the budget), or ''. The image is read upright by its EXIF
    orientation, the frame its annotation was drawn in (:mod:`polymask.io.images`)."""
    from PIL import Image

    from polymask.io.images import read_upright
    from polymask.visualize import overlay

    if ann.image_data is None and ann.image_path is None:
        return "no overlay: the image is outside the dataset folder"
    if ann.image_data:
        source, name = ann.image_data, "imageData"
    else:
        source, name = ann.image_path, f"image {ann.image_path}"
    try:
        rgb = read_upright(source, classes.shape[::-1], name, OVERLAY_COST)
        picture = overlay(rgb, classes)
    except (OSError, ValueError) as exc:
        return f"no overlay: {exc}"
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, "JPEG", quality=90, comment=OVERLAY_COMMENT)
    atomic_write(path, buf.getvalue())
    return ""


OVERLAY_COST = 12
"""Bytes a pixel of the largest array an overlay makes (its float32 RGB picture): the image
is decoded only when that array fits the memory budget (:mod:`polymask.limits`)."""
