"""Label Studio's brush RLE (the ``rle-pack`` bit stream of thi.ng/umbrella), decoded in numpy.

A brush result stores the RGBA pixels of the whole image (``height * width * 4`` values) as a
bit stream, most significant bit first:

- a header: the value count (32 bits), the word size minus one (5 bits) and four run-length
  field widths minus one (4 bits each);
- then chunks: a flag bit, a 2-bit index choosing one of the four widths, and a length field
  of that width (``n - 1``). Flag 1: one word repeated ``n`` times; flag 0: ``n`` literal words.

The mask is the alpha channel (every fourth value) being non-zero, as Label Studio's converter
reads it.
"""

from __future__ import annotations

import numpy as np

from polymask.formats.rle import RleError


class _Bits:
    """Reads unsigned big-endian fields from a bit array, refusing reads past its end."""

    def __init__(self, data: bytes):
        self.bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        self.weights: dict[int, np.ndarray] = {}
        self.i = 0

    def read(self, size: int) -> int:
        j = self.i + size
        if j > self.bits.size:
            raise RleError("brush RLE data ends early")
        w = self.weights.get(size)
        if w is None:
            w = self.weights[size] = 1 << np.arange(size - 1, -1, -1, dtype=np.uint64)
        value = int(np.dot(self.bits[self.i : j].astype(np.uint64), w))
        self.i = j
        return value

    def read_words(self, n: int, size: int) -> np.ndarray:
        j = self.i + n * size
        if j > self.bits.size:
            raise RleError("brush RLE data ends early")
        chunk = self.bits[self.i : j].reshape(n, size).astype(np.uint64)
        self.i = j
        return chunk @ (1 << np.arange(size - 1, -1, -1, dtype=np.uint64))


def decode(data: list[int] | bytes, height: int, width: int) -> np.ndarray:
    """The (height, width) boolean mask of a brush RLE; :class:`RleError` when it is malformed."""
    try:
        raw = bytes(data)
    except (ValueError, TypeError):
        raise RleError("brush RLE must be a list of bytes (0..255)") from None
    stream = _Bits(raw)
    num = stream.read(32)
    if num != height * width * 4:
        raise RleError(
            f"brush RLE holds {num} values but a {width}x{height} RGBA image has "
            f"{height * width * 4}"
        )
    word = stream.read(5) + 1
    sizes = [stream.read(4) + 1 for _ in range(4)]
    # only the alpha values (positions 3, 7, 11, ...) are kept: memory is one bool per pixel
    alpha = np.zeros(height * width, dtype=bool)
    i = 0
    while i < num:
        repeat = stream.read(1)
        j = i + 1 + stream.read(sizes[stream.read(2)])
        if j > num:
            raise RleError(f"brush RLE run reaches value {j}, past the {num} values declared")
        if repeat:
            if stream.read(word):
                alpha[i // 4 : j // 4] = True  # pixels p with i <= 4p + 3 < j
        else:
            words = stream.read_words(j - i, word)
            first = (3 - i) % 4  # offset of the first alpha value in this run
            alpha[(i + first) // 4 : (i + first) // 4 + len(words[first::4])] = words[first::4] != 0
        i = j
    return alpha.reshape(height, width)
