"""Mask patches (decoded RLE, LabelMe mask shapes), pasted the same way under every convention."""

from __future__ import annotations

import numpy as np

from polymask.model import Shape


def paste_patch(out: np.ndarray, shape: Shape, value: int) -> None:
    """Set the pixels of a boolean mask patch whose top-left pixel is ``points[0]``, clipped."""
    x0, y0 = (int(v) for v in shape.points[0])
    patch = shape.mask
    h, w = out.shape
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + patch.shape[0], h), min(x0 + patch.shape[1], w)
    if ys < ye and xs < xe:
        region = out[ys:ye, xs:xe]
        region[patch[ys - y0 : ye - y0, xs - x0 : xe - x0]] = value
