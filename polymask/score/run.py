"""Scoring a folder of predicted masks against the ground truth: the library behind ``score``.

Worker processes decode and check each pair of masks. On the CPU they count it too and send back
one small row of counts per image; with a CUDA device the parent stacks decoded pairs into
batches of about ``batch_pixels`` pixels and counts each batch with one bincount on the GPU
(:mod:`polymask.score.confusion`). Only small per-image rows of counts are kept, never masks,
so memory grows by a few hundred bytes per image whatever the image size.

Nothing here imports torch at module level: :func:`polymask.score.confusion.resolve_device` does,
when a run starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from polymask.errors import Problem, UsageError
from polymask.io.masks import MaskReadError, read_mask
from polymask.io.storage import as_path
from polymask.labels import LabelMap
from polymask.runtime.parallel import default_workers, pmap
from polymask.runtime.scratch import scratch
from polymask.score import metrics as M
from polymask.score.checks import ArrayValues, CountedValues, value_problems
from polymask.score.confusion import (
    band_counts,
    byte_table,
    check_boundary,
    confusion_batch,
    confusion_from_table,
    resolve_device,
)
from polymask.score.pairing import MaskPair, pair_folders
from polymask.score.report import ScoreReport
from polymask.score.summary import build_report
from polymask.score.types import PerImage, ScoreOptions

CHUNK = 2
"""Pairs per task when workers send decoded masks back (a CUDA device counts them here): few,
so that masks in flight stay few."""
COUNT_CHUNK = 8
"""Pairs per task when workers count them and send back rows of counts: enough that pickling
the task and its results costs the parent a small part of a worker's time (~0.35 ms per pair
at 2 pairs per task, ~0.18 ms at 8, against ~1.4 ms of work per 1024x768 pair)."""


@dataclass
class ScoreResult:
    report: ScoreReport
    per_image: PerImage
    class_names: list[str]
    pairs: dict[str, MaskPair] = field(default_factory=dict)
    """The pairs of the worst images, to draw their error maps."""


@dataclass
class _Decoded:
    key: str
    gt: np.ndarray | None = None
    pred: np.ndarray | None = None
    max_value: int = 0
    problems: list[Problem] = field(default_factory=list)


def _read(
    path: Path, out: _Decoded, buffer: Callable[[int], np.ndarray] | None
) -> np.ndarray | None:
    try:
        return read_mask(path, buffer)
    except MaskReadError as exc:
        out.problems.append(Problem(str(path), str(exc).removeprefix(f"{path}: ")))
        return None


def _read_pair(
    pair: MaskPair, out: _Decoded, reuse: bool = False
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Both masks of a pair (the prediction None when it is missing), or None with the
    problems in ``out`` (unreadable, sizes differ). ``reuse``: decode into this thread's
    work arrays (:mod:`polymask.runtime.scratch`), for a caller done with the pair before the
    next."""
    buffers = (partial(scratch, "gt"), partial(scratch, "pred")) if reuse else (None, None)
    gt = _read(pair.gt, out, buffers[0])
    pred = _read(pair.pred, out, buffers[1]) if pair.pred is not None else None
    if gt is None or (pair.pred is not None and pred is None):
        return None
    if pred is not None and pred.shape != gt.shape:
        out.problems.append(
            Problem(
                str(pair.pred),
                f"size {pred.shape[1]}x{pred.shape[0]} differs from the ground truth "
                f"{pair.gt} ({gt.shape[1]}x{gt.shape[0]})",
            )
        )
        return None
    return gt, pred


def _decode(pair: MaskPair, num_classes: int | None, ignore_index: int | None) -> _Decoded:
    """Read and check one pair (runs in a worker). ``num_classes`` None: classes discovered."""
    out = _Decoded(pair.key)
    masks = _read_pair(pair, out)
    return out if masks is None else _checked(out, pair, *masks, num_classes, ignore_index)


def _checked(out: _Decoded, pair: MaskPair, gt, pred, num_classes, ignore_index) -> _Decoded:
    """``out`` with the pair's masks when their values are class ids, else with problems."""
    out.problems, out.max_value = value_problems(
        (pair.gt, ArrayValues(gt)),
        (pair.pred, ArrayValues(pred)) if pred is not None else None,
        num_classes,
        ignore_index,
    )
    if not out.problems:
        out.gt, out.pred = gt, pred
    return out


class _Accumulator:
    """Per-image rows, counted a batch at a time; C may grow while classes are discovered."""

    def __init__(self, options: ScoreOptions, device: str | None, num_classes: int):
        self.options, self.device, self.c = options, device, num_classes
        self.ignore = options.ignore_index
        self.rows: list[tuple[str, np.ndarray]] = []
        """(key, counts): one small (k, C) int64 array per image, k = 3 or 6 with bands."""
        self.batch: list[_Decoded] = []
        self.pixels = 0

    def add(self, item: _Decoded) -> None:
        self.batch.append(item)
        self.c = max(self.c, item.max_value + 1)
        self.pixels += item.gt.size
        if self.pixels >= self.options.batch_pixels:
            self.flush()

    def flush(self) -> None:
        scored = [d for d in self.batch if d.pred is not None]
        zero = [d for d in self.batch if d.pred is None]
        self.batch, self.pixels = [], 0
        if scored:
            counts = self._count([(d.gt, d.pred) for d in scored])
            for i, d in enumerate(scored):
                tp, fp, fn = M.counts_from_confusion(counts.confusion[i])
                self.rows.append((d.key, np.stack([tp, fp, fn, *self._bands(counts, i, False)])))
        if zero:
            # a missing prediction under --missing zero: every ground-truth pixel is a false
            # negative; scoring gt against itself gives those pixels (and the gt band) per class.
            # Its ignored pixels need a valid stand-in prediction; they are not counted.
            counts = self._count([(d.gt, self._stand_in(d.gt)) for d in zero])
            for i, d in enumerate(zero):
                fn = counts.confusion[i].sum(axis=1)
                none = np.zeros_like(fn)
                self.rows.append((d.key, np.stack([none, none, fn, *self._bands(counts, i, True)])))

    def _stand_in(self, gt: np.ndarray) -> np.ndarray:
        return np.where(gt == self.ignore, 0, gt) if self.ignore is not None else gt

    def _count(self, pairs):
        return confusion_batch(pairs, self.c, self.ignore, self.device, self.options.boundary)

    def _bands(self, counts, i: int, missing: bool) -> list[np.ndarray]:
        if counts.band_gt is None:
            return []
        g = counts.band_gt[i]
        if missing:
            return [g, np.zeros_like(g), np.zeros_like(g)]
        return [g, counts.band_pred[i], counts.band_hit[i]]

    def per_image(self) -> PerImage:
        self.rows.sort(key=lambda r: r[0])
        n_arrays = 6 if self.options.boundary is not None else 3
        table = np.zeros((n_arrays, len(self.rows), self.c), dtype=np.int64)
        for i, (_, counts) in enumerate(self.rows):
            table[:, i, : counts.shape[1]] = counts  # rows counted before C grew are padded
        return PerImage([k for k, _ in self.rows], *table)


@dataclass
class _Counted:
    key: str
    counts: np.ndarray | None = None
    problems: list[Problem] = field(default_factory=list)


def _decode_and_count(
    pair: MaskPair, num_classes: int | None, ignore_index: int | None, options: ScoreOptions
) -> _Counted:
    """Decode, check and count one pair where it is read (on a cluster worker), so that only
    its (k, C) row of counts crosses the network, never the masks.

    A pair of 8-bit masks is counted into one joint histogram first, which both checks its
    values and holds its confusion matrix: one pass over the pixels for both jobs."""
    out = _Decoded(pair.key)
    masks = _read_pair(pair, out, reuse=True)
    if masks is None:
        return _Counted(out.key, None, out.problems)
    gt, pred = masks
    if pred is None or not gt.dtype == pred.dtype == np.uint8:
        item = _checked(out, pair, gt, pred, num_classes, ignore_index)
        if item.gt is None:
            return _Counted(item.key, None, item.problems)
        c = max(num_classes or 1, item.max_value + 1)
        acc = _Accumulator(replace(options, ignore_index=ignore_index), None, c)
        acc.add(item)
        acc.flush()
        return _Counted(item.key, acc.rows[0][1])
    table = byte_table(gt, pred)
    problems, max_value = value_problems(
        (pair.gt, CountedValues(table.sum(axis=1))),
        (pair.pred, CountedValues(table.sum(axis=0))),
        num_classes,
        ignore_index,
    )
    if problems:
        return _Counted(out.key, None, problems)
    c = max(num_classes or 1, max_value + 1)
    rows = list(M.counts_from_confusion(confusion_from_table(table, c, ignore_index)))
    if options.boundary is not None:
        rows += band_counts(gt, pred, c, ignore_index, options.boundary)
    return _Counted(out.key, np.stack(rows))


def _label_map(gt: Path, options: ScoreOptions) -> LabelMap | None:
    if options.labels is not None:
        return options.labels
    if (gt / "labels.txt").is_file():
        return LabelMap.from_file(gt / "labels.txt", options.ignore_index)
    return None


def score_folders(
    preds: str | Path,
    gt: str | Path,
    options: ScoreOptions | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    **kwargs,
) -> ScoreResult:
    """Score every prediction in ``preds`` against its ground truth in ``gt``.

    Options come as a :class:`ScoreOptions` or as its fields by keyword
    (``score_folders(p, g, empty="one", device="cpu")``). ``on_progress(done, total)`` is called
    after each pair, to drive a progress bar.
    Problems with files (unreadable, sizes differ, values outside the label map) are collected
    in the report; the other files are scored.
    """
    options = options or ScoreOptions(**kwargs)
    preds, gt = as_path(preds), as_path(gt)
    if options.missing not in ("error", "zero", "skip"):
        raise UsageError(
            "Expected argument `missing` to be one of ('error', 'zero', 'skip'), "
            f"but got {options.missing!r}."
        )
    try:
        M.check_empty(options.empty)
        check_boundary(options.boundary)
        device = resolve_device(options.device)
        pairing = pair_folders(preds, gt)
    except (ValueError, NotADirectoryError) as exc:
        raise UsageError(str(exc)) from None
    label_map = _label_map(gt, options)
    if label_map is not None:
        ignore = label_map.ignore_index
        num_classes = max(label_map.ids.values(), default=0) + 1
    else:
        ignore = options.ignore_index
        num_classes = None
    work = list(pairing.pairs)
    if options.missing == "zero":
        work += [MaskPair(k, path, None) for k, path in pairing.missing.items()]
    if options.missing == "error":
        pairing.problems += [
            Problem(str(path), "no prediction for this ground truth")
            for path in pairing.missing.values()
        ]
    acc = _Accumulator(replace(options, ignore_index=ignore), device, num_classes or 1)
    if device in (None, "cpu") or options.scheduler == "dask" or "://" in options.scheduler:
        # Count where the masks are decoded: only a (k, C) row per image comes back, where
        # sending two decoded masks to this process would cost more than decoding them.
        count = partial(
            _decode_and_count, num_classes=num_classes, ignore_index=ignore, options=options
        )
        results = pmap(count, work, options.workers, COUNT_CHUNK, options.scheduler)
        for done, counted in enumerate(results, 1):
            pairing.problems += counted.problems
            if counted.counts is not None:
                acc.rows.append((counted.key, counted.counts))
                acc.c = max(acc.c, counted.counts.shape[1])
            if on_progress:
                on_progress(done, len(work))
    else:
        decode = partial(_decode, num_classes=num_classes, ignore_index=ignore)
        items, consumed = _bounded(work, 3 * CHUNK * (options.workers or default_workers()))
        results = pmap(decode, items, options.workers, CHUNK, options.scheduler)
        for done, item in enumerate(results, 1):
            consumed()
            pairing.problems += item.problems
            if item.gt is not None:
                acc.add(item)
            if on_progress:
                on_progress(done, len(work))
    acc.flush()
    per_image = acc.per_image()
    names = _class_names(label_map, acc.c)
    report = build_report(preds, gt, pairing, per_image, names, options, ignore)
    worst = {w.key for w in report.worst}
    return ScoreResult(report, per_image, names, {p.key: p for p in work if p.key in worst})


def _bounded(work: list[MaskPair], limit: int) -> tuple[Iterator[MaskPair], Callable[[], None]]:
    """The pairs as an iterator that stays at most ``limit`` pairs ahead of the results
    consumed (call the second value once per result).

    A process pool takes its inputs as fast as its workers run and queues their results; when
    decoding outpaces counting, decoded masks would pile up in memory. Here the pool's feeder
    thread waits until the parent has taken results, so memory stays flat however many images.
    """
    gate = threading.Semaphore(limit)

    def feed() -> Iterator[MaskPair]:
        for pair in work:
            gate.acquire()
            yield pair

    return feed(), gate.release


def _class_names(label_map: LabelMap | None, num_classes: int) -> list[str]:
    names = label_map.names if label_map is not None else {}
    return [names.get(i, "background" if i == 0 else str(i)) for i in range(num_classes)]
