"""Brute-force references for the scorer: one class and one image at a time, in plain numpy.

Written independently of polymask.score.metrics and polymask.score.confusion (loops and boolean
masks, no bincount, no shared helpers), so agreement is evidence.
"""

from __future__ import annotations

import math

import numpy as np


def class_counts(gt: np.ndarray, pred: np.ndarray | None, c: int, ignore: int | None):
    """TP, FP, FN of class c; a missing prediction (None) predicts nothing."""
    valid = gt != ignore if ignore is not None else np.ones(gt.shape, bool)
    g = (gt == c) & valid
    p = (pred == c) & valid if pred is not None else np.zeros(gt.shape, bool)
    return int((g & p).sum()), int((~g & p).sum()), int((g & ~p).sum())


def dice(tp: int, fp: int, fn: int, empty: float = math.nan) -> float:
    if tp + fp + fn == 0:
        return empty
    return 2 * tp / (2 * tp + fp + fn)


def iou(tp: int, fp: int, fn: int, empty: float = math.nan) -> float:
    if tp + fp + fn == 0:
        return empty
    return tp / (tp + fp + fn)


def nanmean(values) -> float | None:
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else None


def erode_band(mask: np.ndarray, d: int, neutral: np.ndarray | None = None) -> np.ndarray:
    """Inner band of a boolean mask: mask minus its erosion by a (2d+1)^2 square, the outside of
    the image counting as not-mask and ``neutral`` pixels (ignored ones) as neither: they never
    erode the mask (pixel by pixel, no pooling)."""
    h, w = mask.shape
    keeps = mask if neutral is None else mask | neutral
    band = np.zeros_like(mask)
    for y in range(h):
        for x in range(w):
            if not mask[y, x]:
                continue
            y0, y1, x0, x1 = y - d, y + d + 1, x - d, x + d + 1
            inside = y0 >= 0 and x0 >= 0 and y1 <= h and x1 <= w
            band[y, x] = not (inside and keeps[y0:y1, x0:x1].all())
    return band


def band_counts(gt, pred, c: int, ignore: int | None, d: int):
    """|G|, |P|, |G & P| of the inner bands of class c (ignored pixels left out, and no other
    value for the bands: an object outlined by ignore pixels has no band along the outline)."""
    neutral = gt == ignore if ignore is not None else None
    valid = ~neutral if neutral is not None else np.ones(gt.shape, bool)
    g = erode_band(gt == c, d, neutral) & valid
    p = erode_band(pred == c, d, neutral) & valid if pred is not None else np.zeros(gt.shape, bool)
    return int(g.sum()), int(p.sum()), int((g & p).sum())


def score_reference(
    pairs, num_classes, ignore=None, empty=math.nan, foreground=None, boundary=None
):
    """Per-class global Dice, per-class mean-per-image Dice, the two foreground means, and with
    ``boundary`` (a band width in pixels) the per-class global Boundary Dice."""
    foreground = foreground if foreground is not None else list(range(1, num_classes))
    totals = np.zeros((num_classes, 3), dtype=np.int64)
    bands = np.zeros((num_classes, 3), dtype=np.int64)
    per_image = []
    for gt, pred in pairs:
        row = []
        for c in range(num_classes):
            tp, fp, fn = class_counts(gt, pred, c, ignore)
            totals[c] += (tp, fp, fn)
            row.append(dice(tp, fp, fn, empty))
            if boundary is not None:
                bands[c] += band_counts(gt, pred, c, ignore, boundary)
        per_image.append(row)
    global_dice = [dice(*map(int, totals[c]), empty) for c in range(num_classes)]
    boundary_dice = []
    for g, p, hit in bands.tolist():
        boundary_dice.append(empty if g + p == 0 else 2 * hit / (g + p))
    mpi = [nanmean([row[c] for row in per_image]) for c in range(num_classes)]
    mpi = [math.nan if v is None else v for v in mpi]
    return {
        "totals": totals,
        "global": global_dice,
        "mean-per-image": mpi,
        "mean global": nanmean([global_dice[c] for c in foreground]),
        "mean mean-per-image": nanmean([mpi[c] for c in foreground]),
        "per image": per_image,
        "boundary global": boundary_dice,
    }
