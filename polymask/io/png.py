"""A small PNG writer and reader for label maps: one row filter per bit depth, run-length deflate.

Pillow's PNG encoder chooses a row filter for every row, and on a 1024x768 label map that choice
costs more than the compression. Label maps do not need it: their rows are long runs of one
value, and one fixed filter turns them into long runs of one byte, which a run-length deflate
(``Z_RLE``) squeezes as well as any choice would. 8-bit rows go unfiltered (filter 0, None): a
run of one value already is a run of one byte. 16-bit samples are two bytes, so a run of one
value alternates between two bytes, which ``Z_RLE`` cannot see; their rows are stored as their
byte-wise difference from the row above (filter 2, Up), mostly zeros. Up rather than Sub (the
difference from the sample before, as small on label maps): undoing Up is one add per byte with
no dependency along the row, so reading stays nearly as cheap as for unfiltered rows.

The deflate is zlib-ng's when the optional ``zlib-ng`` package is installed (several times faster
than the system zlib for ``Z_RLE``), else the standard library's; both are exact, and the file is
a plain PNG that any reader decodes to the same pixels. Chunks are written in the order IHDR,
PLTE, tEXt, IDAT, IEND, with nothing variable in them (no time stamp), and the deflate's
settings are fixed, so equal input gives equal bytes with the same deflate library.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable, Iterator
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
"""The module whose ``compressobj`` deflates IDAT and whose ``decompressobj`` inflates it:
``zlib_ng.zlib_ng`` or the standard ``zlib``."""

try:
    from polymask.io import _pngrows as C_ROWS
except ImportError:  # built without a C compiler: filtered rows are left to Pillow
    C_ROWS = None

NONE, UP = 0, 2
"""The PNG filter types this writer uses: 8-bit rows as they are, 16-bit rows as the byte-wise
difference from the row above."""


INFLATE_PIECE = 1 << 16
"""Bytes deflated or inflated per step: small enough that the pieces never need fresh pages from
the system (see :mod:`polymask.runtime.scratch`)."""


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def scanlines(array: np.ndarray, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows ``start:stop`` (all by default) of the raw image data of a 2-D uint8/uint16 array,
    each led by its filter type: 8-bit rows unfiltered, 16-bit rows (samples big-endian, as PNG
    requires) Up-filtered; the first row's Up difference is taken from zeros, so it holds its
    samples unchanged."""
    stop = array.shape[0] if stop is None else stop
    if array.dtype != np.uint16:
        rows = np.empty((stop - start, array.shape[1] + 1), np.uint8)
        rows[:, 0] = NONE
        rows[:, 1:] = array[start:stop]
        return rows
    samples = np.empty((stop - start + 1, array.shape[1]), ">u2")
    samples[0] = array[start - 1] if start else 0
    samples[1:] = array[start:stop]
    raw = samples.view(np.uint8)
    rows = np.empty((stop - start, raw.shape[1] + 1), np.uint8)
    rows[:, 0] = UP
    np.subtract(raw[1:], raw[:-1], out=rows[:, 1:])  # modulo 256, as the filter is
    return rows


def zlib_stream(array: np.ndarray, deflate: ModuleType | None = None) -> bytes:
    """The IDAT data of a 2-D uint8/uint16 array: its :func:`scanlines`, deflated as runs by
    ``deflate`` (a zlib-like module), :data:`DEFLATE` when None.

    The rows are made and deflated :data:`INFLATE_PIECE` bytes at a time: image-sized work
    arrays would be fresh pages from the system on every mask, and their page faults cost as
    much as the deflate. Z_RLE ignores the level (any but 0); 1 is passed.
    """
    z = (deflate or DEFLATE).compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)
    h, step = array.shape[0], max(1, INFLATE_PIECE // (array.nbytes // array.shape[0] + 1))
    parts = [z.compress(scanlines(array, r, min(r + step, h)).data) for r in range(0, h, step)]
    return b"".join(parts) + z.flush()


def encode(
    array: np.ndarray,
    palette: bytes | None = None,
    text: dict[str, str] | None = None,
    deflate: ModuleType | None = None,
) -> bytes:
    """PNG bytes for a 2-D label array.

    uint8 with ``palette`` (768 bytes of RGB) gives an 8-bit palette image (colour type 3);
    uint8 without one an 8-bit grayscale image; uint16 a 16-bit grayscale image. ``text`` becomes
    tEXt chunks (Latin-1 keys and values, as the PNG specification asks). ``deflate``: a
    zlib-like module in place of :data:`DEFLATE` (see :func:`zlib_stream`).
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


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR, which must come first: fixed offsets, nothing
    parsed or inflated, so a size can be refused before the pixels cost anything. None when
    ``data`` does not start as a PNG."""
    if len(data) < 24 or not data.startswith(SIGNATURE) or data[12:16] != b"IHDR":
        return None
    return struct.unpack_from(">II", data, 16)


def chunks(data: bytes, verify: bool = True) -> Iterator[tuple[bytes, int, int]]:
    """``(type, start, end)`` of each chunk after the signature, ``data[start:end]`` its data,
    in file order up to IEND (or to where fewer than a chunk's 12 bytes are left).

    With ``verify``, a chunk that runs past the end of ``data`` or whose CRC-32 is wrong raises
    ValueError when it is reached; without, nothing is checked but the signature (for reading
    text chunks from the first bytes of a file). The one chunk reader of the package: decoding,
    fingerprints and integrity checks all walk a file with it.
    """
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG")
    pos, view = len(SIGNATURE), memoryview(data)  # CRCs over views: no copy of the pixels
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind, start, end = bytes(data[pos + 4 : pos + 8]), pos + 8, pos + 8 + length
        if verify and (
            end + 4 > len(data)
            or zlib.crc32(view[start:end], zlib.crc32(kind))
            != int.from_bytes(data[end : end + 4], "big")
        ):
            raise ValueError(f"{kind!r} chunk at byte {pos} is cut short or damaged")
        yield kind, start, end
        if kind == b"IEND":
            return
        pos = end + 4


def text_value(data: bytes, key: str, whole: bool = False) -> str | None:
    """The value of the ``key`` tEXt chunk of a PNG, or None.

    ``whole`` False: ``data`` may be the first bytes of the file; texts before the pixels are
    read (where polymask writes them), nothing is verified. ``whole`` True: ``data`` is the
    whole file, and the value is given only when the file is intact: IHDR first, every CRC
    right, IEND last with nothing after it. A text chunk survives damage to the pixels, so an
    intact file is what a caller that trusts the value (an up-to-date mask) must ask for.
    """
    wanted, found = key.encode("latin-1"), None
    try:
        for i, (kind, start, end) in enumerate(chunks(data, verify=whole)):
            if i == 0 and kind != b"IHDR":
                return None
            if kind == b"tEXt":
                name, _, value = bytes(data[start:end]).partition(b"\0")
                if name == wanted:
                    found = value.decode("latin-1")
            elif kind == b"IDAT" and not whole:
                return found
            elif kind == b"IEND":
                return found if end + 4 == len(data) else None
    except ValueError:
        return None
    return None if whole else found


def decode(
    data: bytes, max_pixels: int, buffer: Callable[[int], np.ndarray] | None = None
) -> np.ndarray | None:
    """The label array of a PNG, or None for a PNG this reader leaves to Pillow.

    Reading masks is the hot path of ``stats`` and ``score``: one inflate (zlib-ng when
    installed) and a reshape, several times faster than Pillow, which inflates with the system
    zlib and undoes filters row by row. polymask's own 8-bit masks (and Pillow's palette PNGs)
    have unfiltered rows; filtered rows (polymask's 16-bit masks, Pillow's grayscale PNGs,
    OpenCV's) are unfiltered in place by the C module where it was built, else go to Pillow.
    Only the plain cases take this path: 8-bit grayscale or palette, 16-bit grayscale, no
    interlacing, every CRC right, known filter types, exactly the expected size.

    ``buffer(size)``, when given, supplies a reusable uint8 work array to inflate into; an
    8-bit result is then a view of it (rows strided past their filter bytes), valid until the
    buffer is next used. Without it the result is a new contiguous array.
    """
    idat, header = [], None
    try:
        for kind, start, end in chunks(data):
            if kind == b"IHDR":
                length = end - start
                header = struct.unpack_from(">IIBBBBB", data, start) if length == 13 else None
            elif kind == b"IDAT":
                idat.append(data[start:end])
    except ValueError:
        return None
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
