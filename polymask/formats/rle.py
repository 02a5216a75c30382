"""COCO's run-length mask encoding (RLE), in numpy.

``counts`` are run lengths of 0s then 1s, alternating, in column-major order; the compressed
string form packs them 5 bits a character (pycocotools' ``rleFrString``). Decoded lengths are
checked: an RLE that does not cover exactly height x width pixels is refused, where
pycocotools would read or write past its buffer.
"""

from __future__ import annotations

import numpy as np


class RleError(ValueError):
    """An RLE that cannot be decoded to the declared size; the message says why."""


def counts_to_mask(counts, height: int, width: int) -> np.ndarray:
    """Decode run lengths (0s first) into a (height, width) boolean mask."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or (counts.size and counts.min() < 0):
        raise RleError("counts must be a list of non-negative run lengths")
    total = int(counts.sum())
    if total != height * width:
        raise RleError(
            f"RLE counts cover {total} pixels but the size {height}x{width} has {height * width}"
        )
    values = (np.arange(counts.size) & 1).astype(bool)
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T


def string_to_counts(s: str) -> list[int]:
    """Decode COCO's compressed RLE string (``rleFrString``) into run lengths.

    Each count is a little-endian group of 5-bit chunks in characters 48..111 (bit 0x20 means
    "more follows", the last chunk's 0x10 bit is a sign), stored from the fourth count on as
    the difference to the count two places before. Counts are 32-bit unsigned in the C code,
    and so wrap here too.
    """
    counts: list[int] = []
    x = k = 0
    for pos, ch in enumerate(s):
        c = ord(ch) - 48
        if not 0 <= c < 64:
            raise RleError(f"character {ch!r} at {pos} is not part of a COCO RLE string")
        if k >= 7:
            raise RleError(f"count ending at {pos} is longer than 32 bits")
        x |= (c & 0x1F) << (5 * k)
        k += 1
        if c & 0x20:
            continue
        if c & 0x10:
            x -= 1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x & 0xFFFFFFFF)
        x = k = 0
    if k:
        raise RleError("RLE string ends in the middle of a count")
    return counts
