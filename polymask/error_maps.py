"""Error maps: where a prediction is right and wrong, in three colours, to look at by eye.

Green: true positive (the right foreground class). Red: false positive (a foreground class where
the ground truth has another class, background included). Blue: false negative (ground-truth
foreground predicted as background). Ignored pixels are grey; correct background is left as the
image (or black without one).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from polymask.masks import atomic_write, read_mask

TP_COLOR, FP_COLOR, FN_COLOR, IGNORE_COLOR = (0, 200, 0), (230, 30, 30), (30, 80, 255), (128,) * 3
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")


def error_map(
    gt: np.ndarray,
    pred: np.ndarray,
    ignore_index: int | None = None,
    image: np.ndarray | None = None,
    alpha: float = 0.6,
) -> np.ndarray:
    """(H, W, 3) uint8: the error colours blended over ``image`` (H, W, 3) when given."""
    base = np.zeros((*gt.shape, 3), np.float32) if image is None else image.astype(np.float32)
    out = base.copy()
    ignored = gt == ignore_index if ignore_index is not None else np.zeros(gt.shape, bool)
    wrong = (gt != pred) & ~ignored
    layers = [
        ((gt == pred) & (gt != 0) & ~ignored, TP_COLOR),
        (wrong & (pred != 0), FP_COLOR),
        (wrong & (pred == 0), FN_COLOR),
        (ignored, IGNORE_COLOR),
    ]
    for where, color in layers:
        out[where] = (1 - alpha) * base[where] + alpha * np.asarray(color, np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def find_image(images: Path | None, key: str) -> Path | None:
    if images is None:
        return None
    for suffix in IMAGE_SUFFIXES:
        for candidate in (images / f"{key}{suffix}", images / f"{key}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def write_error_map(
    out: Path,
    key: str,
    gt_path: Path,
    pred_path: Path | None,
    ignore_index: int | None,
    images: Path | None = None,
) -> Path:
    """Write ``out/KEY.png``; the image under ``images`` is used when found at the right size."""
    from PIL import Image

    gt = read_mask(gt_path)
    pred = read_mask(pred_path) if pred_path is not None else np.zeros_like(gt)
    picture = None
    found = find_image(images, key)
    if found is not None:
        with Image.open(found) as img:
            rgb = np.asarray(img.convert("RGB"))
        picture = rgb if rgb.shape[:2] == gt.shape else None
    buf = io.BytesIO()
    Image.fromarray(error_map(gt, pred, ignore_index, picture)).save(buf, "PNG")
    path = out / f"{key}.png"
    atomic_write(path, buf.getvalue())
    return path
