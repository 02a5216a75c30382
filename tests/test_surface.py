"""Surface distances: against MONAI's metrics, hand-computed cases, the empty rules, and the
torch backend held to the numpy one."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from polymask.score import surface as S

pytest.importorskip("scipy")
try:  # the numpy backend's tests run without torch; MONAI's and the torch backend's need it
    import torch
except ImportError:
    torch = None

RTOL = 1e-6
"""MONAI returns float32: its values carry a relative rounding error of about 6e-8."""


def blobs(shape, num_classes, seed, sigma=2.5):
    """A label volume of smooth random regions (quantiles of smoothed noise)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    x = gaussian_filter(rng.random(shape), sigma)
    edges = np.quantile(x, np.linspace(0, 1, num_classes + 1)[1:-1])
    return np.digitize(x, edges).astype(np.uint8)


def pair(shape, num_classes, seed):
    gt = blobs(shape, num_classes, seed)
    pred = blobs(shape, num_classes, seed + 1000)
    keep = np.random.default_rng(seed).random(shape) < 0.7  # prediction near the truth
    pred[keep] = gt[keep]
    from scipy.ndimage import median_filter

    return gt, median_filter(pred, 3)


def monai_metrics(gt, pred, num_classes, spacing, tolerance):
    pytest.importorskip("monai")
    from monai.metrics import (
        compute_average_surface_distance,
        compute_hausdorff_distance,
        compute_surface_dice,
    )

    def one_hot(a):
        t = torch.nn.functional.one_hot(torch.from_numpy(a.astype(np.int64)), num_classes)
        return t.movedim(-1, 0)[None].float()

    p, g = one_hot(pred), one_hot(gt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI warns on every empty class
        out = {
            "hd": compute_hausdorff_distance(p, g, spacing=spacing),
            "hd95": compute_hausdorff_distance(p, g, spacing=spacing, percentile=95),
            "assd": compute_average_surface_distance(p, g, spacing=spacing, symmetric=True),
            "surface_dice": compute_surface_dice(
                p, g, [tolerance] * (num_classes - 1), spacing=spacing
            ),
        }
    return {k: np.concatenate([[np.nan], v[0].double().numpy()]) for k, v in out.items()}


def distances_clear_of(gt, pred, c, spacing, tolerance, gap=1e-4):
    """No surface distance lies within ``gap`` of the tolerance, where float32 (MONAI) and
    float64 could count a tie differently."""
    g, p = S.surface(gt == c), S.surface(pred == c)
    if not g.any() or not p.any():
        return True
    d = np.concatenate(S.directed_distances_numpy(p, g, spacing))
    return not np.any(np.abs(d - tolerance) < gap)


CASES = [
    ((48, 40, 24), (0.8, 0.8, 2.5), 4, 0, 1.3),
    ((30, 34, 22), (1.0, 1.0, 1.0), 3, 1, 2.1),
    ((25, 31, 17), (2.0, 0.7, 1.1), 5, 2, 1.75),
    ((64, 80), (0.5, 1.2), 4, 3, 1.1),
    ((50, 45), (1.0, 1.0), 3, 4, 1.5),
]


@pytest.mark.parametrize(("shape", "spacing", "num_classes", "seed", "tolerance"), CASES)
def test_matches_monai(shape, spacing, num_classes, seed, tolerance):
    gt, pred = pair(shape, num_classes, seed)
    ours = S.surface_metrics(gt, pred, num_classes, spacing, tolerance=tolerance)
    ref = monai_metrics(gt, pred, num_classes, spacing, tolerance)
    for c in range(1, num_classes):
        assert distances_clear_of(gt, pred, c, spacing, tolerance)
    for name in S.SURFACE_METRICS:
        np.testing.assert_allclose(ours[name], ref[name], rtol=RTOL, atol=1e-12, err_msg=name)
    assert np.all(ours["hd"][1:] > 0)  # a case that tests something


def test_matches_monai_with_an_empty_class_and_a_missed_one():
    gt, pred = pair((30, 30, 12), 4, 7)
    gt[gt == 3] = 1  # class 3 in the prediction only
    pred[pred == 2] = 1
    gt[gt == 2] = 1  # class 2 in neither
    ours = S.surface_metrics(gt, pred, 4, (0.8, 0.8, 2.5), tolerance=1.0)
    ref = monai_metrics(gt, pred, 4, (0.8, 0.8, 2.5), 1.0)
    assert math.isnan(ours["hd"][2]) and math.isnan(ref["hd"][2])
    assert ours["hd"][3] == ref["hd"][3] == math.inf
    assert ours["assd"][3] == ref["assd"][3] == math.inf
    assert ours["surface_dice"][3] == ref["surface_dice"][3] == 0
    # MONAI interpolates a percentile of infinities to NaN; the rule here keeps it inf
    assert ours["hd95"][3] == math.inf and math.isnan(ref["hd95"][3])


def test_two_single_voxels_at_a_known_distance():
    gt = np.zeros((5, 6, 7), np.uint8)
    pred = np.zeros_like(gt)
    gt[1, 1, 1] = 1
    pred[3, 4, 2] = 1
    spacing = (0.8, 0.5, 2.5)
    expected = math.dist((0.8, 0.5, 2.5), (3 * 0.8, 4 * 0.5, 2 * 2.5))
    out = S.surface_metrics(gt, pred, 2, spacing, tolerance=expected - 1e-9)
    for name in ("hd", "hd95", "assd"):
        assert out[name][1] == pytest.approx(expected, rel=1e-12)
    assert out["surface_dice"][1] == 0
    at = S.surface_metrics(gt, pred, 2, spacing, tolerance=expected + 1e-9)
    assert at["surface_dice"][1] == 1


def test_hand_computed_2d_squares():
    """A 3x3 square against the same square shifted one column, spacing 2 along columns.
    Surfaces are the 8 ring voxels of each. From the prediction's ring: 4 voxels lie on the
    truth's ring (0); its 3 right-column voxels are 1 column (2.0) from it; its left-middle voxel
    is the truth's centre, 1 row (1.0) from the truth's ring. The way back is the mirror image."""
    gt = np.zeros((7, 7), np.uint8)
    pred = np.zeros_like(gt)
    gt[2:5, 1:4] = 1
    pred[2:5, 2:5] = 1
    out = S.surface_metrics(gt, pred, 2, (1.0, 2.0), tolerance=1.0)
    d = np.array([0.0] * 4 + [1.0] + [2.0] * 3)
    assert out["hd"][1] == 2.0
    assert out["hd95"][1] == pytest.approx(np.percentile(d, 95))
    assert out["assd"][1] == pytest.approx(7 / 8)
    assert out["surface_dice"][1] == pytest.approx(10 / 16)


def test_surface_is_erosion_xor_with_image_edge_outside():
    from scipy.ndimage import binary_erosion

    rng = np.random.default_rng(3)
    for shape in ((9, 11), (7, 8, 6)):
        mask = rng.random(shape) < 0.6
        np.testing.assert_array_equal(S.surface(mask), mask ^ binary_erosion(mask))


@pytest.mark.parametrize(
    ("empty", "one_empty", "both", "one"),
    [
        ("nan", "inf", (math.nan, math.nan), (math.inf, 0.0)),
        ("one", "inf", (0.0, 1.0), (math.inf, 0.0)),
        ("zero", "inf", (math.inf, 0.0), (math.inf, 0.0)),
        ("zero", "nan", (math.nan, 0.0), (math.nan, 0.0)),
    ],
)
def test_empty_rules(empty, one_empty, both, one):
    gt = np.zeros((6, 6, 4), np.uint8)
    pred = np.zeros_like(gt)
    gt[1:3, 1:3, 1:3] = 2  # class 2 in the ground truth only, class 1 in neither
    out = S.surface_metrics(gt, pred, 3, empty=empty, one_empty=one_empty)
    for c, (distance, dice) in ((1, both), (2, one)):
        for name in ("hd", "hd95", "assd"):
            np.testing.assert_equal(out[name][c], distance)
        np.testing.assert_equal(out["surface_dice"][c], dice)


def test_ignore_removes_voxels_from_both_masks():
    gt = np.zeros((8, 8), np.uint8)
    gt[2:6, 2:6] = 1
    gt[:, 6:] = 255
    pred = gt.copy()
    pred[pred == 255] = 1  # the prediction's extra class-1 voxels all lie on ignored voxels
    out = S.surface_metrics(gt, pred, 2, ignore_index=255)
    assert out["hd"][1] == 0 and out["surface_dice"][1] == 1
    pred[gt == 1] = 0
    out = S.surface_metrics(gt, pred, 2, ignore_index=255)
    assert out["hd"][1] == math.inf  # nothing left of the prediction: one mask empty


def test_ignore_matches_monai_surface_dice():
    """MONAI's sentinel rule: a ground-truth value outside the classes zeroes both masks."""
    pytest.importorskip("monai")
    from monai.metrics import compute_surface_dice

    gt, pred = pair((30, 28, 10), 4, 9)
    gt[5:15, :, 3:6] = 255
    spacing, tolerance = (0.8, 0.8, 2.5), 1.1
    assert all(
        distances_clear_of(*(np.where(gt == 255, 0, a) for a in (gt, pred)), c, spacing, tolerance)
        for c in (1, 2, 3)
    )
    ours = S.surface_metrics(gt, pred, 4, spacing, tolerance, ignore_index=255)

    def one_hot(a):
        return torch.from_numpy(np.moveaxis(a[..., None] == np.arange(4), -1, 0)[None]).float()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = compute_surface_dice(
            one_hot(pred), one_hot(gt), [tolerance] * 3, spacing=spacing, ignore_index=255
        )
    np.testing.assert_allclose(ours["surface_dice"][1:], ref[0].double().numpy(), rtol=RTOL)
    plain = S.surface_metrics(gt, pred, 4, spacing, tolerance)
    assert not np.allclose(plain["surface_dice"][1:], ours["surface_dice"][1:])  # it mattered


def test_classes_not_asked_are_nan():
    gt, pred = pair((20, 20, 8), 3, 5)
    out = S.surface_metrics(gt, pred, 3, classes=[2])
    assert math.isnan(out["hd"][0]) and math.isnan(out["hd"][1]) and out["hd"][2] > 0


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"spacing": (1.0, 0.0, 1.0)}, "spacing"),
        ({"spacing": (1.0, 1.0)}, "spacing"),
        ({"tolerance": -1}, "tolerance"),
        ({"percentile": 101}, "percentile"),
        ({"empty": "maybe"}, "empty"),
        ({"one_empty": "zero"}, "one_empty"),
        ({"backend": "jax"}, "backend"),
        ({"classes": [3]}, "classes"),
    ],
)
def test_bad_arguments_are_named(kwargs, argument):
    gt = np.zeros((4, 4, 4), np.uint8)
    gt[1, 1, 1] = 1
    with pytest.raises(ValueError, match=f"`{argument}`"):
        S.surface_metrics(gt, gt.copy(), 2, **kwargs)  # every class present: checked up front


def test_binary_masks_are_one_class_and_scores_are_refused():
    gt = np.zeros((6, 6), bool)
    gt[1:4, 1:4] = True
    pred = np.roll(gt, 1, axis=1)
    out = S.surface_metrics(gt, pred, 2)
    assert out["hd"][1] == 1.0
    with pytest.raises(ValueError, match="integer label arrays"):
        S.surface_metrics(gt.astype(np.float32), pred, 2)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="ground truth is"):
        S.surface_metrics(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8), 2)


DEVICES = [
    pytest.param("cpu", marks=pytest.mark.skipif(torch is None, reason="no torch")),
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(
            torch is None or not torch.cuda.is_available(), reason="no CUDA device"
        ),
    ),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("shape", "spacing", "num_classes", "seed", "tolerance"), CASES)
def test_torch_backend_equals_numpy(shape, spacing, num_classes, seed, tolerance, device):
    gt, pred = pair(shape, num_classes, seed)
    ours = S.surface_metrics(gt, pred, num_classes, spacing, tolerance=tolerance)
    on_torch = S.surface_metrics(
        gt, pred, num_classes, spacing, tolerance=tolerance, backend="torch", device=device
    )
    for name in S.SURFACE_METRICS:
        np.testing.assert_allclose(on_torch[name], ours[name], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
def test_torch_distances_equal_scipy_in_small_chunks(monkeypatch, device):
    """The chunked loops of the torch transform, forced to many small chunks."""
    monkeypatch.setattr(S, "CHUNK_BYTES", 8 * 40)
    rng = np.random.default_rng(11)
    a = rng.random((9, 13, 7)) < 0.05
    b = rng.random((9, 13, 7)) < 0.05
    spacing = (0.8, 1.3, 2.5)
    for x, y in zip(
        S.directed_distances_torch(a, b, spacing, device),
        S.directed_distances_numpy(a, b, spacing),
        strict=True,
    ):
        np.testing.assert_allclose(x, y, rtol=1e-12)


def brute_force(a, b, spacing):
    pa = np.argwhere(a) * np.asarray(spacing)
    pb = np.argwhere(b) * np.asarray(spacing)
    return np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1)).min(axis=1)


def test_directed_distances_equal_brute_force():
    rng = np.random.default_rng(2)
    a = rng.random((10, 12, 6)) < 0.08
    b = rng.random((10, 12, 6)) < 0.08
    spacing = (0.8, 0.8, 2.5)
    d_ab, d_ba = S.directed_distances_numpy(a, b, spacing)
    np.testing.assert_allclose(d_ab, brute_force(a, b, spacing), rtol=1e-12)
    np.testing.assert_allclose(d_ba, brute_force(b, a, spacing), rtol=1e-12)


volumes = arrays(np.uint8, st.tuples(*[st.integers(2, 7)] * 3), elements=st.integers(0, 2))
spacings = st.tuples(*[st.sampled_from([0.5, 0.8, 1.0, 2.5])] * 3)


@settings(max_examples=60, deadline=None)
@given(volumes, st.data(), spacings)
def test_properties(gt, data, spacing):
    pred = data.draw(arrays(np.uint8, gt.shape, elements=st.integers(0, 2)))
    ab = S.surface_metrics(gt, pred, 3, spacing)
    ba = S.surface_metrics(pred, gt, 3, spacing)
    for name in ("hd", "hd95", "assd", "surface_dice"):  # symmetric in the two masks
        np.testing.assert_allclose(ab[name], ba[name], rtol=1e-12)
    defined = ~np.isnan(ab["hd"])
    assert np.all(ab["hd95"][defined] <= ab["hd"][defined])
    assert np.all(ab["assd"][defined] <= ab["hd"][defined])
    same = S.surface_metrics(gt, gt, 3, spacing)
    present = [c for c in (1, 2) if np.any(gt == c)]
    for c in present:
        assert same["hd"][c] == same["hd95"][c] == same["assd"][c] == 0
        assert same["surface_dice"][c] == 1
