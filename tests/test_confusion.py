"""The batched confusion engine against per-class, per-image brute force, in numpy and torch."""

from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from polymask.score.confusion import band_width, byte_table, confusion_batch, resolve_device
from tests.score_reference import class_counts, erode_band

torch = pytest.importorskip("torch")
DEVICES = [None, "cpu"]  # None: the numpy path
IGNORE = 9


@st.composite
def batches(draw, max_classes=5, max_side=9):
    c = draw(st.integers(1, max_classes))
    out = []
    for _ in range(draw(st.integers(0, 4))):
        shape = (draw(st.integers(0, max_side)), draw(st.integers(0, max_side)))
        dtype = draw(st.sampled_from([np.uint8, np.uint16]))
        pred = draw(arrays(dtype, shape, elements=st.integers(0, c - 1)))
        gt = draw(arrays(dtype, shape, elements=st.sampled_from([*range(c), IGNORE])))
        out.append((gt, pred))
    return c, out


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=60, deadline=None)
@given(batch=batches())
def test_confusion_matches_brute_force(device, batch):
    c, pairs = batch
    counts = confusion_batch(pairs, c, IGNORE, device)
    assert counts.confusion.shape == (len(pairs), c, c)
    assert counts.confusion.dtype == np.int64
    for i, (gt, pred) in enumerate(pairs):
        cm = counts.confusion[i]
        for k in range(c):
            tp, fp, fn = class_counts(gt, pred, k, IGNORE)
            assert cm[k, k] == tp
            assert cm[:, k].sum() - cm[k, k] == fp
            assert cm[k, :].sum() - cm[k, k] == fn
        assert cm.sum() == np.count_nonzero(gt != IGNORE)


@pytest.mark.parametrize("device", DEVICES)
@settings(max_examples=40, deadline=None)
@given(batch=batches(max_classes=3, max_side=10), d=st.integers(1, 3))
def test_boundary_band_matches_erosion(device, batch, d):
    """Band counts equal those of mask & ~erode(mask) per class, the Boundary IoU definition."""
    c, pairs = batch
    counts = confusion_batch(pairs, c, IGNORE, device, boundary=d)
    for i, (gt, pred) in enumerate(pairs):
        valid = gt != IGNORE
        for k in range(c):
            g = erode_band(gt == k, d) & valid
            p = erode_band(pred == k, d) & valid
            assert counts.band_gt[i, k] == g.sum()
            assert counts.band_pred[i, k] == p.sum()
            assert counts.band_hit[i, k] == (g & p).sum()


def test_hand_computed_two_images():
    gt1 = np.array([[0, 1], [1, 1]], np.uint8)
    pred1 = np.array([[0, 1], [2, 1]], np.uint8)
    gt2 = np.array([[255, 2, 2]], np.uint8)
    pred2 = np.array([[1, 2, 0]], np.uint8)
    for device in DEVICES:
        cm = confusion_batch([(gt1, pred1), (gt2, pred2)], 3, 255, device).confusion
        np.testing.assert_array_equal(cm[0], [[1, 0, 0], [0, 2, 1], [0, 0, 0]])
        # the ignored pixel's prediction (1) counts nowhere
        np.testing.assert_array_equal(cm[1], [[0, 0, 0], [0, 0, 0], [1, 0, 1]])


def test_band_width_fraction_of_diagonal():
    assert band_width(3, (100, 100)) == 3
    assert band_width(0.02, (768, 1024)) == 26  # 0.02 * 1280
    assert band_width(0.001, (10, 10)) == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"num_classes": 0},
            "Expected argument `num_classes` to be a positive integer, but got 0.",
        ),
        ({"num_classes": 2.0}, "`num_classes` to be a positive integer, but got 2.0"),
        ({"num_classes": 2, "ignore_index": -1}, "`ignore_index` to be None or a non-negative"),
        ({"num_classes": 2, "boundary": 0}, "`boundary` to be None, a pixel width"),
    ],
)
def test_argument_validation(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        confusion_batch([], **kwargs)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="ground truth is"):
        confusion_batch([(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))], 2)


def test_device_resolution():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="Expected argument `device`"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_without_torch_the_numpy_engine_is_used(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    assert resolve_device("auto") is None and resolve_device("cpu") is None
    with pytest.raises(ValueError, match="needs torch"):
        resolve_device("cuda")


@settings(max_examples=40, deadline=None)
@given(batch=batches(max_classes=6, max_side=12))
def test_byte_path_equals_the_batched_engines(batch):
    """8-bit masks on the CPU take the per-image 65,536-bin path; the batched index paths
    (numpy, torch) must count the same."""
    from polymask.score.confusion import _byte_batch, _numpy_batch, _torch_batch

    c, pairs = batch
    pairs = [(g.astype(np.uint8), p.astype(np.uint8)) for g, p in pairs]
    fast = _byte_batch(pairs, c, IGNORE, 2)
    for other in (_numpy_batch(pairs, c, IGNORE, 2), _torch_batch(pairs, c, IGNORE, "cpu", 2)):
        np.testing.assert_array_equal(fast.confusion, other.confusion)
        np.testing.assert_array_equal(fast.band_hit, other.band_hit)


def joint_brute_force(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """table[g, p]: pixels where gt == g and pred == p, one pair at a time."""
    table = np.zeros((256, 256), np.int64)
    for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist(), strict=True):
        table[g, p] += 1
    return table


@st.composite
def byte_pairs(draw, max_side=24):
    """Equal-shape uint8 maps: blocky (long runs, the run-length count) or noise (the
    per-pixel count), sometimes strided views as the PNG reader returns them."""
    h, w = draw(st.integers(0, max_side)), draw(st.integers(0, max_side))
    values = st.integers(0, 255)
    if draw(st.booleans()):  # runs: a few vertical bands of one value each
        cuts = sorted(draw(st.lists(st.integers(0, w), max_size=3)))
        edges = [0, *cuts, w]

        def banded():
            row = np.zeros(w, np.uint8)
            for a, b in zip(edges, edges[1:], strict=False):
                row[a:b] = draw(values)
            return np.repeat(row[None], h, axis=0)

        gt, pred = banded(), banded()
    else:
        gt = draw(arrays(np.uint8, (h, w), elements=values))
        pred = draw(arrays(np.uint8, (h, w), elements=values))
    if draw(st.booleans()):  # a view that skips a leading column, like a PNG row's filter byte
        gt, pred = (np.pad(a, ((0, 0), (1, 0)))[:, 1:] for a in (gt, pred))
    return gt, pred


@pytest.mark.parametrize("run_fraction", [1, 4, 10**9], ids=["runs", "default", "per-pixel"])
@settings(max_examples=60, deadline=None)
@given(pair=byte_pairs())
def test_byte_table_counts_every_value_pair(run_fraction, pair):
    """Both counting methods (runs weighted by length, per-pixel bincount) against a pixel-by-
    pixel count; the work arrays are reused between examples of different sizes."""
    gt, pred = pair
    with patch("polymask.score.confusion.RUN_FRACTION", run_fraction):
        table = byte_table(gt, pred)
    assert table.dtype == np.int64
    assert table.shape == (256, int(pred.max(initial=0)) + 1)
    expected = joint_brute_force(gt, pred)
    np.testing.assert_array_equal(table, expected[:, : table.shape[1]])
    assert table.sum() == gt.size


def test_byte_table_hand_computed():
    gt = np.array([[0, 0, 255, 1], [1, 1, 1, 1]], np.uint8)
    pred = np.array([[0, 1, 1, 1], [1, 1, 0, 0]], np.uint8)
    table = byte_table(gt, pred)
    assert table.shape == (256, 2)
    assert table[0].tolist() == [1, 1]
    assert table[1].tolist() == [2, 3]
    assert table[255].tolist() == [0, 1]
    assert table.sum() == 8


def test_work_arrays_are_reused_up_to_a_size():
    from polymask.runtime import scratch

    a = scratch.scratch("test", 100, np.uint16)
    assert np.shares_memory(a, scratch.scratch("test", 50, np.uint16))  # smaller: same memory
    assert not np.shares_memory(a, scratch.scratch("test", 100, np.int32))  # other dtype: new
    big = scratch.KEEP_BYTES // 2 + 1
    assert not np.shares_memory(scratch.scratch("test", big, np.uint16), a)
    assert not np.shares_memory(
        scratch.scratch("test", big, np.uint16), scratch.scratch("test", big, np.uint16)
    )  # over the limit: not kept
