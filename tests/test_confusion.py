"""The confusion engine's two backends against per-class, per-image brute force."""

from __future__ import annotations

import os
import subprocess
import sys
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from polymask.score.confusion import (
    MaskValueError,
    NumpyConfusion,
    band_width,
    byte_table,
    confusion_engine,
    resolve_device,
)
from tests.score_reference import band_counts, class_counts

BACKENDS = ["numpy", "torch"]
IGNORE = 9


def engine(backend: str, num_classes, ignore_index=IGNORE, boundary=None):
    """The numpy backend, or the torch backend on the CPU in batches of a few pairs, so that
    batches split and C grows between them."""
    if backend == "numpy":
        return NumpyConfusion(num_classes, ignore_index, boundary)
    pytest.importorskip("torch")
    return confusion_engine(num_classes, ignore_index, boundary, "cpu", batch_pixels=100)


def count(backend, pairs, num_classes, ignore_index=IGNORE, boundary=None) -> np.ndarray:
    e = engine(backend, num_classes, ignore_index, boundary)
    for gt, pred in pairs:
        e.update(gt, pred)
    return e.compute()


@st.composite
def batches(draw, max_classes=5, max_side=9):
    """Pairs of 8- and 16-bit masks with ignore pixels; some predictions missing (None)."""
    c = draw(st.integers(1, max_classes))
    out = []
    for _ in range(draw(st.integers(0, 4))):
        shape = (draw(st.integers(0, max_side)), draw(st.integers(0, max_side)))
        dtype = draw(st.sampled_from([np.uint8, np.uint16]))
        pred = draw(arrays(dtype, shape, elements=st.integers(0, c - 1)))
        gt = draw(arrays(dtype, shape, elements=st.sampled_from([*range(c), IGNORE])))
        out.append((gt, None if draw(st.integers(0, 5)) == 0 else pred))
    return c, out


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60, deadline=None)
@given(batch=batches())
def test_counts_match_brute_force(backend, batch):
    c, pairs = batch
    rows = count(backend, pairs, c)
    assert rows.shape == (len(pairs), 3, c)
    assert rows.dtype == np.int64
    for i, (gt, pred) in enumerate(pairs):
        for k in range(c):
            assert tuple(rows[i, :, k]) == class_counts(gt, pred, k, IGNORE)
        assert rows[i, [0, 2]].sum() == np.count_nonzero(gt != IGNORE)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40, deadline=None)
@given(batch=batches(max_classes=3, max_side=10), d=st.integers(1, 3))
def test_boundary_band_matches_erosion(backend, batch, d):
    """Band counts equal those of mask & ~erode(mask) per class, the Boundary IoU definition."""
    c, pairs = batch
    rows = count(backend, pairs, c, boundary=d)
    for i, (gt, pred) in enumerate(pairs):
        for k in range(c):
            assert tuple(rows[i, 3:, k]) == band_counts(gt, pred, k, IGNORE, d)


@pytest.mark.parametrize("backend", BACKENDS)
def test_hand_computed_two_images(backend):
    gt1 = np.array([[0, 1], [1, 1]], np.uint8)
    pred1 = np.array([[0, 1], [2, 1]], np.uint8)
    gt2 = np.array([[255, 2, 2]], np.uint8)
    pred2 = np.array([[1, 2, 0]], np.uint8)
    rows = count(backend, [(gt1, pred1), (gt2, pred2)], 3, 255)
    np.testing.assert_array_equal(rows[0], [[1, 2, 0], [0, 0, 1], [0, 1, 0]])  # TP, FP, FN
    # the ignored pixel's prediction (1) counts nowhere
    np.testing.assert_array_equal(rows[1], [[0, 0, 1], [1, 0, 0], [0, 0, 1]])


@pytest.mark.parametrize("backend", BACKENDS)
def test_discovered_classes_grow_and_bad_values_are_refused(backend):
    e = engine(backend, None, 255)
    e.update(np.array([[0, 1, 255]], np.uint8), np.array([[0, 1, 1]], np.uint8))
    e.update(np.array([[3, 3]], np.uint16), np.array([[3, 0]], np.uint16))
    with pytest.raises(MaskValueError, match="pred: value 255 is the ignore index"):
        e.update(np.array([[1]], np.uint8), np.array([[255]], np.uint8), ("gt", "pred"))
    with pytest.raises(ValueError, match=r"ground truth is \(1, 1\), prediction is \(1, 2\)"):
        e.update(np.zeros((1, 1), np.uint8), np.zeros((1, 2), np.uint8))
    rows = e.compute()
    assert rows.shape == (2, 3, 4)  # the first row padded to the classes found later
    np.testing.assert_array_equal(rows[0], [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(rows[1], [[0, 0, 0, 1], [1, 0, 0, 0], [0, 0, 0, 1]])
    known = engine(backend, 2, 255)
    with pytest.raises(MaskValueError) as info:
        known.update(np.array([[7, 1]], np.uint8), np.array([[1, 9]], np.uint8), ("g.png", "p.png"))
    assert [(p.file, p.message) for p in info.value.problems] == [
        ("g.png", "value 7 outside the label map (classes 0..1, ignore 255)"),
        ("p.png", "value 9 outside the label map (classes 0..1)"),
    ]
    assert known.compute().shape == (0, 3, 2)


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
        NumpyConfusion(**kwargs)


def test_device_resolution():
    torch = pytest.importorskip("torch")
    assert resolve_device("cpu") is None  # the numpy backend
    with patch("polymask.score.confusion._gpu_possible", lambda: True):
        assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else None)
    with pytest.raises(ValueError, match="Expected argument `device`"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_without_torch_the_numpy_engine_is_used(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    with patch("polymask.score.confusion._gpu_possible", lambda: True):
        assert resolve_device("auto") is None and resolve_device("cpu") is None
        with pytest.raises(ValueError, match="needs torch"):
            resolve_device("cuda")


@pytest.mark.parametrize(
    ("environ", "files", "possible"),
    [
        ({}, ("/proc/driver/nvidia/version",), True),
        ({}, (), False),
        ({"CUDA_VISIBLE_DEVICES": ""}, ("/dev/nvidia0",), False),
        ({"CUDA_VISIBLE_DEVICES": "-1"}, ("/dev/nvidia0",), False),
        ({"CUDA_VISIBLE_DEVICES": "1"}, ("/dev/nvidia0",), True),
    ],
)
def test_gpu_is_looked_for_without_torch(monkeypatch, environ, files, possible):
    from polymask.score import confusion

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(confusion.os.path, "exists", lambda path: path in files)
    assert confusion._gpu_possible() is possible


def test_cpu_scoring_never_imports_torch(tmp_path):
    """``cpu``, and ``auto`` where no GPU can be, count in numpy without importing torch."""
    from polymask.io.masks import write_png

    write_png(tmp_path / "gt" / "a.png", np.array([[0, 1], [1, 255]], np.uint8))
    write_png(tmp_path / "pred" / "a.png", np.array([[0, 1], [1, 1]], np.uint8))
    script = (
        "import sys; from polymask.score.run import score_folders; "
        f"r = score_folders({str(tmp_path / 'pred')!r}, {str(tmp_path / 'gt')!r}, "
        "device=sys.argv[1], workers=1); "
        "assert r.report.images_scored == 1; assert 'torch' not in sys.modules, 'torch imported'"
    )
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "-1"}  # no GPU to find, even on a GPU machine
    for device in ("cpu", "auto"):
        subprocess.run([sys.executable, "-c", script, device], check=True, env=env)


@settings(max_examples=40, deadline=None)
@given(batch=batches(max_classes=6, max_side=12))
def test_byte_path_equals_the_index_paths(batch):
    """8-bit masks take the joint-histogram path; as 16-bit masks the same pairs take the
    per-image index bincount (numpy) and the batched one (torch): all must count the same."""
    c, pairs = batch
    fast = count("numpy", [(g.astype(np.uint8), p) for g, p in pairs], c, boundary=2)
    wide = [(g.astype(np.uint16), None if p is None else p.astype(np.uint16)) for g, p in pairs]
    for backend in BACKENDS:
        np.testing.assert_array_equal(fast, count(backend, wide, c, boundary=2))


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
    layout = draw(st.sampled_from(["C", "view", "F", "mixed"]))
    if layout == "view":  # a view that skips a leading column, like a PNG row's filter byte
        gt, pred = (np.pad(a, ((0, 0), (1, 0)))[:, 1:] for a in (gt, pred))
    elif layout == "F":  # Fortran order, as nibabel returns NIfTI volumes
        gt, pred = np.asfortranarray(gt), np.asfortranarray(pred)
    elif layout == "mixed":
        gt = np.asfortranarray(gt)
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
