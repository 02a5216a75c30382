"""Reading and writing mask PNGs; reading the other mask formats (TIFF, BMP, ``.npy``/``.npz``).

Class masks are PNG mode ``P`` with the PASCAL VOC colormap while every id fits in 8 bits, so a
mask is viewable and its pixel values are the class ids at once; beyond that, 16-bit grayscale.
Instance masks are always 16-bit grayscale. Files are written to a temporary name and renamed,
so an interrupted run never leaves a half-written mask. Each file carries a fingerprint of what
produced it (a PNG text chunk), which lets a rerun skip the masks that are already up to date.
"""

from __future__ import annotations

import contextlib
import io
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from polymask.io.npy import ArrayHeader
from polymask.io.storage import as_path, atomic_write, is_local

FINGERPRINT_KEY = "polymask"


@lru_cache(maxsize=1)
def voc_palette() -> list[int]:
    """The PASCAL VOC colormap (bit-shift construction), 256 RGB triples flattened.

    Id 255, VOC's ignore value, comes out as (224, 224, 192), the off-white VOC uses for borders.
    """
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette


def encode_png(array: np.ndarray, fingerprint: str | None = None, palette: bool = True) -> bytes:
    """PNG bytes for a 2-D uint8/uint16 label array: palette PNG for uint8 (unless ``palette`` is
    false: then 16-bit grayscale, as for uint16), the fingerprint in a text chunk.

    Written by :mod:`polymask.io.png` (one fixed row filter per bit depth, run-length deflate):
    faster than Pillow's encoder and about as small on label maps; deterministic for equal
    input.
    """
    from polymask.io import png

    if array.ndim != 2:
        raise ValueError(f"expected a 2-D label array, got shape {array.shape}")
    if array.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"expected uint8 or uint16 labels, got {array.dtype}")
    text = {FINGERPRINT_KEY: fingerprint} if fingerprint is not None else None
    if array.dtype == np.uint8 and palette:
        return png.encode(array, _palette_bytes(), text)
    return png.encode(array.astype(np.uint16, copy=False), None, text)


@lru_cache(maxsize=1)
def _palette_bytes() -> bytes:
    return bytes(voc_palette())


def write_png(
    path: str | Path, array: np.ndarray, fingerprint: str | None = None, palette: bool = True
) -> None:
    atomic_write(as_path(path), encode_png(array, fingerprint, palette))


HEAD_BYTES = 1 << 12
"""Enough of a polymask PNG for its signature, header, palette and fingerprint."""


def read_fingerprint(path: str | Path, intact: bool = False) -> str | None:
    """The fingerprint stored in a mask PNG, or None (missing file, other PNG, unreadable).

    Only the first bytes are read, unless ``intact``: then the whole file, and the fingerprint
    counts only when every chunk is as written (:func:`polymask.io.png.text_value`), so that a
    mask damaged since is not taken as up to date.
    """
    from polymask.io import png

    try:
        with _open(path) as f:
            data = f.read() if intact else f.read(HEAD_BYTES)
    except OSError:
        return None
    return png.text_value(data, FINGERPRINT_KEY, whole=intact)


@contextlib.contextmanager
def quiet_bomb_warning():
    """Pillow's DecompressionBombWarning silenced, for readers that check an image's size
    against the memory budget (:mod:`polymask.limits`) themselves: the warning would only
    repeat that check, without the file's name, on stderr."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        yield


def _open(source):
    """A binary file object for a path, a URL or an already open file."""
    if hasattr(source, "read"):
        return contextlib.nullcontext(source)
    return as_path(source).open("rb")


def _name(source) -> str:
    """How messages name a mask: its path, or an open file's name (never an object's repr)."""
    if hasattr(source, "read"):
        return str(getattr(source, "name", "") or "mask data")
    return str(source)


class MaskReadError(ValueError):
    """A mask file that is not a class-index image, or one too large for the memory budget."""


@dataclass(frozen=True)
class MaskFile:
    """A mask file read but not yet decoded: its bytes and the size its header gives.

    Reading the header first lets a size be refused (over the budget, or not the size of the
    ground truth) before the pixels are inflated: a 1 MB PNG can hold a gigapixel."""

    path: str | Path
    data: bytes | None
    """The file's bytes; None for a local ``.npy``, whose values are mapped when decoded."""
    width: int
    height: int
    array: ArrayHeader | None = None
    """The header of a ``.npy``/``.npz`` label map; None for an image."""

    def decode(self, buffer: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
        """Class indices: uint8 for P/L images, uint16 for 16-bit ones; for arrays, uint8 when
        every value fits in a byte, else uint16 (see :mod:`polymask.io.npy`).

        Palette images are read as their indices, never as colours. Colour (RGB) images are
        refused: their values are not class ids. ``buffer(size)``: a reusable uint8 work array
        for polymask's own PNGs, which then come back as a view of it, valid until its next
        use (see :func:`polymask.io.png.decode`); for a reader that drops each mask at once.
        """
        if self.array is not None:
            return self._decode_array()
        from PIL import Image

        from polymask.io.png import decode
        from polymask.limits import max_pixels

        name = _name(self.path)
        fast = decode(self.data, max_pixels(), buffer)
        if fast is not None:
            return fast
        try:
            with quiet_bomb_warning(), Image.open(io.BytesIO(self.data)) as img:
                mode = img.mode
                if mode in ("P", "L"):
                    return np.asarray(img)
                if mode in ("I;16", "I;16B", "I;16L", "I"):
                    arr = np.asarray(img)
                    if arr.min(initial=0) < 0 or arr.max(initial=0) > 65535:
                        raise MaskReadError(f"{name}: values outside 0..65535")
                    return arr.astype(np.uint16)
                if mode == "1":
                    return np.asarray(img).astype(np.uint8)
        except Image.DecompressionBombError as exc:  # over Pillow's own limit, under the budget
            raise MaskReadError(f"{name}: {exc}") from None
        except OSError as exc:  # truncated or corrupt pixel data; never the repr of a buffer
            raise MaskReadError(f"{name}: cannot read image: {_pillow_reason(exc)}") from None
        if mode == "F":
            raise MaskReadError(
                f"{name}: float image: save class ids as integers (argmax of the scores)"
            )
        raise MaskReadError(
            f"{name}: mode {mode} image is not a class-index mask (expected P, L or I;16)"
        )

    def _decode_array(self) -> np.ndarray:
        from polymask.io import npy

        try:
            if self.data is None:
                values = npy.npy_mapped(self.path, self.array)
            elif self.array.member is None:
                values = npy.npy_array(self.array, self.data)
            else:
                values = npy.npz_array(self.array, self.data)
            return npy.label_map(values)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise MaskReadError(f"{_name(self.path)}: {exc}") from None


def load_mask(path: str | Path) -> MaskFile:
    """A mask file's bytes and header size, checked against the memory budget
    (:func:`polymask.limits.max_pixels`) before any pixel is decoded.

    The content decides how the file is read, whatever its name: a content that is not a
    mask format (JPEG, GIF, an unknown one) is refused by name
    (:func:`polymask.io.maskformats.content_problem`). A PNG's size is read from its IHDR
    (fixed offsets, no parsing), a ``.npy``/``.npz`` array's from its header, other images'
    from Pillow's header parse, which decodes no pixels either.
    """
    from polymask.io.maskformats import SNIFF_BYTES, content_format, content_problem
    from polymask.io.png import header_size
    from polymask.limits import check_size

    name = _name(path)
    try:
        with _open(path) as f:
            head = f.read(SNIFF_BYTES)
            problem = content_problem(name, head)
            if problem:
                raise MaskReadError(f"{name}: {problem}")
            kind = content_format(head)
            if kind == "NPY":
                return _load_npy(path, name, f, head)
            size = header_size(head) if kind == "PNG" else None
            reason = check_size(*size) if size else None
            if reason:  # refused before the rest of a (maybe huge) file is read
                raise MaskReadError(f"{name}: {reason}")
            data = head + f.read()
    except OSError as exc:
        raise MaskReadError(f"{name}: cannot read file: {exc.strerror or exc}") from None
    if kind == "NPZ":
        return _load_npz(path, name, data)
    width, height = size or _header_size(name, data)
    reason = check_size(width, height)
    if reason:
        raise MaskReadError(f"{name}: {reason}")
    return MaskFile(path, data, width, height)


def _load_npy(path, name: str, f, head: bytes) -> MaskFile:
    """A ``.npy`` label map from its header. A local file is mapped when decoded, so only the
    decoded mask is allocated (the budget at 1 byte a pixel, as for an image); any other is
    read whole, and the budget counts the bytes a pixel of the array held in memory."""
    from polymask.io.npy import npy_header, shape_text
    from polymask.limits import check_size

    try:
        header = npy_header(head, f.read)
    except ValueError as exc:
        raise MaskReadError(f"{name}: {exc}") from None
    mapped = not hasattr(path, "read") and is_local(as_path(path))
    cost = 1 if mapped else header.dtype.itemsize
    reason = check_size(header.width, header.height, cost)
    if reason:
        raise MaskReadError(f"{name}: {reason}")
    if mapped:
        data, held = None, f.seek(0, io.SEEK_END)
    else:
        f.seek(0)
        data = f.read()
        held = len(data)
    if held < header.offset + header.nbytes:
        raise MaskReadError(
            f"{name}: cut short: its header declares a {shape_text(header.shape)} "
            f"{header.dtype} array ({header.nbytes} bytes), the file holds "
            f"{max(0, held - header.offset)}"
        )
    return MaskFile(path, data, header.width, header.height, header)


def _load_npz(path, name: str, data: bytes) -> MaskFile:
    """A ``.npz`` label map from its member's header; the budget counts the bytes a pixel of
    the array, which is inflated whole when decoded."""
    from polymask.io.npy import npz_header
    from polymask.limits import check_size

    try:
        header = npz_header(data)
    except ValueError as exc:
        raise MaskReadError(f"{name}: {exc}") from None
    reason = check_size(header.width, header.height, header.dtype.itemsize)
    if reason:
        raise MaskReadError(f"{name}: {reason}")
    return MaskFile(path, data, header.width, header.height, header)


LOSSY_TIFF = {"jpeg": "JPEG", "tiff_jpeg": "JPEG", "webp": "WebP", "jpegxl": "JPEG XL"}
"""TIFF compressions (Pillow's names) that change values: a TIFF so compressed is refused."""


def _header_size(name: str, data: bytes) -> tuple[int, int]:
    from PIL import Image

    try:
        with quiet_bomb_warning(), Image.open(io.BytesIO(data)) as img:
            lossy = LOSSY_TIFF.get(img.info.get("compression", ""))
            if lossy and img.format == "TIFF":
                raise MaskReadError(
                    f"{name}: {lossy}-compressed TIFF: {lossy} is lossy, its values are not "
                    "class ids"
                )
            return img.size
    except Image.DecompressionBombError as exc:  # over Pillow's own limit, under the budget
        raise MaskReadError(f"{name}: {exc}") from None
    except OSError as exc:  # UnidentifiedImageError too: a damaged header
        raise MaskReadError(f"{name}: cannot read image: {_pillow_reason(exc)}") from None


def _pillow_reason(exc: OSError) -> str:
    """Pillow's message, without the repr of the in-memory buffer it names when it cannot
    identify an image (``cannot identify image file <_io.BytesIO object at 0x...>``)."""
    from PIL import UnidentifiedImageError

    if isinstance(exc, UnidentifiedImageError):
        return "damaged or not an image Pillow can identify"
    return str(exc)


def read_mask(path: str | Path, buffer: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
    """Class indices from a mask image (see :meth:`MaskFile.decode`); an image larger than
    the memory budget is refused from its header, before it is decoded."""
    return load_mask(path).decode(buffer)
