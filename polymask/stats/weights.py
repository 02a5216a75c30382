"""Measures of class imbalance and class weights for a loss, from per-class pixel counts.

Every function takes arrays indexed like the class table (one entry per class, ignore pixels
never included) and is pure, so each formula can be checked by hand on a tiny case.

All four weightings are scaled to **mean 1 over the present classes** (classes with at least
one pixel). A class with no pixels gets weight 0: there is nothing to weight, and an infinite
weight would make the loss undefined. With mean-1 weights a weighted cross-entropy keeps the
scale of the unweighted one, and equal weights (a balanced dataset) are all exactly 1. Only the
ratios between weights change what a loss optimises, so the scaling loses nothing.
"""

from __future__ import annotations

import math

import numpy as np

DEFAULT_BETA = 0.9999
"""Cui et al.'s most used value; see :func:`effective_number`."""

SCHEMES = ("inverse_frequency", "median_frequency", "effective_number", "generalized_dice")
"""Names of the weightings, in the order reports show them."""


def imbalance_ratio(pixels: np.ndarray) -> float | None:
    """Largest over smallest non-zero pixel count; None when no class has pixels.

    Absent classes are left out (their ratio would be infinite); report them separately.
    """
    present = pixels[pixels > 0]
    if present.size == 0:
        return None
    return float(present.max() / present.min())


def normalized_entropy(pixels: np.ndarray) -> float | None:
    """Shannon entropy of the class distribution divided by its maximum, ``log K``.

    ``K`` is the number of classes given (absent ones included, so a class that never occurs
    lowers the value): 1 means every class has the same number of pixels, 0 means one class
    has them all. None when there are fewer than two classes or no pixels.
    """
    total = pixels.sum()
    if pixels.size < 2 or total == 0:
        return None
    p = pixels[pixels > 0] / total
    value = float(-(p * np.log(p)).sum() / math.log(pixels.size))
    return min(max(value, 0.0), 1.0)  # rounding may step a hair outside [0, 1]


def mean_one(raw: np.ndarray, present: np.ndarray) -> np.ndarray:
    """``raw`` scaled to mean 1 over the present classes; absent classes get 0."""
    out = np.zeros(raw.shape, dtype=np.float64)
    if present.any():
        out[present] = raw[present] / raw[present].mean()
    return out


def inverse_frequency(pixels: np.ndarray) -> np.ndarray:
    """``w_c = 1 / f_c`` with ``f_c = n_c / sum(n)``, scaled to mean 1 over present classes.

    After scaling this equals ``(1 / n_c) / mean_k(1 / n_k)``.
    """
    present = pixels > 0
    raw = np.zeros(pixels.shape, dtype=np.float64)
    raw[present] = 1.0 / pixels[present]
    return mean_one(raw, present)


def median_frequency(pixels: np.ndarray, image_pixels: np.ndarray) -> np.ndarray:
    """Median-frequency balancing (Eigen & Fergus, ICCV 2015), scaled to mean 1.

    ``freq_c = n_c / P_c`` where ``P_c`` is the number of (non-ignore) pixels of the images that
    contain class ``c``; ``w_c = median_k(freq_k) / freq_c``. Before scaling the class of median
    frequency has weight 1; scaling to mean 1 keeps every ratio between weights.
    """
    present = pixels > 0
    raw = np.zeros(pixels.shape, dtype=np.float64)
    if present.any():
        freq = pixels[present] / image_pixels[present]
        raw[present] = np.median(freq) / freq
    return mean_one(raw, present)


def effective_number(pixels: np.ndarray, beta: float = DEFAULT_BETA) -> np.ndarray:
    """Class-balanced weights from the effective number of samples (Cui et al., CVPR 2019).

    ``E_c = (1 - beta**n_c) / (1 - beta)`` and ``w_c = 1 / E_c``, scaled to mean 1 over present
    classes (Cui et al. scale them to sum to the number of classes: the same thing). Samples are
    pixels here. ``beta = 0`` gives equal weights, ``beta -> 1`` inverse frequency; with the
    paper's 0.9999 a class of more than ~50,000 pixels already counts as fully covered, so on
    large datasets pick ``beta`` nearer 1 (e.g. ``1 - 1/median class pixels``).
    """
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"Expected argument `beta` to be in [0, 1), but got {beta}.")
    present = pixels > 0
    raw = np.zeros(pixels.shape, dtype=np.float64)
    n = pixels[present].astype(np.float64)
    if beta == 0.0:
        raw[present] = 1.0
    else:
        # 1 - beta**n computed as -expm1(n log beta): exact where beta**n is close to 1
        raw[present] = (1.0 - beta) / -np.expm1(n * math.log(beta))
    return mean_one(raw, present)


def generalized_dice(pixels: np.ndarray) -> np.ndarray:
    """Generalized Dice weights (Sudre et al., DLMIA 2017): ``w_c = 1 / n_c**2``, scaled to
    mean 1 over present classes.

    Sudre et al. take ``n_c`` from the reference volume of each batch; these are the dataset-wide
    values, for a fixed weighting. The range is the square of the imbalance ratio.
    """
    present = pixels > 0
    raw = np.zeros(pixels.shape, dtype=np.float64)
    raw[present] = 1.0 / pixels[present].astype(np.float64) ** 2
    return mean_one(raw, present)


def all_weights(
    pixels: np.ndarray, image_pixels: np.ndarray, beta: float = DEFAULT_BETA
) -> dict[str, np.ndarray]:
    """Every weighting, keyed by the names in :data:`SCHEMES`."""
    return {
        "inverse_frequency": inverse_frequency(pixels),
        "median_frequency": median_frequency(pixels, image_pixels),
        "effective_number": effective_number(pixels, beta),
        "generalized_dice": generalized_dice(pixels),
    }
