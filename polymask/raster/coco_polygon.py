"""Full-image masks of COCO polygons, for the shapes the ``coco`` convention cannot fill one
by one in place (parts united, holes cleared). The scan conversion itself, pycocotools'
``rleFrPoly`` bit for bit, is :func:`polymask.formats.rle.polygon_block`.
"""

from __future__ import annotations

import numpy as np

from polymask.formats.rle import polygon_block


def polygon_mask(xy, height: int, width: int) -> np.ndarray:
    """The (height, width) boolean mask ``pycocotools`` makes of one polygon."""
    out = np.zeros((height, width), dtype=bool)
    (r0, c0), block = polygon_block(xy, height, width)
    out[r0 : r0 + block.shape[0], c0 : c0 + block.shape[1]] = block
    return out
