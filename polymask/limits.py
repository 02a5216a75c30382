"""Size limits that every reader checks before it allocates.

A leaf module: readers of annotations and of masks both need these numbers, and a mask reader
should not import every annotation format to learn them.
"""

from __future__ import annotations

import numpy as np

MAX_SIDE = 1 << 17
"""Largest image side accepted (131072 px): larger declared sizes are refused before allocating."""
MAX_PIXELS = 1 << 30
"""Largest image area accepted (1 Gpx, 1 GiB as a uint8 mask)."""
MAX_COORD = float(1 << 24)
"""Coordinates beyond this are refused: no image is that large and drawing code would overflow."""


def check_size(width: int, height: int) -> str | None:
    """Why an image of this size cannot be rasterized, or None when it can."""
    if width <= 0 or height <= 0:
        return f"image size must be positive, got {width}x{height}"
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        return (
            f"image size {width}x{height} exceeds the limit ({MAX_SIDE} px a side, {MAX_PIXELS} px)"
        )
    return None


SCALE = 5
"""pycocotools' upsampling factor for polygon edges."""
MAX_STEPS = 1 << 25
"""Largest upsampled polygon perimeter walked (about 6.7 million pixels of outline)."""


def polygon_steps(xy: np.ndarray) -> int:
    """How many upsampled points pycocotools' scan conversion walks for this polygon: the cost
    bound that COCO polygons are checked against (``MAX_STEPS``) before they are drawn.
    Vertices are scaled by ``SCALE`` and cast as C casts (towards zero)."""
    x = (SCALE * xy[:, 0] + 0.5).astype(np.int64)
    y = (SCALE * xy[:, 1] + 0.5).astype(np.int64)
    return int(
        np.sum(np.maximum(np.abs(np.diff(x, append=x[:1])), np.abs(np.diff(y, append=y[:1]))) + 1)
    )
