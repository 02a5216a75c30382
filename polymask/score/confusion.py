"""Batched confusion matrices: one bincount for many images, on any torch device or in numpy.

A batch is a list of (ground truth, prediction) pairs of any sizes. Every pixel becomes one
index ``image * R * C + gt * C + pred`` and a single bincount over the batch gives every image's
confusion matrix (rows: ground truth, columns: prediction). Ignored pixels are removed by
moving their ground truth to an extra row C (R = C + 1) that is dropped after the count: the
same result as selecting the other pixels, without compacting the arrays. The index is int32
when the largest one (B * R * C) fits, which is exact and several times faster on the CPU than
int64 (memory traffic dominates), and int64 otherwise. Counts are int64 from end to end, so a
dataset of any size sums exactly.

torch is optional: without it (or with ``device=None``) the same arithmetic runs in numpy. On the
CPU, 8-bit masks take a faster per-image path (:func:`_byte_batch`) with the same counts.

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

from polymask.runtime.scratch import scratch

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
    if device in (None, "cpu") and all(g.dtype == p.dtype == np.uint8 for g, p in pairs):
        return _byte_batch(pairs, num_classes, ignore_index, boundary)
    if device is None:
        return _numpy_batch(pairs, num_classes, ignore_index, boundary)
    return _torch_batch(pairs, num_classes, ignore_index, device, boundary)


RUN_FRACTION = 4
"""The run-length count is taken when the joint codes have at most one run per this many
pixels; with more runs a plain per-pixel bincount is as fast."""


def byte_table(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """Pixels of every (gt value, pred value) pair of two equal-shape uint8 maps: a (256, P)
    int64 table, ground truth on rows, P one more than the largest prediction value.

    Each pixel gets the 16-bit code ``pred << 8 | gt``; the prediction in the high byte keeps
    the table as small as the predicted classes (ground truth alone holds 255, the usual
    ignore value). Label maps are long runs of one code along their rows, and counting one
    code per run, weighted by its length, touches a fraction of the pixels that a per-pixel
    bincount does (which widens every code to a 64-bit index first): about twice as fast on
    typical masks. Maps with short runs (noise) take the per-pixel count. Both give the same
    integers: the weighted sums are of whole numbers below 2**53, exact in float64. Work
    arrays come from :mod:`polymask.runtime.scratch`, so no image-sized array is allocated per call.
    """
    if gt.shape != pred.shape:
        raise ValueError(f"ground truth is {gt.shape}, prediction is {pred.shape}")
    n = gt.size
    if n == 0:
        return np.zeros((256, 1), np.int64)
    flat = scratch("joint", n, np.uint16)
    joint = flat.reshape(gt.shape)
    np.left_shift(pred, 8, out=joint, dtype=np.uint16)
    joint |= gt
    change = scratch("change", n - 1, np.bool_)
    np.not_equal(flat[1:], flat[:-1], out=change)
    runs = np.count_nonzero(change) + 1
    if runs * RUN_FRACTION >= n:
        counts = np.bincount(flat)
    else:
        starts = scratch("starts", runs, np.intp)
        starts[0] = 0
        np.add(np.flatnonzero(change), 1, out=starts[1:])  # first pixel of every run
        codes = scratch("codes", runs, np.intp)
        np.copyto(codes, np.take(flat, starts, out=scratch("run_codes", runs, np.uint16)))
        lengths = scratch("lengths", runs, np.float64)
        np.subtract(starts[1:], starts[:-1], out=lengths[:-1])
        lengths[-1] = n - starts[-1]
        counts = np.bincount(codes, weights=lengths).astype(np.int64)
    table = np.zeros(-(-counts.size // 256) * 256, np.int64)
    table[: counts.size] = counts
    return table.reshape(-1, 256).T


def confusion_from_table(table: np.ndarray, c: int, ignore_index: int | None) -> np.ndarray:
    """The (C, C) confusion matrix in a :func:`byte_table`, ignored ground truth dropped."""
    cm = np.zeros((c, c), np.int64)
    k = min(c, table.shape[1])
    cm[:, :k] = table[:c, :k]
    if ignore_index is not None and ignore_index < c:
        cm[ignore_index] = 0
    return cm


def _byte_batch(pairs, c, ignore_index, boundary) -> BatchCounts:
    """8-bit masks on the CPU: one :func:`byte_table` per image, which needs no ignore handling
    beyond dropping a row, no per-image offset and no 32-bit index. Devices keep the batched
    single bincount."""
    cms = np.empty((len(pairs), c, c), dtype=np.int64)
    for i, (gt, pred) in enumerate(pairs):
        cms[i] = confusion_from_table(byte_table(gt, pred), c, ignore_index)
    out = BatchCounts(cms)
    if boundary is not None:
        _add_numpy_bands(out, pairs, c, ignore_index, boundary)
    return out


def _add_numpy_bands(out: BatchCounts, pairs, c: int, ignore_index, boundary) -> None:
    """Fill ``out``'s band counts, one image at a time in numpy."""
    rows = [band_counts(g, p, c, ignore_index, boundary) for g, p in pairs]
    out.band_gt, out.band_pred, out.band_hit = (
        np.stack([r[i] for r in rows]) if rows else np.zeros((0, c), np.int64) for i in range(3)
    )


def _layout(pairs, c: int, ignore_index: int | None) -> tuple[int, int, bool]:
    """Rows per image (C, or C + 1 with the dropped ignore row), bins per image, and whether
    the index needs 64 bits."""
    rows = c + 1 if ignore_index is not None else c
    stride = rows * c
    return rows, stride, len(pairs) * stride >= 2**31 - 1


def _numpy_batch(pairs, c, ignore_index, boundary) -> BatchCounts:
    n = len(pairs)
    rows, stride, wide = _layout(pairs, c, ignore_index)
    dtype = np.int64 if wide else np.int32
    index = np.empty(sum(g.size for g, _ in pairs), dtype=dtype)
    start = 0
    for i, (gt, pred) in enumerate(pairs):
        g = gt.astype(dtype).ravel()
        if ignore_index is not None:
            g[gt.ravel() == ignore_index] = c
        end = start + g.size
        np.multiply(g, c, out=index[start:end])
        index[start:end] += pred.ravel()
        index[start:end] += i * stride
        start = end
    cm = np.bincount(index, minlength=n * stride).reshape(n, rows, c)[:, :c, :]
    out = BatchCounts(np.ascontiguousarray(cm, dtype=np.int64))
    if boundary is not None:
        _add_numpy_bands(out, pairs, c, ignore_index, boundary)
    return out


def window_max(x, k: int, axis: int, maximum):
    """Max over every run of ``k`` entries along ``axis`` (the result is ``k - 1`` shorter), for
    numpy arrays or torch tensors (``maximum`` is ``np.maximum`` or ``torch.maximum``).

    Max-pooling with stride 1 by doubling: after step j each entry holds the max of the next 2^j,
    and two overlapping such runs cover ``k``; log2(k) elementwise passes whatever the width, where
    the CPU kernel of ``max_pool2d`` costs k per pixel.
    """

    def part(a, start: int, length: int):
        index = [slice(None)] * a.ndim
        index[axis] = slice(start, start + length)
        return a[tuple(index)]

    m, width = x, 1
    while 2 * width <= k:
        n = m.shape[axis] - width
        m = maximum(part(m, 0, n), part(m, width, n))
        width *= 2
    n = x.shape[axis] - k + 1
    return maximum(part(m, 0, n), part(m, k - width, n))


def _numpy_band(labels: np.ndarray, d: int) -> np.ndarray:
    x = np.pad(labels.astype(np.int32), d, constant_values=-1)[None]
    neg = np.pad(-labels.astype(np.int32), d, constant_values=1)[None]
    k = 2 * d + 1
    hi = window_max(window_max(x, k, 1, np.maximum), k, 2, np.maximum)
    lo = window_max(window_max(neg, k, 1, np.maximum), k, 2, np.maximum)
    return (hi != -lo)[0]


def band_counts(
    gt: np.ndarray, pred: np.ndarray, c: int, ignore_index: int | None, boundary: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band counts of one pair in numpy: pixels of each class in the ground-truth band, in the
    prediction band, and in both with the same class, ignore pixels excluded; (C,) int64 each."""
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


def _as_torch(a: np.ndarray, torch, device):
    """A tensor of the mask on the device; 16-bit ids widened first (torch lacks uint16
    arithmetic on some devices), 8-bit ones moved as they are (a quarter of the traffic)."""
    if a.dtype not in (np.uint8, np.int32, np.int64):
        a = a.astype(np.int32)
    elif not a.flags.writeable or not a.flags.c_contiguous:
        a = np.array(a)  # torch wants a writable, contiguous buffer
    return torch.from_numpy(a).to(device, non_blocking=True)


def _torch_batch(pairs, c, ignore_index, device, boundary) -> BatchCounts:
    import torch

    n = len(pairs)
    rows, stride, wide = _layout(pairs, c, ignore_index)
    dtype = torch.int64 if wide else torch.int32
    index = torch.empty(sum(g.size for g, _ in pairs), dtype=dtype, device=device)
    start = 0
    for i, (gt, pred) in enumerate(pairs):
        g = _as_torch(gt, torch, device).reshape(-1).to(dtype)
        if ignore_index is not None:
            g.masked_fill_(g == ignore_index, c)
        end = start + g.numel()
        torch.mul(g, c, out=index[start:end])
        index[start:end] += _as_torch(pred, torch, device).reshape(-1)
        index[start:end] += i * stride
        start = end
    cm = torch.bincount(index, minlength=n * stride).reshape(n, rows, c)[:, :c, :]
    out = BatchCounts(np.ascontiguousarray(cm.cpu().numpy(), dtype=np.int64))
    if boundary is not None:
        band_rows = [
            _torch_band_counts(g, p, c, ignore_index, boundary, torch, device) for g, p in pairs
        ]
        out.band_gt, out.band_pred, out.band_hit = (
            torch.stack([r[i] for r in band_rows]).cpu().numpy().astype(np.int64)
            if band_rows
            else np.zeros((0, c), np.int64)
            for i in range(3)
        )
    return out


def _torch_bands(gt, pred, d: int, torch):
    """Band masks of both label maps (int32 tensors): max != min over the (2d+1)^2 window, the
    outside of the image counting as another value; four channels, the maps for the max and
    the negated maps for the min."""
    h, w = gt.shape
    x = torch.full((4, h + 2 * d, w + 2 * d), -1, dtype=torch.int32, device=gt.device)
    x[2:] = 1  # outside the image: -1 for the max, and -(-1) for the negated maps
    x[0, d:-d, d:-d], x[1, d:-d, d:-d] = gt, pred
    x[2, d:-d, d:-d], x[3, d:-d, d:-d] = -gt, -pred
    k = 2 * d + 1
    y = window_max(window_max(x, k, 1, torch.maximum), k, 2, torch.maximum)
    return y[0] != -y[2], y[1] != -y[3]


def _torch_band_counts(gt, pred, c, ignore_index, boundary, torch, device):
    if gt.size == 0:
        return (torch.zeros(c, dtype=torch.int64, device=device),) * 3
    d = band_width(boundary, gt.shape)
    g = _as_torch(gt, torch, device).to(torch.int32)
    p = _as_torch(pred, torch, device).to(torch.int32)
    gt_band, pred_band = _torch_bands(g, p, d, torch)
    if ignore_index is not None:
        valid = g != ignore_index
        gt_band &= valid
        pred_band &= valid

    def per_class(where, labels):  # pixels outside ``where`` go to a dropped bin c
        return torch.bincount(torch.where(where, labels, c).reshape(-1), minlength=c + 1)[:c]

    return (
        per_class(gt_band, g),
        per_class(pred_band, p),
        per_class(gt_band & pred_band & (g == p), g),
    )


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
