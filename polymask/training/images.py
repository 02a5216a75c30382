"""Decoding the image a mask belongs to, for a training sample.

The image is read upright, by its EXIF orientation, as the annotation tool showed it to the
person drawing, and only once its header says it has its mask's size and fits the memory
budget: the one reader that overlays and error maps use too (:mod:`polymask.io.images`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IMAGE_COST = 16
"""Bytes a pixel of what a sample holds of its image: the decoded RGB (3) and its float32
tensor (12). The image is decoded only when that fits the budget."""


class SampleError(ValueError):
    """An image of the dataset that cannot be made into a sample: its annotation or its image
    is missing or bad. The message names the file, the place and the problem.

    A ``ValueError`` built from its message alone, so that a DataLoader worker can raise it
    again in the main process with that message intact."""


def decode_image(
    source: str | Path | bytes, size: tuple[int, int], name: str, mode: str = "RGB"
) -> np.ndarray:
    """The pixels of an image file (or of encoded bytes), upright, converted to Pillow
    ``mode``: uint8 (H, W, 3) for ``RGB``, (H, W) for ``L``.

    Args:
        size: (width, height) the image must have: its mask's.
        name: how messages name the image (its path, or ``imageData of a.json``).

    Raises:
        SampleError: the file is missing, special, not an image, truncated, of another size
            than ``size``, or over the memory budget.
    """
    from polymask.io.images import ImageReadError, read_upright

    try:
        return read_upright(source, size, name, IMAGE_COST, mode)
    except ImageReadError as exc:
        raise SampleError(str(exc)) from None
