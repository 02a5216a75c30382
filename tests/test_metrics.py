"""Metrics from counts: hand-computed values and the undefined-value rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from polymask.score import metrics as M


def test_hand_computed_values():
    # class 0: tp 3 fp 1 fn 2; class 1: tp 0 fp 0 fn 0 (absent); class 2: tp 0 fp 4 fn 0
    out = M.from_counts([3, 0, 0], [1, 0, 4], [2, 0, 0])
    assert out["dice"][0] == pytest.approx(6 / 9)
    assert out["iou"][0] == pytest.approx(3 / 6)
    assert out["precision"][0] == pytest.approx(3 / 4)
    assert out["recall"][0] == pytest.approx(3 / 5)
    assert all(math.isnan(out[m][1]) for m in M.METRICS)
    # false positives on an empty ground truth: 0, never NaN
    assert out["dice"][2] == 0 and out["iou"][2] == 0 and out["precision"][2] == 0
    assert out["recall"][2] == 0


@pytest.mark.parametrize(("empty", "value"), [("one", 1.0), ("zero", 0.0)])
def test_empty_policy(empty, value):
    out = M.from_counts([0], [0], [0], empty=empty)
    assert all(out[m][0] == value for m in M.METRICS)


def test_from_confusion_rows_are_ground_truth():
    cm = np.array([[5, 1], [3, 2]])  # gt 0 predicted 1 once; gt 1 predicted 0 three times
    tp, fp, fn = M.counts_from_confusion(cm)
    assert list(tp) == [5, 2] and list(fp) == [3, 1] and list(fn) == [1, 3]


def test_boundary_from_counts():
    out = M.boundary_from_counts([4, 0], [2, 0], [1, 0])
    assert out["boundary_dice"][0] == pytest.approx(2 / 6)
    assert out["boundary_iou"][0] == pytest.approx(1 / 5)
    assert math.isnan(out["boundary_dice"][1])


def test_means_leave_out_undefined_and_background():
    values = np.array([0.1, np.nan, 0.5, 0.7])
    assert M.class_mean(values, M.foreground(4)) == pytest.approx(0.6)
    assert M.class_mean(values, M.foreground(4, include_background=True)) == pytest.approx(1.3 / 3)
    assert M.class_mean(np.array([0.3, np.nan]), M.foreground(2)) is None


def test_mean_per_image_skips_undefined_images():
    per_image = np.array([[0.5, np.nan], [1.0, np.nan], [np.nan, np.nan]])
    out = M.mean_per_image(per_image)
    assert out[0] == pytest.approx(0.75) and math.isnan(out[1])


def test_empty_argument_is_validated():
    with pytest.raises(ValueError, match="Expected argument `empty` to be one of"):
        M.from_counts([1], [0], [0], empty="none")


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(0, 6), st.integers(1, 24)),
        elements=st.one_of(st.just(np.nan), st.floats(0, 1)),
    ),
    st.integers(0, 2**24),
)
def test_row_means_equal_class_mean_of_each_row(values, seed):
    include = np.random.default_rng(seed).random(values.shape[1]) < 0.7
    expected = [M.class_mean(row, include) for row in values]
    got = M.class_means(values, include)
    assert [v is None for v in got] == [v is None for v in expected]
    assert [v for v in got if v is not None] == pytest.approx(
        [v for v in expected if v is not None], rel=1e-12
    )
