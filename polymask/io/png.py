"""A small PNG writer and reader for label maps: unfiltered rows, run-length deflate.

Pillow's PNG encoder chooses a row filter for every row, and on a 1024x768 label map that choice
costs more than the compression. Label maps do not need it: their rows are long runs of one
value, which a run-length deflate (``Z_RLE``) already squeezes to the size that filtering gives.
So this writer emits every row with filter 0 (None) and deflates the whole image once.

The deflate comes from polymask's own C module where it was built (:mod:`polymask.io._pngrows`:
runs of the sample before, found eight bytes at a time, one dynamic-Huffman block; as fast as
zlib-ng on 8-bit maps, and on 16-bit ones, whose runs zlib's ``Z_RLE`` cannot see, about 5x
faster and 6x smaller), else from zlib-ng when the optional ``zlib-ng`` package is installed
(about 3x faster than the system zlib for ``Z_RLE``), else from the standard library. All are
exact, and the file is a plain PNG that any reader decodes to the same pixels. Chunks are
written in the order IHDR, PLTE, tEXt, IDAT, IEND, with nothing variable in them (no time
stamp), so equal input gives equal bytes.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from types import ModuleType

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _deflate_module() -> ModuleType:
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return zlib
    return zlib_ng


DEFLATE: ModuleType = _deflate_module()
"""The module whose ``compressobj`` deflates IDAT without the C module, and whose
``decompressobj`` inflates it: ``zlib_ng.zlib_ng`` or the standard ``zlib``."""

try:
    from polymask.io import _pngrows as C_ROWS
except ImportError:  # built without a C compiler
    C_ROWS = None


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def scanlines(array: np.ndarray) -> np.ndarray:
    """The raw image data of a 2-D uint8/uint16 array: each row led by filter byte 0 (None),
    16-bit samples big-endian as PNG requires."""
    h = array.shape[0]
    samples = array.astype(">u2", copy=False).view(np.uint8) if array.dtype == np.uint16 else array
    rows = np.zeros((h, samples.shape[1] + 1), np.uint8)
    rows[:, 1:] = samples.reshape(h, -1)
    return rows


def zlib_stream(array: np.ndarray, deflate: ModuleType | None = None) -> bytes:
    """The IDAT data of a 2-D uint8/uint16 array: its unfiltered scanlines, deflated by the C
    module when it is there, by ``deflate`` (a zlib-like module) or :data:`DEFLATE` otherwise."""
    if deflate is None and C_ROWS is not None:
        native = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("="))
        return C_ROWS.deflate_scanlines(native)
    z = (deflate or DEFLATE).compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    return z.compress(scanlines(array).data) + z.flush()


def encode(
    array: np.ndarray,
    palette: bytes | None = None,
    text: dict[str, str] | None = None,
    deflate: ModuleType | None = None,
) -> bytes:
    """PNG bytes for a 2-D label array.

    uint8 with ``palette`` (768 bytes of RGB) gives an 8-bit palette image (colour type 3);
    uint8 without one an 8-bit grayscale image; uint16 a 16-bit grayscale image. ``text`` becomes
    tEXt chunks (Latin-1 keys and values, as the PNG specification asks). ``deflate`` chooses a
    zlib-like module over the C deflater (see :func:`zlib_stream`).
    """
    if array.ndim != 2 or 0 in array.shape:
        raise ValueError(f"expected a non-empty 2-D label array, got shape {array.shape}")
    if array.dtype == np.uint8:
        depth, colour = 8, 3 if palette is not None else 0
    elif array.dtype == np.uint16:
        depth, colour = 16, 0
        if palette is not None:
            raise ValueError("a palette needs 8-bit values")
    else:
        raise ValueError(f"expected uint8 or uint16 labels, got {array.dtype}")
    h, w = array.shape
    parts = [SIGNATURE, chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0))]
    if palette is not None:
        parts.append(chunk(b"PLTE", bytes(palette)))
    for key, value in (text or {}).items():
        parts.append(chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")))
    parts.append(chunk(b"IDAT", zlib_stream(array, deflate)))
    parts.append(chunk(b"IEND", b""))
    return b"".join(parts)


INFLATE_PIECE = 1 << 16
"""Bytes inflated per step into the output array: small enough that the pieces never need fresh
pages from the system (see :mod:`polymask.runtime.scratch`)."""


def decode(
    data: bytes, max_pixels: int, buffer: Callable[[int], np.ndarray] | None = None
) -> np.ndarray | None:
    """The label array of a PNG, or None for a PNG this reader leaves to Pillow.

    Reading masks is the hot path of ``stats`` and ``score``: one inflate (zlib-ng when
    installed) and a reshape, about 4x faster than Pillow, which inflates with the system zlib
    and undoes filters row by row. polymask's own masks (and Pillow's palette PNGs) have
    unfiltered rows; other writers' rows (Pillow's grayscale PNGs, OpenCV's) are unfiltered in
    place by the C module where it was built, else go to Pillow. Only the plain cases take this
    path: 8-bit grayscale or palette, 16-bit grayscale, no interlacing, every CRC right, known
    filter types, exactly the expected size.

    ``buffer(size)``, when given, supplies a reusable uint8 work array to inflate into; an
    8-bit result is then a view of it (rows strided past their filter bytes), valid until the
    buffer is next used. Without it the result is a new contiguous array.
    """
    if not data.startswith(SIGNATURE):
        return None
    pos, idat, header = len(SIGNATURE), [], None
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        end = pos + 8 + length
        body = data[pos + 8 : end]
        if end + 4 > len(data) or zlib.crc32(kind + body) != struct.unpack_from(">I", data, end)[0]:
            return None
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body) if length == 13 else None
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if header is None or not idat:
        return None
    w, h, depth, colour, _, _, interlace = header
    if interlace or (depth, colour) not in ((8, 0), (8, 3), (16, 0)) or w * h > max_pixels:
        return None
    stride = w * depth // 8 + 1
    raw = buffer(h * stride) if buffer is not None else np.empty(h * stride, np.uint8)
    if not _inflate_into(b"".join(idat), raw):
        return None
    rows = raw.reshape(h, stride)
    if rows[:, 0].any() and (
        C_ROWS is None or not C_ROWS.unfilter_scanlines(raw, h, stride, depth // 8)
    ):
        return None  # filtered rows without the C module, or an unknown filter: Pillow's job
    samples = rows[:, 1:]
    if depth == 16:
        return samples.view(">u2").astype(np.uint16)
    return samples if buffer is not None else np.ascontiguousarray(samples)


def _inflate_into(stream: bytes, out: np.ndarray) -> bool:
    """Inflate a zlib stream into ``out`` a piece at a time; True when it fills ``out`` exactly
    and ends there (never more than one byte past ``out`` is inflated: no bomb)."""
    inflate = DEFLATE.decompressobj()
    pos, size = 0, out.size
    try:
        while not inflate.eof:
            piece = inflate.decompress(stream, min(INFLATE_PIECE, size - pos + 1))
            if len(piece) > size - pos:
                return False
            out[pos : pos + len(piece)] = np.frombuffer(piece, np.uint8)
            pos += len(piece)
            stream = inflate.unconsumed_tail
            if not piece and not stream:
                return False  # the stream stops short
    except zlib.error:
        return False
    return pos == size
