"""Paired bootstrap of Dice changes between two runs scored on the same images.

Two runs (a baseline and the current predictions) give per-image counts TP, FP, FN of shape
(N, C) over the same N images, in the same order. One bootstrap replicate draws N image indices
with replacement, ``rng.integers(0, N, N)``, and evaluates *both* runs on that one resample, so
the spread of the replicate deltas reflects which images happen to be in the set, not the two
runs' independent noise. Per replicate and class:

- ``global``: Dice of the counts summed over the images drawn;
- ``mean-per-image``: the mean over the images drawn of per-image Dice, images where the class
  is undefined left out (as :func:`polymask.score.metrics.mean_per_image`);

and the mean over the classes in ``include`` of the defined values (as the report's summary).

Replicates are computed in chunks of ``b`` at once: the ``(b, N)`` indices are drawn in one call
(the same numbers as ``b`` successive draws of size N) and turned into how many times each image
is drawn, a ``(b, N)`` weight matrix, so every sum over a resample is one product of the weights
with an (N, 4C) table of both runs' values. ``b`` keeps ``b * N`` under :data:`CHUNK_ELEMENTS`,
so memory stays bounded whatever the number of images and replicates. The products run in
``np.einsum``'s own loops rather than a threaded BLAS, whose summation order may change with the
thread count, so the same seed gives the same bytes. Counts are summed in int64 (exact); the
per-image Dice of ``mean-per-image`` in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from polymask.score import metrics as M
from polymask.score.report import Aggregate

CHUNK_ELEMENTS = 1 << 20
"""Most resample indices held at once (b * N), 8 MiB per (b, N) array."""
MIN_DEFINED = 0.95
"""Fraction of replicates that must give a defined delta for an interval: with more than 5%
undefined, the missing replicates would outweigh both 2.5% tails together."""
PERCENTILES = (2.5, 97.5)


@dataclass(frozen=True)
class Counts:
    """Per-image counts of one run: (N, C) int64 each, rows in the images' shared order."""

    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray


def _table(counts: Counts, aggregate: Aggregate, empty: M.EmptyPolicy) -> np.ndarray:
    """The (N, 2C) per-image values whose weighted sums give the Dice of a resample: TP and
    FP + FN for ``global`` (Dice = 2TP / (2TP + FP + FN)), per-image Dice (0 where undefined)
    and whether it is defined for ``mean-per-image``."""
    tp, fp, fn = (np.asarray(a, dtype=np.int64) for a in (counts.tp, counts.fp, counts.fn))
    if aggregate == "global":
        return np.concatenate([tp, fp + fn], axis=1)
    dice = M.from_counts(tp, fp, fn, empty)["dice"]
    defined = ~np.isnan(dice)
    return np.concatenate([np.where(defined, dice, 0.0), defined], axis=1)


def _dice(sums: np.ndarray, aggregate: Aggregate, empty: M.EmptyPolicy) -> np.ndarray:
    """Dice per class of each resample, from its weighted sums of :func:`_table`."""
    c = sums.shape[1] // 2
    a, b = sums[:, :c], sums[:, c:]
    if aggregate == "global":
        return M.ratio(2 * a, 2 * a + b, (a + b) == 0, empty)
    return np.divide(a, b, out=np.full(a.shape, np.nan), where=b > 0)


def _class_mean(values: np.ndarray, include: np.ndarray) -> np.ndarray:
    """Per row, the mean of the defined values of the classes in ``include``; NaN if none."""
    values = values[:, include]
    defined = ~np.isnan(values)
    n = defined.sum(axis=1)
    total = np.where(defined, values, 0.0).sum(axis=1)
    return np.divide(total, n, out=np.full(total.shape, np.nan), where=n > 0)


class PairedDice:
    """Both runs' Dice, per class and mean, on weighted resamples of their common images."""

    def __init__(
        self,
        current: Counts,
        baseline: Counts,
        aggregate: Aggregate,
        empty: M.EmptyPolicy,
        include: np.ndarray,
    ):
        self.n, self.c = current.tp.shape
        self.aggregate, self.empty, self.include = aggregate, empty, include
        tables = [_table(x, aggregate, empty) for x in (current, baseline)]
        self.table = np.concatenate(tables, axis=1)

    def values(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dice of the current run and of the baseline, (b, C + 1) each (the last column is
        the mean over classes), for each row of ``weights`` (b, N): how many times each image
        is in the resample."""
        w = weights if self.aggregate == "global" else weights.astype(np.float64)
        sums = np.einsum("bn,nk->bk", w, self.table)
        out = []
        for side in (sums[:, : 2 * self.c], sums[:, 2 * self.c :]):
            dice = _dice(side, self.aggregate, self.empty)
            out.append(np.concatenate([dice, _class_mean(dice, self.include)[:, None]], axis=1))
        return out[0], out[1]

    def point(self) -> tuple[np.ndarray, np.ndarray]:
        """Both runs' values on the images themselves (each once): (C + 1,) each."""
        current, baseline = self.values(np.ones((1, self.n), np.int64))
        return current[0], baseline[0]

    def replicates(self, count: int, seed: int) -> np.ndarray:
        """Deltas (current - baseline) of ``count`` bootstrap replicates: (count, C + 1), NaN
        where either run's value is undefined on the resample."""
        rng = np.random.default_rng(seed)
        chunk = max(1, CHUNK_ELEMENTS // self.n)
        out = np.empty((count, self.c + 1))
        for start in range(0, count, chunk):
            b = min(chunk, count - start)
            current, baseline = self.values(resample_weights(rng, self.n, b))
            out[start : start + b] = current - baseline
        return out


def resample_weights(rng: np.random.Generator, n: int, b: int) -> np.ndarray:
    """(b, n) int64: row r counts how often each of n images is in resample r, the resamples
    being ``rng``'s next b draws of ``integers(0, n, n)``."""
    draws = rng.integers(0, n, size=(b, n))
    flat = (draws + np.arange(b)[:, None] * n).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n)


def percentile_interval(deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column of (B, K) replicate deltas: the 2.5th and 97.5th percentiles of its defined
    values (``np.percentile``, method 'linear'), NaN where fewer than :data:`MIN_DEFINED` of the
    B replicates are defined; and how many are."""
    k = deltas.shape[1]
    low, high = np.full(k, np.nan), np.full(k, np.nan)
    defined = (~np.isnan(deltas)).sum(axis=0)
    for j in range(k):
        if defined[j] and defined[j] >= MIN_DEFINED * len(deltas):
            column = deltas[:, j]
            low[j], high[j] = np.percentile(column[~np.isnan(column)], PERCENTILES, method="linear")
    return low, high, defined
