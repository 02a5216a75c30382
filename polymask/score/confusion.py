"""One confusion engine for every scorer: validate -> update -> compute, in numpy or in torch.

An engine takes (ground truth, prediction) pairs one at a time with :meth:`Confusion.update`,
which validates the pair (equal shapes; values that are class ids, or the ignore index in the
ground truth) and counts it, and :meth:`Confusion.compute` returns one row of counts per pair
(TP, FP, FN per class, and with a boundary the band counts). The folder scorer's workers, local
or on a Dask cluster, count with the numpy backend where the masks are decoded; with a CUDA device
the parent process feeds the decoded masks to the torch backend. Both backends give the same
integers, which the tests hold against brute-force references.

Backends, and why each counts the way it does:

- :class:`NumpyConfusion` counts each pair as it arrives. A pair of 8-bit masks becomes one
  joint histogram (:func:`byte_table`, run-length counted on label maps), whose row and column
  sums also answer every value check with no further pass over the pixels. Other masks (16-bit)
  are checked by reductions over the arrays and counted with one bincount over the index
  ``gt * C + pred``, int32 when it fits (exact and faster than int64: memory traffic dominates).
- :class:`TorchConfusion` moves each pair to its device, checks it there with one value
  histogram per mask, and queues it; a batch of about ``batch_pixels`` pixels is counted with a
  single bincount over ``image * R * C + gt * C + pred`` (int32 when it fits). Ignored pixels go
  to an extra row C (R = C + 1) dropped after the count: the same result as selecting the other
  pixels, without compacting the arrays.

Counts are int64 from end to end, so a dataset of any size sums exactly. torch is imported only
by the torch backend and by :func:`resolve_device` for a CUDA device, never for the CPU.

The boundary counts: a pixel lies in the inner band of width ``d`` of its class when another
value (or the image edge) lies within ``d`` pixels of it in the chessboard metric, which is one
max-pool and one min-pool of the label image, whatever the number of classes. That band equals
``mask_c & ~erode(mask_c, square of side 2d+1)`` for every class c, the band Boundary IoU (Cheng
et al. 2021) is defined on.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from polymask.errors import AnnotationError, Problem
from polymask.runtime.scratch import scratch
from polymask.score.checks import ArrayValues, CountedValues, value_problems

NAMES = ("ground truth", "prediction")
"""How problems name the two masks of a pair unless the caller names their files."""


class MaskValueError(AnnotationError, ValueError):
    """A pair whose values are not class ids; ``problems`` name each mask and its bad values."""


def check_num_classes(num_classes: object) -> int:
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes <= 0:
        raise ValueError(
            f"Expected argument `num_classes` to be a positive integer, but got {num_classes}."
        )
    return num_classes


def check_ignore_index(ignore_index: object) -> int | None:
    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int) or ignore_index < 0
    ):
        raise ValueError(
            "Expected argument `ignore_index` to be None or a non-negative integer, "
            f"but got {ignore_index}."
        )
    return ignore_index


def check_boundary(boundary: object) -> float | None:
    if boundary is not None and (
        isinstance(boundary, bool) or not isinstance(boundary, (int, float)) or not boundary > 0
    ):
        raise ValueError(
            "Expected argument `boundary` to be None, a pixel width >= 1 or a fraction of the "
            f"image diagonal in (0, 1), but got {boundary}."
        )
    return boundary


def band_width(boundary: float, shape: tuple[int, int]) -> int:
    """Pixels of the band: ``boundary`` itself when >= 1, else that fraction of the diagonal
    (at least 1), as Boundary IoU's ``dilation_ratio``.

    Capped at half the shorter side, rounded up: every pixel then lies that close to the
    image edge, so the band is the whole image and any wider one counts the same. The band's
    work arrays are padded by the width on each side; uncapped, ``--boundary 100000`` asked
    for 149 GiB to count a small image."""
    d = int(round(boundary)) if boundary >= 1 else int(round(boundary * float(np.hypot(*shape))))
    return max(1, min(d, (min(shape) + 1) // 2))


class Confusion:
    """Per-image counts of the pairs given to :meth:`update`, from :meth:`compute`.

    Args:
        num_classes: C; None discovers the classes (C grows to the largest id seen, up to
            :data:`polymask.score.checks.MAX_DISCOVERED_CLASSES`, and a prediction may not
            hold the ignore value).
        ignore_index: ground-truth value whose pixels are not counted.
        boundary: band width for the boundary counts (pixels, or a fraction of the diagonal).
        keep_matrix: also sum the class-by-class confusion matrix of every pair with a
            prediction (:attr:`matrix`), for ``score --confusion``.
    """

    def __init__(
        self,
        num_classes: int | None,
        ignore_index: int | None = None,
        boundary: float | None = None,
        keep_matrix: bool = False,
    ):
        self.num_classes = None if num_classes is None else check_num_classes(num_classes)
        self.ignore_index = check_ignore_index(ignore_index)
        self.boundary = check_boundary(boundary)
        self.c = num_classes or 1
        """Classes so far: ``num_classes``, or one more than the largest id seen."""
        self._rows: list[np.ndarray] = []
        self.matrix = MatrixSum() if keep_matrix else None
        """Pixels of every (true class, predicted class), summed over the pairs with a
        prediction; ignored pixels excluded."""

    def update(
        self,
        gt: np.ndarray,
        pred: np.ndarray | None,
        names: tuple[str | Path, str | Path] = NAMES,
    ) -> None:
        """Validate and count one pair; ``pred`` None is a missing prediction (every ground-truth
        pixel a false negative). A pair with bad values raises :class:`MaskValueError`, naming
        each mask by ``names``, and is not counted."""
        if pred is not None and gt.shape != pred.shape:
            raise ValueError(f"ground truth is {gt.shape}, prediction is {pred.shape}")
        if self.boundary is not None and gt.ndim != 2:
            msg = f"a {gt.ndim}-D volume: Boundary Dice bands are measured on 2-D masks"
            raise MaskValueError([Problem(str(names[0]), msg)])
        self._update(gt, pred, names)

    def compute(self) -> np.ndarray:
        """(N, k, C) int64 counts of the N pairs in update order: rows TP, FP, FN and, with a
        boundary, the pixels of each class in the ground-truth band, in the prediction band and
        in both with the same class (ignore pixels excluded)."""
        self._flush()
        out = np.zeros((len(self._rows), 6 if self.boundary is not None else 3, self.c), np.int64)
        for i, row in enumerate(self._rows):
            out[i, :, : row.shape[1]] = row  # rows counted before C grew are padded
        return out

    def _check(self, gt_values, pred_values, names) -> None:
        """Raise for bad values, else let C grow to the pair's classes."""
        problems, max_value = value_problems(
            (names[0], gt_values),
            (names[1], pred_values) if pred_values is not None else None,
            self.num_classes,
            self.ignore_index,
        )
        if problems:
            raise MaskValueError(problems)
        self.c = max(self.c, max_value + 1)

    def _append(self, cm: np.ndarray, bands, missing: bool, ids: np.ndarray | None = None) -> None:
        """One image's row from its confusion matrix and band counts. ``cm`` is (C, C), or
        (k, k) over the classes ``ids`` (the classes in either mask, ascending), so that an
        image of a few classes costs k * k cells whatever the largest id. A missing
        prediction was counted against a stand-in (the ground truth, ignored pixels moved to a
        class): its pixels of each class become false negatives, its band the ground truth's,
        and it has no column to count in the confusion matrix."""
        if ids is None:
            ids = np.arange(cm.shape[0])
        if self.matrix is not None and not missing:
            rows, cols = np.nonzero(cm)
            self.matrix.add_cells((ids[rows], ids[cols], cm[rows, cols]))
        tp, fp, fn = (np.zeros(self.c, np.int64) for _ in range(3))
        diagonal = np.diagonal(cm)
        tp[ids], fp[ids], fn[ids] = diagonal, cm.sum(axis=0) - diagonal, cm.sum(axis=1) - diagonal
        if missing:
            tp, fp, fn = np.zeros_like(tp), np.zeros_like(tp), fn + tp
        rows = [tp, fp, fn]
        if bands is not None:
            band_gt, band_pred, band_hit = bands
            if missing:
                band_pred, band_hit = np.zeros_like(band_gt), np.zeros_like(band_gt)
            rows += [band_gt, band_pred, band_hit]
        self._rows.append(np.stack(rows).astype(np.int64, copy=False))

    def _update(self, gt, pred, names) -> None:
        raise NotImplementedError

    def _flush(self) -> None:
        """Count what :meth:`update` queued (the torch backend's last batch)."""


class MatrixSum:
    """A (C, C) int64 confusion matrix summed over pairs, growing with C.

    Workers send each pair's matrix as its non-zero cells (:meth:`cells`): a label map meets
    few of the C * C (true, predicted) combinations, so a pair costs a few hundred bytes to
    send whatever C is."""

    def __init__(self) -> None:
        self.total = np.zeros((0, 0), np.int64)

    def _grow(self, c: int) -> None:
        if c > self.total.shape[0]:
            grown = np.zeros((c, c), np.int64)
            n = self.total.shape[0]
            grown[:n, :n] = self.total
            self.total = grown

    def add(self, cm: np.ndarray) -> None:
        self._grow(max(cm.shape))
        self.total[: cm.shape[0], : cm.shape[1]] += cm

    def cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows, cols = np.nonzero(self.total)
        return rows, cols, self.total[rows, cols]

    def add_cells(self, cells: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        rows, cols, values = cells
        if rows.size:
            self._grow(int(max(rows.max(), cols.max())) + 1)
            np.add.at(self.total, (rows, cols), values)

    def value(self, c: int) -> np.ndarray:
        """The matrix as (c, c), c at least the largest class counted."""
        self._grow(c)
        return self.total.copy()


class NumpyConfusion(Confusion):
    """The CPU backend: each pair counted as it arrives, in this process's memory."""

    def _update(self, gt, pred, names) -> None:
        missing = pred is None
        if missing and self.ignore_index is not None:
            pred = np.where(gt == self.ignore_index, 0, gt).astype(gt.dtype)
        elif missing:
            pred = gt
        if gt.dtype == pred.dtype == np.uint8:
            table = byte_table(gt, pred)
            self._check(
                CountedValues(table.sum(axis=1)),
                None if missing else CountedValues(table.sum(axis=0)),
                names,
            )
            ids, cm = compact_from_table(table, self.ignore_index)
        else:
            self._check(ArrayValues(gt), None if missing else ArrayValues(pred), names)
            if _layout(1, self.c, self.ignore_index)[1] <= DENSE_BINS:
                ids, cm = None, _index_confusion(gt, pred, self.c, self.ignore_index)
            else:
                ids, cm = _compact_confusion(gt, pred, self.ignore_index)
        bands = None
        if self.boundary is not None:
            bands = band_counts(gt, pred, self.c, self.ignore_index, self.boundary)
        self._append(cm, bands, missing, ids)


RUN_FRACTION = 4
"""The run-length count is taken when the joint codes have at most one run per this many
pixels; with more runs a plain per-pixel bincount is as fast."""


def byte_table(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Pixels of every (gt value, pred value) pair of two equal-shape uint8 maps: a (256, P)
    int64 table, ground truth on rows, P one more than the largest prediction value.

    Each pixel gets the 16-bit code ``pred << 8 | gt``; the prediction in the high byte keeps
    the table as small as the predicted classes (ground truth alone holds 255, the usual
    ignore value). Label maps are long runs of one code along their rows, and counting one
    code per run, weighted by its length, touches a fraction of the pixels that a per-pixel
    bincount does (which widens every code to a 64-bit index first): about twice as fast on
    typical masks. Maps with short runs (noise) take the per-pixel count. Both give the same
    integers: the weighted sums are of whole numbers below 2**53, exact in float64. Work
    arrays come from :mod:`polymask.runtime.scratch`, so no image-sized array is allocated per call.
    """
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth is {gt.shape}, prediction is {pred.shape}")
    n = gt.size
    if n == 0:
        return np.zeros((256, 1), np.int64)
    if gt.flags.f_contiguous and pred.flags.f_contiguous and not gt.flags.c_contiguous:
        # NIfTI volumes come in Fortran order: walk their memory in order (about 8x faster
        # than strided), the counts do not depend on it
        gt, pred = gt.T, pred.T
    flat = scratch("joint", n, np.uint16)
    joint = flat.reshape(gt.shape)
    np.left_shift(pred, 8, out=joint, dtype=np.uint16)
    joint |= gt
    change = scratch("change", n - 1, np.bool_)
    np.not_equal(flat[1:], flat[:-1], out=change)
    runs = np.count_nonzero(change) + 1
    if runs * RUN_FRACTION >= n:
        counts = np.bincount(flat)
    else:
        starts = scratch("starts", runs, np.intp)
        starts[0] = 0
        np.add(np.flatnonzero(change), 1, out=starts[1:])  # first pixel of every run
        codes = scratch("codes", runs, np.intp)
        np.copyto(codes, np.take(flat, starts, out=scratch("run_codes", runs, np.uint16)))
        lengths = scratch("lengths", runs, np.float64)
        np.subtract(starts[1:], starts[:-1], out=lengths[:-1])
        lengths[-1] = n - starts[-1]
        counts = np.bincount(codes, weights=lengths).astype(np.int64)
    table = np.zeros(-(-counts.size // 256) * 256, np.int64)
    table[: counts.size] = counts
    return table.reshape(-1, 256).T


def compact_from_table(
    table: np.ndarray, ignore_index: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """(ids, (k, k) confusion matrix over them) of a :func:`byte_table`: the classes of either
    mask, ignored ground truth dropped."""
    rows = table.any(axis=1)
    if ignore_index is not None and ignore_index < rows.size:
        rows[ignore_index] = False
    row_ids, col_ids = np.flatnonzero(rows), np.flatnonzero(table.any(axis=0))
    ids = np.union1d(row_ids, col_ids)
    cm = np.zeros((ids.size, ids.size), np.int64)
    cm[np.ix_(np.searchsorted(ids, row_ids), np.searchsorted(ids, col_ids))] = table[
        np.ix_(row_ids, col_ids)
    ]
    return ids, cm


DENSE_BINS = 1 << 16
"""Up to this many (gt, pred) bins per image a 16-bit pair is counted over every class; beyond
(a label map with ids in the thousands), over the classes present only: C * C bins for one image
of a map reaching id 8000 would be half a gigabyte."""


def _compact_confusion(gt, pred, ignore_index: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(ids, (k, k) confusion matrix) of masks of any integer type over the k classes present
    in either: values are renumbered through a lookup table, then one bincount over k * k
    bins (ignored ground truth sent to a dropped row k)."""
    g, p = gt.ravel(), pred.ravel()
    present = np.zeros(int(max(g.max(initial=0), p.max(initial=0))) + 1, bool)
    present[g] = True
    if ignore_index is not None and ignore_index < present.size:
        present[ignore_index] = False
    present[p] = True
    ids = np.flatnonzero(present)
    k = ids.size
    lookup = np.zeros(present.size, np.int64)
    lookup[ids] = np.arange(k)
    index = lookup[g]
    if ignore_index is not None:
        index[g == ignore_index] = k
    index *= k
    index += lookup[p]
    return ids, np.bincount(index, minlength=(k + 1) * k).reshape(k + 1, k)[:k]


def _layout(images: int, c: int, ignore_index: int | None) -> tuple[int, int, bool]:
    """Rows per image (C, or C + 1 with the dropped ignore row), bins per image, and whether
    the index of ``images`` images needs 64 bits."""
    rows = c + 1 if ignore_index is not None else c
    stride = rows * c
    return rows, stride, images * stride >= 2**31 - 1


def _index_confusion(gt, pred, c: int, ignore_index: int | None) -> np.ndarray:
    """The (C, C) confusion matrix of masks of any integer type: one bincount over
    ``gt * C + pred``, ignored ground truth sent to the dropped row C."""
    rows, stride, wide = _layout(1, c, ignore_index)
    index = gt.astype(np.int64 if wide else np.int32).ravel()
    if ignore_index is not None:
        index[gt.ravel() == ignore_index] = c
    index *= c
    index += pred.ravel()
    return np.bincount(index, minlength=stride).reshape(rows, c)[:c].astype(np.int64)


def window_max(x, k: int, axis: int, maximum):
    """Max over every run of ``k`` entries along ``axis`` (the result is ``k - 1`` shorter), for
    numpy arrays or torch tensors (``maximum`` is ``np.maximum`` or ``torch.maximum``).

    Max-pooling with stride 1 by doubling: after step j each entry holds the max of the next 2^j,
    and two overlapping such runs cover ``k``; log2(k) elementwise passes whatever the width, where
    the CPU kernel of ``max_pool2d`` costs k per pixel.
    """

    def part(a, start: int, length: int):
        index = [slice(None)] * a.ndim
        index[axis] = slice(start, start + length)
        return a[tuple(index)]

    m, width = x, 1
    while 2 * width <= k:
        n = m.shape[axis] - width
        m = maximum(part(m, 0, n), part(m, width, n))
        width *= 2
    n = x.shape[axis] - k + 1
    return maximum(part(m, 0, n), part(m, k - width, n))


NEUTRAL_FOR_MAX = -(1 << 30)
"""What an ignored pixel holds in the maps the band's max-pools run over (the labels for the
max, the negated labels for the min): below every class and below the outside's -1, so it
never makes a window's max or min differ."""


def _numpy_band(labels: np.ndarray, d: int, neutral: np.ndarray | None = None) -> np.ndarray:
    x, neg = labels.astype(np.int32), -labels.astype(np.int32)
    if neutral is not None:
        x[neutral] = NEUTRAL_FOR_MAX
        neg[neutral] = NEUTRAL_FOR_MAX
    x = np.pad(x, d, constant_values=-1)[None]
    neg = np.pad(neg, d, constant_values=1)[None]
    k = 2 * d + 1
    hi = window_max(window_max(x, k, 1, np.maximum), k, 2, np.maximum)
    lo = window_max(window_max(neg, k, 1, np.maximum), k, 2, np.maximum)
    return (hi != -lo)[0]


def band_counts(
    gt: np.ndarray, pred: np.ndarray, c: int, ignore_index: int | None, boundary: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band counts of one pair in numpy: pixels of each class in the ground-truth band, in the
    prediction band, and in both with the same class; (C,) int64 each.

    Ground-truth ignored pixels count nowhere, and they are no *other value* either, in either
    mask: a pixel next to an ignored one is on the band only if a real other class (or the
    image edge) lies within ``d``. Otherwise ignore outlines around objects (PASCAL VOC's 255
    borders) would put every object's band along the outline, where the prediction's edges,
    being ignored, can never meet it: a perfect prediction would score Boundary Dice 0."""
    if gt.size == 0:
        return (np.zeros(c, np.int64),) * 3
    d = band_width(boundary, gt.shape)
    neutral = gt == ignore_index if ignore_index is not None else None
    gt_band, pred_band = _numpy_band(gt, d, neutral), _numpy_band(pred, d, neutral)
    valid = ~neutral if neutral is not None else np.ones(gt.shape, bool)
    g = gt.astype(np.int64)
    p = pred.astype(np.int64)
    band_gt = np.bincount(g[gt_band & valid], minlength=c)[:c]
    band_pred = np.bincount(p[pred_band & valid], minlength=c)[:c]
    band_hit = np.bincount(g[gt_band & pred_band & valid & (g == p)], minlength=c)[:c]
    return band_gt, band_pred, band_hit


class TorchConfusion(Confusion):
    """The device backend: pairs checked and queued on ``device`` (a torch device name such as
    "cuda:0", or "cpu"), then counted a batch of about ``batch_pixels`` pixels at a time with
    one bincount. Only the (k, C) rows of counts come back to the host."""

    def __init__(
        self,
        num_classes: int | None,
        ignore_index: int | None = None,
        boundary: float | None = None,
        device: str = "cuda",
        batch_pixels: int = 1 << 24,
        keep_matrix: bool = False,
    ):
        import torch

        super().__init__(num_classes, ignore_index, boundary, keep_matrix)
        self.torch, self.device, self.batch_pixels = torch, torch.device(device), batch_pixels
        self._batch: list[tuple[object, object, bool]] = []
        """(gt, pred, missing) tensors on the device, waiting to be counted."""
        self._pixels = 0

    def _tensor(self, a: np.ndarray):
        """A tensor of the mask on the device that the caller cannot change (the pair waits in
        a batch); 16-bit ids widened first (torch lacks uint16 arithmetic on some devices),
        8-bit ones moved as they are (a quarter of the traffic)."""
        if a.dtype not in (np.uint8, np.int32, np.int64):
            a = a.astype(np.int32)
        elif not a.flags.writeable or not a.flags.c_contiguous:
            a = np.array(a)  # torch wants a writable, contiguous buffer
        return self.torch.from_numpy(a).to(self.device, copy=True)

    def _update(self, gt, pred, names) -> None:
        torch = self.torch
        g = self._tensor(gt)
        p = None if pred is None else self._tensor(pred)
        # One value histogram per mask answers every check: one transfer back per pair.
        hists = [torch.bincount(t.reshape(-1), minlength=256) for t in (g, p) if t is not None]
        size = max(h.numel() for h in hists)
        hists = torch.stack([torch.nn.functional.pad(h, (0, size - h.numel())) for h in hists])
        counts = hists.cpu().numpy()
        self._check(
            CountedValues(counts[0]), CountedValues(counts[1]) if p is not None else None, names
        )
        if p is None and self.ignore_index is not None:
            p = g.masked_fill(g == self.ignore_index, 0)
        self._batch.append((g, g if p is None else p, pred is None))
        # a batch's bincount holds C * (C + 1) bins per image besides its pixels: small images
        # with many classes are budgeted by their bins, or a batch of them would not fit
        self._pixels += max(gt.size, _layout(1, self.c, self.ignore_index)[1])
        if self._pixels >= self.batch_pixels:
            self._flush()

    def _flush(self) -> None:
        torch, c, ignore_index = self.torch, self.c, self.ignore_index
        batch, self._batch, self._pixels = self._batch, [], 0
        if not batch:
            return
        rows, stride, wide = _layout(len(batch), c, ignore_index)
        dtype = torch.int64 if wide else torch.int32
        index = torch.empty(sum(g.numel() for g, _, _ in batch), dtype=dtype, device=self.device)
        start = 0
        for i, (g, p, _) in enumerate(batch):
            end = start + g.numel()
            part = index[start:end]
            torch.mul(g.reshape(-1).to(dtype), c, out=part)
            if ignore_index is not None:
                part.masked_fill_(g.reshape(-1) == ignore_index, c * c)
            part += p.reshape(-1)
            part += i * stride
            start = end
        cms = torch.bincount(index, minlength=len(batch) * stride).reshape(-1, rows, c)[:, :c]
        cms = cms.cpu().numpy()
        bands = [None] * len(batch)
        if self.boundary is not None:
            found = [self._band_counts(g, p) for g, p, _ in batch]
            stacked = torch.stack([torch.stack(b) for b in found]).cpu().numpy()
            bands = list(stacked)
        for (_, _, missing), cm, band in zip(batch, cms, bands, strict=True):
            self._append(cm, band, missing)

    def _band_counts(self, gt, pred):
        """(3, C) band counts of one pair of tensors, as :func:`band_counts`."""
        torch, c = self.torch, self.c
        if gt.numel() == 0:
            return [torch.zeros(c, dtype=torch.int64, device=self.device)] * 3
        d = band_width(self.boundary, tuple(gt.shape))
        g, p = gt.to(torch.int32), pred.to(torch.int32)
        h, w = g.shape
        # max != min over the (2d+1)^2 window, the outside counting as another value; four
        # channels, the maps for the max and the negated maps for the min
        x = torch.full((4, h + 2 * d, w + 2 * d), -1, dtype=torch.int32, device=self.device)
        x[2:] = 1  # outside the image: -1 for the max, and -(-1) for the negated maps
        neg_g, neg_p = -g, -p
        if self.ignore_index is not None:  # ignored pixels are no other value (see band_counts)
            neutral = g == self.ignore_index
            g, p = g.masked_fill(neutral, NEUTRAL_FOR_MAX), p.masked_fill(neutral, NEUTRAL_FOR_MAX)
            neg_g = neg_g.masked_fill(neutral, NEUTRAL_FOR_MAX)
            neg_p = neg_p.masked_fill(neutral, NEUTRAL_FOR_MAX)
        x[0, d:-d, d:-d], x[1, d:-d, d:-d] = g, p
        x[2, d:-d, d:-d], x[3, d:-d, d:-d] = neg_g, neg_p
        k = 2 * d + 1
        y = window_max(window_max(x, k, 1, torch.maximum), k, 2, torch.maximum)
        gt_band, pred_band = y[0] != -y[2], y[1] != -y[3]
        if self.ignore_index is not None:
            valid = ~neutral
            gt_band &= valid
            pred_band &= valid

        def per_class(where, labels):  # pixels outside ``where`` go to a dropped bin c
            return torch.bincount(torch.where(where, labels, c).reshape(-1), minlength=c + 1)[:c]

        return [
            per_class(gt_band, g),
            per_class(pred_band, p),
            per_class(gt_band & pred_band & (g == p), g),
        ]


def confusion_engine(
    num_classes: int | None,
    ignore_index: int | None = None,
    boundary: float | None = None,
    device: str | None = None,
    batch_pixels: int = 1 << 24,
    keep_matrix: bool = False,
) -> Confusion:
    """The engine for ``device``: a torch device name (from :func:`resolve_device`) gives the
    torch backend there, None the numpy backend."""
    if device is None:
        return NumpyConfusion(num_classes, ignore_index, boundary, keep_matrix)
    return TorchConfusion(num_classes, ignore_index, boundary, device, batch_pixels, keep_matrix)


NVIDIA_MARKERS = ("/dev/nvidia0", "/proc/driver/nvidia/version")
"""Files that exist wherever an NVIDIA driver can serve a GPU."""


def _gpu_possible() -> bool:
    """Whether CUDA could be available, asked without importing torch (seconds and hundreds of
    megabytes): an NVIDIA driver is present and CUDA_VISIBLE_DEVICES does not hide every GPU."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", "unset").strip() in ("", "-1"):
        return False
    return any(os.path.exists(path) for path in NVIDIA_MARKERS)


def resolve_device(device: str = "auto") -> str | None:
    """A torch device name for the torch backend, or None for the numpy backend.

    ``cpu`` is the numpy backend, which counts 8-bit masks faster than torch on the CPU and
    never imports torch. ``auto``: CUDA when a GPU is available (torch is imported only where an
    NVIDIA driver is present), else the numpy backend. ``cuda[:N]`` needs torch and that device.
    """
    if device == "cpu":
        return None
    if device != "auto" and device != "cuda" and not device.startswith("cuda:"):
        raise ValueError(
            f"Expected argument `device` to be auto, cpu or cuda[:N], but got {device!r}."
        )
    if device == "auto" and not _gpu_possible():
        return None
    try:
        import torch
    except ImportError:
        if device == "auto":
            return None
        raise ValueError(f"device {device!r} needs torch, which is not installed") from None
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else None
    if not torch.cuda.is_available():
        raise ValueError(f"device {device!r}: CUDA is not available")
    index = device.partition(":")[2]
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise ValueError(f"device {device!r}: there are {torch.cuda.device_count()} CUDA devices")
    return device
