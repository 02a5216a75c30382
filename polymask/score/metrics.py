"""Segmentation metrics from counts: Dice, IoU, precision, recall, and their means.

Everything is computed from true positives, false positives and false negatives per class (the
diagonal, column sums and row sums of a confusion matrix whose rows are the ground truth), so
every metric of a report comes from the same numbers.

Undefined values follow one rule: a metric whose denominator is zero is

- the ``empty`` value when the class is absent from both masks (TP = FP = FN = 0): NaN by
  default (left out of every mean), or 1 or 0 when asked;
- 0 otherwise: false positives on an empty ground truth give Dice 0 and recall 0, a class
  present in the ground truth but never predicted gives precision 0.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

EmptyPolicy = Literal["nan", "one", "zero"]
EMPTY_VALUES = {"nan": np.nan, "one": 1.0, "zero": 0.0}
METRICS = ("dice", "iou", "precision", "recall")


def check_empty(empty: object) -> float:
    if empty not in EMPTY_VALUES:
        raise ValueError(
            f"Expected argument `empty` to be one of {tuple(EMPTY_VALUES)}, but got {empty!r}."
        )
    return EMPTY_VALUES[empty]


def counts_from_confusion(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TP, FP, FN per class of a (..., C, C) confusion matrix (rows: ground truth)."""
    cm = np.asarray(cm)
    if cm.ndim < 2 or cm.shape[-1] != cm.shape[-2]:
        raise ValueError(f"Expected a (..., C, C) confusion matrix, but got shape {cm.shape}.")
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    return tp, cm.sum(axis=-2) - tp, cm.sum(axis=-1) - tp


def ratio(num: np.ndarray, den: np.ndarray, absent: np.ndarray, empty: EmptyPolicy) -> np.ndarray:
    """``num / den`` under the undefined-value rule above (``absent``: TP = FP = FN = 0)."""
    fill = check_empty(empty)
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)
    return np.where(absent, fill, out)


def from_counts(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, empty: EmptyPolicy = "nan"
) -> dict[str, np.ndarray]:
    """Dice, IoU, precision and recall per class (any leading shape: per image, per class)."""
    tp, fp, fn = (np.asarray(a, dtype=np.int64) for a in (tp, fp, fn))
    absent = (tp + fp + fn) == 0
    return {
        "dice": ratio(2 * tp, 2 * tp + fp + fn, absent, empty),
        "iou": ratio(tp, tp + fp + fn, absent, empty),
        "precision": ratio(tp, tp + fp, absent, empty),
        "recall": ratio(tp, tp + fn, absent, empty),
    }


def from_confusion(cm: np.ndarray, empty: EmptyPolicy = "nan") -> dict[str, np.ndarray]:
    """Metrics per class from a (..., C, C) confusion matrix."""
    return from_counts(*counts_from_confusion(cm), empty=empty)


def boundary_from_counts(
    band_gt: np.ndarray, band_pred: np.ndarray, band_hit: np.ndarray, empty: EmptyPolicy = "nan"
) -> dict[str, np.ndarray]:
    """Boundary Dice and Boundary IoU from the band sizes and their agreement.

    With G, P the inner bands of a class in the ground truth and the prediction:
    Boundary IoU = |G & P| / |G | P|, Boundary Dice = 2 |G & P| / (|G| + |P|).
    """
    g, p, hit = (np.asarray(a, dtype=np.int64) for a in (band_gt, band_pred, band_hit))
    absent = (g + p) == 0
    return {
        "boundary_dice": ratio(2 * hit, g + p, absent, empty),
        "boundary_iou": ratio(hit, g + p - hit, absent, empty),
    }


def class_mean(values: np.ndarray, include: np.ndarray | None = None) -> float | None:
    """Mean over the last axis of the classes in ``include``, NaNs left out; None if none left."""
    values = np.asarray(values, dtype=np.float64)
    if include is not None:
        values = values[..., include]
    if values.size == 0 or np.all(np.isnan(values)):
        return None
    return float(np.nanmean(values))


def class_means(values: np.ndarray, include: np.ndarray | None = None) -> list[float | None]:
    """:func:`class_mean` of every row of a 2-D array at once (one mean per image)."""
    values = np.asarray(values, dtype=np.float64)
    if include is not None:
        values = values[:, include]
    defined = ~np.isnan(values)
    n = defined.sum(axis=1)
    total = np.where(defined, values, 0.0).sum(axis=1)
    return [float(t / k) if k else None for t, k in zip(total.tolist(), n.tolist(), strict=True)]


def mean_per_image(values: np.ndarray) -> np.ndarray:
    """Per-class mean over images (axis 0) of per-image values, NaNs left out (nnU-Net)."""
    values = np.asarray(values, dtype=np.float64)
    defined = ~np.isnan(values)
    n = defined.sum(axis=0)
    total = np.where(defined, values, 0.0).sum(axis=0)
    return np.divide(total, n, out=np.full(total.shape, np.nan), where=n > 0)


def foreground(num_classes: int, include_background: bool = False) -> np.ndarray:
    """Boolean mask of the classes that enter the means: all but 0 unless background is asked."""
    mask = np.ones(num_classes, dtype=bool)
    mask[0] = include_background
    return mask
