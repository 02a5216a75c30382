"""Scoring predictions against the ground truth: the library behind ``score``.

Each side is a folder of masks, annotations or (predictions only) a COCO results file, read
into keyed sources and paired by :mod:`polymask.score.inputs`.

Every pair goes through one confusion engine (:mod:`polymask.score.confusion`), which checks its
values and counts it. On the CPU, and on any Dask cluster, each worker decodes a pair and counts
it with the engine's numpy backend where it was read, so only one small row of counts per image
comes back. With a CUDA device the workers only decode, and this process feeds the masks to the
engine's torch backend, which counts batches of about ``batch_pixels`` pixels with one bincount
on the GPU; it measures the surface distances (``--surface``) there too, with the torch exact
distance transform. Only the rows are kept, never masks, so memory grows by a few hundred bytes per
image whatever the image size.

Nothing here imports torch: the engine does, for a CUDA device only, so that CPU scoring starts
without paying for torch's import.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from polymask.errors import Problem, UsageError
from polymask.io.masks import MaskFile
from polymask.io.storage import as_path
from polymask.labels import LabelMap
from polymask.runtime.parallel import default_workers, is_cluster, pmap
from polymask.runtime.scratch import scratch
from polymask.score import metrics as M
from polymask.score.checks import without_predicted_ignore
from polymask.score.confusion import (
    MaskValueError,
    MatrixSum,
    NumpyConfusion,
    check_boundary,
    confusion_engine,
    resolve_device,
)
from polymask.score.pairing import MaskPair
from polymask.score.report import ScoreReport
from polymask.score.sources import (
    Drawing,
    DrawnMask,
    Source,
    SourceError,
    VolumeMask,
    check_grids,
    decode,
    open_source,
)
from polymask.score.summary import build_report
from polymask.score.types import PerImage, ScoreOptions

if TYPE_CHECKING:
    from polymask.score.volume_pairs import SurfaceOptions

CHUNK = 2
"""Pairs per task when workers send decoded masks back (a CUDA device counts them here): few,
so that masks in flight stay few."""
COUNT_CHUNK = 8
"""Pairs per task when workers count them and send back rows of counts: enough that pickling
the task and its results costs the parent a small part of a worker's time (~0.35 ms per pair
at 2 pairs per task, ~0.18 ms at 8, against ~1.4 ms of work per 1024x768 pair)."""


MAX_MATRIX_CLASSES = 1024
"""The most classes ``--confusion`` writes a matrix of (a million cells)."""
MAX_DEVICE_BINS = 1 << 26
"""The most (gt, pred) bins per image the torch backend counts; a label map with more classes
(ids in the tens of thousands) is counted by the workers, over the classes each image has."""


@dataclass
class ScoreResult:
    report: ScoreReport
    per_image: PerImage
    class_names: list[str]
    pairs: dict[str, MaskPair] = field(default_factory=dict)
    """The pairs of the worst images, to draw their error maps."""
    drawing: Drawing | None = None
    """How the pairs' annotations are drawn (None: every side is a mask file)."""
    confusion: np.ndarray | None = None
    """(C, C) pixels of each (true class, predicted class) over the pairs with a prediction,
    when asked for with ``ScoreOptions.confusion``."""
    label_note: str | None = None
    """Said when the classes were numbered from the labels found in annotations."""


@dataclass
class _Decoded:
    key: str
    gt: np.ndarray | None = None
    pred: np.ndarray | None = None
    problems: list[Problem] = field(default_factory=list)
    spacing: tuple[float, ...] | None = None
    """The ground truth's voxel spacing, where its header has one (a NIfTI volume)."""


def _open(source: Source, drawing: Drawing | None, out: _Decoded) -> MaskFile | DrawnMask | None:
    try:
        return open_source(source, drawing)
    except SourceError as exc:
        out.problems.extend(exc.problems)
        return None


def _read_pair(
    pair: MaskPair, out: _Decoded, drawing: Drawing | None, reuse: bool = False
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Both masks of a pair (the prediction None when it is missing), or None with the
    problems in ``out`` (unreadable, over the memory budget, sizes differ). The sizes of mask
    files are compared from their headers, before either mask is inflated. ``reuse``: decode
    into this thread's work arrays (:mod:`polymask.runtime.scratch`), for a caller done with
    the pair before the next."""
    buffers = (partial(scratch, "gt"), partial(scratch, "pred")) if reuse else (None, None)
    gt = _open(pair.gt, drawing, out)
    pred = _open(pair.pred, drawing, out) if pair.pred is not None else None
    if gt is None or (pair.pred is not None and pred is None):
        return None
    if isinstance(gt, VolumeMask):
        out.spacing = gt.meta.spacing
    if pred is not None and (isinstance(gt, VolumeMask) or isinstance(pred, VolumeMask)):
        try:
            check_grids(gt, pred)
        except SourceError as exc:
            out.problems.extend(exc.problems)
            return None
    elif pred is not None and (pred.width, pred.height) != (gt.width, gt.height):
        out.problems.append(
            Problem(
                str(pair.pred),
                f"size {pred.width}x{pred.height} differs from the ground truth "
                f"{pair.gt} ({gt.width}x{gt.height})",
            )
        )
        return None
    try:
        gt_mask = decode(gt, buffers[0])
        pred_mask = decode(pred, buffers[1]) if pred is not None else None
    except SourceError as exc:
        out.problems.extend(exc.problems)
        return None
    return gt_mask, pred_mask


def _decode(pair: MaskPair, drawing: Drawing | None) -> _Decoded:
    """Read one pair (runs in a worker) for this process's engine to check and count."""
    out = _Decoded(pair.key)
    masks = _read_pair(pair, out, drawing)
    if masks is not None:
        out.gt, out.pred = masks
    return out


@dataclass
class _Counted:
    key: str
    counts: np.ndarray | None = None
    problems: list[Problem] = field(default_factory=list)
    cells: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    """The pair's confusion matrix as its non-zero cells, when the run keeps the matrix."""
    surface: np.ndarray | None = None
    """(4, C) surface distances, with ``ScoreOptions.surface``."""


def _decode_and_count(
    pair: MaskPair,
    num_classes: int | None,
    ignore_index: int | None,
    boundary: float | None,
    drawing: Drawing | None,
    keep_matrix: bool,
    surface: SurfaceOptions | None = None,
    pred_ignore: str = "error",
) -> _Counted:
    """Decode, check and count one pair where it is read (a local or cluster worker), so that
    only its (k, C) row of counts crosses to this process, never the masks."""
    out = _Decoded(pair.key)
    masks = _read_pair(pair, out, drawing, reuse=True)
    if masks is None:
        return _Counted(pair.key, None, out.problems)
    if pred_ignore == "exclude":
        masks = without_predicted_ignore(*masks, ignore_index)
    engine = NumpyConfusion(num_classes, ignore_index, boundary, keep_matrix)
    try:
        spacing = _spacing(masks[0], out.spacing, surface)
    except ValueError as exc:  # a spacing given that the header contradicts
        return _Counted(pair.key, None, [Problem(str(pair.gt), str(exc))])
    try:
        engine.update(*masks, names=(pair.gt, pair.pred))
    except MaskValueError as exc:
        return _Counted(pair.key, None, exc.problems)
    cells = engine.matrix.cells() if engine.matrix is not None else None
    counted = _Counted(pair.key, engine.compute()[0], cells=cells)
    if surface is not None:
        counted.surface = _surface(masks, engine.c, ignore_index, surface, spacing)
    return counted


def _surface(masks, c: int, ignore_index, options: SurfaceOptions, spacing) -> np.ndarray:
    """(4, C) surface distances of a decoded pair (a missing prediction: an empty one)."""
    from polymask.score.volume_pairs import measure

    gt, pred = masks
    pred = np.zeros_like(gt) if pred is None else pred
    return measure(gt, pred, c, spacing, ignore_index, options)


def _spacing(
    gt: np.ndarray, header: tuple[float, ...] | None, surface: SurfaceOptions | None
) -> tuple[float, ...] | None:
    """The spacing of a decoded pair: its header's, checked against the one given, before the
    pair is counted (ValueError when they disagree); None without surface distances."""
    if surface is None:
        return None
    from polymask.score.volume_pairs import pair_spacing

    return pair_spacing(header, surface.spacing, gt.ndim)


def score_folders(
    preds: str | Path,
    gt: str | Path,
    options: ScoreOptions | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    **kwargs,
) -> ScoreResult:
    """Score the predictions in ``preds`` against the ground truth in ``gt``.

    Each is a folder of masks, annotations (a file or a folder) or, for ``preds``, a COCO
    results file (:mod:`polymask.score.inputs`). Options come as a :class:`ScoreOptions` or as
    its fields by keyword (``score_folders(p, g, empty="one", device="cpu")``).
    ``on_progress(done, total)`` is called after each pair, to drive a progress bar.
    Problems with files (unreadable, sizes differ, values outside the label map) are collected
    in the report; the other files are scored.
    """
    # reading annotations needs the format readers and the rasterizer: imported here, so that
    # workers scoring mask files (which import this module) never load them
    from polymask.score.inputs import check_sides, open_side, pair_sides, side_label_map

    options = options or ScoreOptions(**kwargs)
    preds, gt = as_path(preds), as_path(gt)
    if options.missing not in ("error", "zero", "skip"):
        raise UsageError(
            "Expected argument `missing` to be one of ('error', 'zero', 'skip'), "
            f"but got {options.missing!r}."
        )
    settings = _settings(options)
    try:
        M.check_empty(options.empty)
        check_boundary(options.boundary)
        device = _engine_device(options)
        gt_side = open_side(gt, settings, options.gt_as, "GT")
        pred_side = open_side(preds, settings, options.preds_as, "PREDS", options.min_score)
        check_sides(pred_side, gt_side)
        label_map, note = side_label_map(settings, pred_side, gt_side, options.labels)
        pairing = pair_sides(pred_side, gt_side)
    except (ValueError, NotADirectoryError) as exc:
        raise UsageError(str(exc)) from None
    if label_map is not None:
        ignore = label_map.ignore_index
        num_classes = max(label_map.ids.values(), default=0) + 1
    else:
        ignore = options.ignore_index
        num_classes = None
    if options.confusion and (num_classes or 0) > MAX_MATRIX_CLASSES:
        raise UsageError(
            f"--confusion: the label map reaches class id {num_classes - 1}; a matrix of every "
            f"id up to it is too large to write (at most {MAX_MATRIX_CLASSES} classes)"
        )
    if device is not None and num_classes is not None and num_classes**2 > MAX_DEVICE_BINS:
        device = None  # the device counts every (gt, pred) bin; numpy only the classes present
    drawing = None
    if gt_side.kind != "masks" or pred_side.kind != "masks":
        drawing = Drawing(settings, label_map)
    work = list(pairing.pairs)
    if options.missing == "zero":
        work += [MaskPair(k, source, None) for k, source in pairing.missing.items()]
    if options.missing == "error":
        pairing.problems += [
            Problem(str(source), "no prediction for this ground truth")
            for source in pairing.missing.values()
        ]
    progress = (lambda done: on_progress(done, len(work))) if on_progress else None
    matrix = MatrixSum() if options.confusion else None
    run = _Run(drawing, matrix, pairing.problems, progress)
    if device is None:
        rows, c = _count_in_workers(work, num_classes, ignore, options, run)
    else:
        engine = confusion_engine(
            num_classes, ignore, options.boundary, device, options.batch_pixels, options.confusion
        )
        rows, c = _count_here(work, engine, options, run)
        matrix = engine.matrix
    per_image = _per_image(rows, c, options.boundary)
    names = _class_names(label_map, c)
    report = build_report(preds, gt, pairing, per_image, names, options, ignore)
    confusion = matrix.value(c) if matrix is not None else None
    if confusion is not None:
        report.confusion = confusion.tolist()
    worst = {w.key for w in report.worst}
    return ScoreResult(
        report,
        per_image,
        names,
        {p.key: p for p in work if p.key in worst},
        drawing,
        confusion,
        note,
    )


def _settings(options: ScoreOptions):
    """How annotations are read and drawn: the options' settings (the defaults where a
    library caller gave none), with the scorer's own ignore index, workers and scheduler."""
    from dataclasses import replace

    from polymask.settings import Settings

    return replace(
        options.settings or Settings(),
        ignore_index=options.ignore_index,
        workers=options.workers,
        scheduler=options.scheduler,
    )


@dataclass
class _Run:
    """What the counting loops share: how sources are drawn, the matrix being summed, where
    problems go and the progress callback."""

    drawing: Drawing | None
    matrix: MatrixSum | None
    problems: list[Problem]
    progress: Callable[[int], None] | None


DASK_CUDA = (
    "--device cuda counts on this machine's GPU; with a Dask scheduler the workers count on "
    "their CPUs: use --device cpu or the processes scheduler"
)


def _engine_device(options: ScoreOptions) -> str | None:
    """The torch device of this process's engine, or None where the workers count with numpy.

    A Dask cluster's workers count on their CPUs whatever this machine has: ``auto`` means the
    CPU there, and an explicit CUDA device is refused rather than silently not used."""
    if is_cluster(options.scheduler):
        if options.device.partition(":")[0] == "cuda":
            raise ValueError(DASK_CUDA)
        return resolve_device("cpu" if options.device == "auto" else options.device)
    return resolve_device(options.device)


Rows = list[tuple[str, np.ndarray, np.ndarray | None]]
"""(key, counts, surface) per scored image: one small (k, C) int64 array each, k = 3 or 6 with
bands, and (4, C) surface distances when measured."""


def _count_in_workers(work, num_classes, ignore, options, run: _Run) -> tuple[Rows, int]:
    """Count where the masks are decoded: only a (k, C) row per image comes back, where sending
    two decoded masks to this process would cost more than decoding them."""
    count = partial(
        _decode_and_count,
        num_classes=num_classes,
        ignore_index=ignore,
        boundary=options.boundary,
        drawing=run.drawing,
        keep_matrix=run.matrix is not None,
        surface=options.surface,
        pred_ignore=options.pred_ignore,
    )
    rows, c = [], num_classes or 1
    results = pmap(count, work, options.workers, COUNT_CHUNK, options.scheduler)
    for done, counted in enumerate(results, 1):
        run.problems += counted.problems
        if counted.counts is not None:
            rows.append((counted.key, counted.counts, counted.surface))
            c = max(c, counted.counts.shape[1])
        if counted.cells is not None:
            run.matrix.add_cells(counted.cells)
        if run.progress:
            run.progress(done)
    return rows, c


def _count_here(work, engine, options, run: _Run) -> tuple[Rows, int]:
    """Workers decode; this process's engine checks and counts (on its device), and measures
    the surface distances there too, with the exact distance transform of the torch backend."""
    pairs = {p.key: p for p in work}
    keys = []
    surfaces: list[np.ndarray | None] = []
    surface = options.surface
    if surface is not None:
        surface = replace(surface, backend="torch", device=str(engine.device))
    problems, progress = run.problems, run.progress
    items = _Bounded(work, 3 * CHUNK * (options.workers or default_workers()))
    results = pmap(
        partial(_decode, drawing=run.drawing), items, options.workers, CHUNK, options.scheduler
    )
    try:
        for done, item in enumerate(results, 1):
            items.consumed()
            problems += item.problems
            if item.gt is not None:
                if options.pred_ignore == "exclude":
                    item.gt, item.pred = without_predicted_ignore(
                        item.gt, item.pred, engine.ignore_index
                    )
                counted = _count_decoded(item, pairs[item.key], engine, surface)
                problems += counted.problems
                if not counted.problems:
                    keys.append(item.key)
                    surfaces.append(counted.surface)
            if progress:
                progress(done)
    finally:  # an error or Ctrl-C here: the pool's feeder may wait at the gate, free it first
        items.stop()
        results.close()
    rows = zip(keys, engine.compute(), surfaces, strict=True)
    return [(k, row, measured) for k, row, measured in rows], engine.c


def _count_decoded(
    item: _Decoded, pair: MaskPair, engine, surface: SurfaceOptions | None
) -> _Counted:
    """One decoded pair into ``engine``, whose counts it keeps until ``compute``, and its surface
    distances; only problems when its spacing or values are wrong."""
    try:
        spacing = _spacing(item.gt, item.spacing, surface)
    except ValueError as exc:  # a spacing given that the header contradicts
        return _Counted(item.key, None, [Problem(str(pair.gt), str(exc))])
    try:
        engine.update(item.gt, item.pred, names=(pair.gt, pair.pred))
    except MaskValueError as exc:
        return _Counted(item.key, None, exc.problems)
    counted = _Counted(item.key)
    if surface is not None:
        masks = (item.gt, item.pred)
        counted.surface = _surface(masks, engine.c, engine.ignore_index, surface, spacing)
    return counted


def _per_image(rows: Rows, num_classes: int, boundary: float | None) -> PerImage:
    """The rows as (N, C) arrays in key order; rows counted before C grew are padded (with
    NaN, undefined, for the surface distances)."""
    rows.sort(key=lambda r: r[0])
    table = np.zeros((6 if boundary is not None else 3, len(rows), num_classes), np.int64)
    surface = None
    if rows and rows[0][2] is not None:
        surface = np.full((len(rows), rows[0][2].shape[0], num_classes), np.nan)
    for i, (_, counts, distances) in enumerate(rows):
        table[:, i, : counts.shape[1]] = counts
        if surface is not None:
            surface[i, :, : distances.shape[1]] = distances
    per_image = PerImage([k for k, _, _ in rows], *table)
    per_image.surface = surface
    return per_image


class _Bounded:
    """The pairs, iterated at most ``limit`` ahead of the results consumed (call
    :meth:`consumed` once per result).

    A process pool takes its inputs as fast as its workers run and queues their results; when
    decoding outpaces counting, decoded masks would pile up in memory. Here the pool's feeder
    thread waits until the parent has taken results, so memory stays flat however many images.
    A run that ends early must call :meth:`stop`: the pool, when stopped, waits for its feeder,
    which would otherwise wait at the gate for ever.
    """

    def __init__(self, work: list[MaskPair], limit: int):
        self._work, self._gate, self._stopped = work, threading.Semaphore(limit), False

    def __iter__(self) -> Iterator[MaskPair]:
        for pair in self._work:
            self._gate.acquire()
            if self._stopped:
                return
            yield pair

    def consumed(self) -> None:
        self._gate.release()

    def stop(self) -> None:
        self._stopped = True
        self._gate.release()


def _class_names(label_map: LabelMap | None, num_classes: int) -> list[str]:
    names = label_map.names if label_map is not None else {}
    return [names.get(i, "background" if i == 0 else str(i)) for i in range(num_classes)]
