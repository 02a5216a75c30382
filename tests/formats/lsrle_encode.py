"""A Label Studio brush RLE encoder written from the format's description, for tests only.

It emits every run kind the decoder must read: repeated runs with each of the four length
fields and literal runs, so a decoder that passes round trips through it reads them all.
"""

from __future__ import annotations

import numpy as np

SIZES = (3, 4, 8, 16)


def encode(values: np.ndarray, word: int = 8, literal_every: int = 0) -> list[int]:
    """Encode a flat array of RGBA values; every ``literal_every``-th run is written literally."""
    bits = [f"{len(values):032b}", f"{word - 1:05b}", *(f"{s - 1:04b}" for s in SIZES)]
    values = np.asarray(values)
    edges = np.flatnonzero(np.diff(values)) + 1
    starts = np.concatenate([[0], edges]).astype(int)
    ends = np.concatenate([edges, [len(values)]]).astype(int)
    for n, (i, j) in enumerate(zip(starts, ends, strict=True)):
        while i < j:
            length = min(j - i, 1 << SIZES[-1])
            k = next(k for k, s in enumerate(SIZES) if length - 1 < (1 << s))
            if literal_every and n % literal_every == 0:
                bits.append(f"0{k:02b}{length - 1:0{SIZES[k]}b}")
                bits.extend(f"{int(v):0{word}b}" for v in values[i : i + length])
            else:
                bits.append(f"1{k:02b}{length - 1:0{SIZES[k]}b}{int(values[i]):0{word}b}")
            i += length
    stream = "".join(bits)
    stream += "0" * (-len(stream) % 8)
    return [int(stream[p : p + 8], 2) for p in range(0, len(stream), 8)]


def encode_mask(mask: np.ndarray, literal_every: int = 0) -> list[int]:
    """A boolean (h, w) mask as Label Studio stores it: RGBA, alpha 255 where set."""
    rgba = np.zeros((*mask.shape, 4), dtype=np.uint8)
    rgba[mask] = (255, 0, 0, 255)
    return encode(rgba.ravel(), literal_every=literal_every)
