"""Imbalance, entropy and the four class weightings against values computed by hand.

The tiny case: classes 0..3 with 6, 3, 1 and 0 pixels; class 0 and 1 lie in the same two
images of 5 px each (10 px), class 2 in one image of 5 px; class 3 never occurs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polymask.stats import weights as cw

PIXELS = np.array([6, 3, 1, 0])
IMAGE_PIXELS = np.array([10, 10, 5, 0])


def test_inverse_frequency_by_hand():
    # raw 1/6, 1/3, 1: mean 1/2, so weights 1/3, 2/3, 2; absent class 0
    np.testing.assert_allclose(cw.inverse_frequency(PIXELS), [1 / 3, 2 / 3, 2, 0])


def test_median_frequency_by_hand():
    # freq 6/10, 3/10, 1/5; median 0.3; raw 0.5, 1, 1.5 already has mean 1
    np.testing.assert_allclose(cw.median_frequency(PIXELS, IMAGE_PIXELS), [0.5, 1, 1.5, 0])


def test_effective_number_by_hand():
    # beta 1/2: 1/E_n = (1/2) / (1 - 2**-n): 32/63, 4/7, 1; their mean is 131/189
    np.testing.assert_allclose(
        cw.effective_number(PIXELS, beta=0.5), [96 / 131, 108 / 131, 189 / 131, 0]
    )


def test_generalized_dice_by_hand():
    # raw 1/36, 1/9, 1: mean 41/108
    np.testing.assert_allclose(cw.generalized_dice(PIXELS), [3 / 41, 12 / 41, 108 / 41, 0])


def test_effective_number_limits():
    """beta 0 weighs every class the same; beta near 1 tends to inverse frequency."""
    np.testing.assert_array_equal(cw.effective_number(PIXELS, beta=0.0), [1, 1, 1, 0])
    np.testing.assert_allclose(
        cw.effective_number(PIXELS, beta=1 - 1e-9), cw.inverse_frequency(PIXELS), rtol=1e-6
    )
    with pytest.raises(ValueError, match="beta"):
        cw.effective_number(PIXELS, beta=1.0)


def test_imbalance_ratio_by_hand():
    assert cw.imbalance_ratio(PIXELS) == 6.0
    assert cw.imbalance_ratio(PIXELS[1:]) == 3.0
    assert cw.imbalance_ratio(np.array([0, 0])) is None


def test_normalized_entropy_by_hand():
    p = [0.6, 0.3, 0.1]
    expected = -sum(x * math.log(x) for x in p) / math.log(4)  # four classes, one absent
    assert cw.normalized_entropy(PIXELS) == pytest.approx(expected)
    assert cw.normalized_entropy(np.array([5, 5, 5])) == pytest.approx(1.0)
    assert cw.normalized_entropy(np.array([9, 0, 0])) == 0.0
    assert cw.normalized_entropy(np.array([9])) is None


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=30))
def test_weights_mean_one_over_present_zero_for_absent(counts):
    pixels = np.array(counts, dtype=np.int64)
    present = pixels > 0
    for name, w in cw.all_weights(pixels, np.maximum(pixels, 1) * 3).items():
        assert np.all(np.isfinite(w)), name
        assert np.all(w[~present] == 0), name
        if present.any():
            assert w[present].mean() == pytest.approx(1.0), name
            assert np.all(w[present] > 0), name
