"""Batched confusion matrices: one bincount for many images, on any torch device or in numpy.

A batch is a list of (ground truth, prediction) pairs of any sizes. Pixels whose ground truth is
the ignore index are removed first; every remaining pixel becomes one int64 index
``image * C * C + gt * C + pred`` and a single bincount over the batch gives every image's
C x C matrix (rows: ground truth, columns: prediction). Counts stay int64 from end to end, so a
dataset of any size sums exactly.

torch is optional: without it (or with ``device=None``) the same arithmetic runs in numpy.

The boundary counts use the same trick: a pixel lies in the inner band of width ``d`` of its
class when another value (or the image edge) lies within ``d`` pixels of it in the chessboard
metric, which is one max-pool and one min-pool of the label image, whatever the number of
classes. That band equals ``mask_c & ~erode(mask_c, square of side 2d+1)`` for every class c,
the band Boundary IoU (Cheng et al. 2021) is defined on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

Pair = tuple[np.ndarray, np.ndarray]


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
    (at least 1), as Boundary IoU's ``dilation_ratio``."""
    if boundary >= 1:
        return int(round(boundary))
    return max(1, int(round(boundary * float(np.hypot(*shape)))))


@dataclass
class BatchCounts:
    """Per-image counts of one batch, all int64.

    ``confusion`` is (B, C, C). ``band_gt``/``band_pred``/``band_hit`` are (B, C) or None: pixels
    of each class in the ground-truth band, in the prediction band, and in both with the same
    class (ignore pixels excluded).
    """

    confusion: np.ndarray
    band_gt: np.ndarray | None = None
    band_pred: np.ndarray | None = None
    band_hit: np.ndarray | None = None


def confusion_batch(
    pairs: Sequence[Pair],
    num_classes: int,
    ignore_index: int | None = None,
    device: str | None = None,
    boundary: float | None = None,
) -> BatchCounts:
    """Per-image confusion matrices (and boundary counts) of a batch of (gt, pred) pairs.

    Args:
        pairs: ground truth and prediction of each image, equal shapes within a pair. Values
            must be class ids below ``num_classes`` (the ground truth may also hold
            ``ignore_index``); callers validate, this function does not pay for it again.
        num_classes: C.
        ignore_index: ground-truth value whose pixels are not counted.
        device: a torch device ("cpu", "cuda", "cuda:1"); None computes in numpy.
        boundary: band width for the boundary counts (pixels, or a fraction of the diagonal).
    """
    check_num_classes(num_classes)
    check_ignore_index(ignore_index)
    check_boundary(boundary)
    for gt, pred in pairs:
        if gt.shape != pred.shape:
            raise ValueError(f"ground truth is {gt.shape}, prediction is {pred.shape}")
    if device is None:
        return _numpy_batch(pairs, num_classes, ignore_index, boundary)
    return _torch_batch(pairs, num_classes, ignore_index, device, boundary)


def _numpy_batch(pairs, c, ignore_index, boundary) -> BatchCounts:
    gts = [np.asarray(g).ravel() for g, _ in pairs]
    preds = [np.asarray(p).ravel() for _, p in pairs]
    sizes = [g.size for g in gts]
    gt = np.concatenate(gts).astype(np.int64) if gts else np.zeros(0, np.int64)
    pred = np.concatenate(preds).astype(np.int64) if preds else np.zeros(0, np.int64)
    image = np.repeat(np.arange(len(pairs), dtype=np.int64), sizes)
    if ignore_index is not None:
        keep = gt != ignore_index
        gt, pred, image = gt[keep], pred[keep], image[keep]
    index = image * (c * c) + gt * c + pred
    cm = np.bincount(index, minlength=len(pairs) * c * c).reshape(len(pairs), c, c)
    out = BatchCounts(cm.astype(np.int64))
    if boundary is not None:
        rows = [_numpy_band_counts(g, p, c, ignore_index, boundary) for g, p in pairs]
        out.band_gt, out.band_pred, out.band_hit = (
            np.stack([r[i] for r in rows]) if rows else np.zeros((0, c), np.int64)
            for i in range(3)
        )
    return out


def _numpy_window(a: np.ndarray, d: int, op) -> np.ndarray:
    """``op`` (np.max / np.min) over the (2d+1)^2 window, outside the image padded with -1."""
    padded = np.pad(a, d, constant_values=-1)
    view = np.lib.stride_tricks.sliding_window_view(padded, 2 * d + 1, axis=0)
    rows = op(view, axis=-1)
    view = np.lib.stride_tricks.sliding_window_view(rows, 2 * d + 1, axis=1)
    return op(view, axis=-1)


def _numpy_band(labels: np.ndarray, d: int) -> np.ndarray:
    a = labels.astype(np.int32)
    return _numpy_window(a, d, np.max) != _numpy_window(a, d, np.min)


def _numpy_band_counts(gt, pred, c, ignore_index, boundary):
    if gt.size == 0:
        return (np.zeros(c, np.int64),) * 3
    d = band_width(boundary, gt.shape)
    gt_band, pred_band = _numpy_band(gt, d), _numpy_band(pred, d)
    valid = gt != ignore_index if ignore_index is not None else np.ones(gt.shape, bool)
    g = gt.astype(np.int64)
    p = pred.astype(np.int64)
    band_gt = np.bincount(g[gt_band & valid], minlength=c)[:c]
    band_pred = np.bincount(p[pred_band & valid], minlength=c)[:c]
    band_hit = np.bincount(g[gt_band & pred_band & valid & (g == p)], minlength=c)[:c]
    return band_gt, band_pred, band_hit


def _flat(arrays: list[np.ndarray]) -> np.ndarray:
    """The arrays raveled end to end in their smallest common dtype: one small host copy and one
    transfer of 8- or 16-bit data, widened to int64 only on the device."""
    dtype = np.result_type(*[a.dtype for a in arrays])
    if dtype == np.uint16:  # torch lacks uint16 arithmetic on some devices
        dtype = np.int32
    return np.concatenate([np.asarray(a, dtype=dtype).ravel() for a in arrays])


def _as_torch(a: np.ndarray, torch, device):
    return torch.from_numpy(_flat([a])).to(device, non_blocking=True).reshape(a.shape)


def _torch_batch(pairs, c, ignore_index, device, boundary) -> BatchCounts:
    import torch

    n = len(pairs)
    if n == 0:
        empty = np.zeros((0, c), np.int64) if boundary is not None else None
        return BatchCounts(np.zeros((0, c, c), np.int64), empty, empty, empty)
    gt = torch.from_numpy(_flat([g for g, _ in pairs])).to(device).long()
    pred = torch.from_numpy(_flat([p for _, p in pairs])).to(device).long()
    sizes = torch.tensor([g.size for g, _ in pairs], device=device)
    index = torch.repeat_interleave(torch.arange(n, device=device) * (c * c), sizes)
    if ignore_index is not None:
        keep = gt != ignore_index
        gt, pred, index = gt[keep], pred[keep], index[keep]
    index += gt * c + pred
    cm = torch.bincount(index, minlength=n * c * c).reshape(n, c, c)
    out = BatchCounts(cm.cpu().numpy().astype(np.int64))
    if boundary is not None:
        rows = [_torch_band_counts(g, p, c, ignore_index, boundary, torch, device)
                for g, p in pairs]
        out.band_gt, out.band_pred, out.band_hit = (
            torch.stack([r[i] for r in rows]).cpu().numpy().astype(np.int64) for i in range(3)
        )
    return out


def _torch_band(labels, d: int, torch):
    """Band pixels: min != max over the window; outside the image counts as another value."""
    import torch.nn.functional as F

    x = F.pad(labels.float()[None, None], (d, d, d, d), value=-1.0)
    k = 2 * d + 1
    hi = F.max_pool2d(x, k, stride=1)
    lo = -F.max_pool2d(-x, k, stride=1)
    return (hi != lo)[0, 0]


def _torch_band_counts(gt, pred, c, ignore_index, boundary, torch, device):
    if gt.size == 0:
        return (torch.zeros(c, dtype=torch.int64, device=device),) * 3
    d = band_width(boundary, gt.shape)
    g = _as_torch(gt, torch, device).long()
    p = _as_torch(pred, torch, device).long()
    gt_band, pred_band = _torch_band(g, d, torch), _torch_band(p, d, torch)
    valid = g != ignore_index if ignore_index is not None else torch.ones_like(gt_band)
    band_gt = torch.bincount(g[gt_band & valid], minlength=c)[:c]
    band_pred = torch.bincount(p[pred_band & valid], minlength=c)[:c]
    band_hit = torch.bincount(g[gt_band & pred_band & valid & (g == p)], minlength=c)[:c]
    return band_gt, band_pred, band_hit


def resolve_device(device: str = "auto") -> str | None:
    """A torch device name, or None for the numpy path (torch not installed).

    ``auto``: CUDA when available, else the CPU (numpy when torch is missing).
    """
    try:
        import torch
    except ImportError:
        if device in ("auto", "cpu"):
            return None
        raise ValueError(f"device {device!r} needs torch, which is not installed") from None
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device == "cuda" or device.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available")
        index = device.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise ValueError(
                f"device {device!r}: there are {torch.cuda.device_count()} CUDA devices"
            )
        return device
    raise ValueError(f"Expected argument `device` to be auto, cpu or cuda[:N], but got {device!r}.")
