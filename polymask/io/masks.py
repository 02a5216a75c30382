"""Reading and writing mask PNGs.

Class masks are PNG mode ``P`` with the PASCAL VOC colormap while every id fits in 8 bits, so a
mask is viewable and its pixel values are the class ids at once; beyond that, 16-bit grayscale.
Instance masks are always 16-bit grayscale. Files are written to a temporary name and renamed,
so an interrupted run never leaves a half-written mask. Each file carries a fingerprint of what
produced it (a PNG text chunk), which lets a rerun skip the masks that are already up to date.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from polymask.io.storage import as_path, atomic_write

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


class MaskReadError(ValueError):
    """A mask file that is not a class-index image, or one too large for the memory budget."""


@dataclass(frozen=True)
class MaskFile:
    """A mask file read but not yet decoded: its bytes and the size its header gives.

    Reading the header first lets a size be refused (over the budget, or not the size of the
    ground truth) before the pixels are inflated: a 1 MB PNG can hold a gigapixel."""

    path: str | Path
    data: bytes
    width: int
    height: int

    def decode(self, buffer: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
        """Class indices: uint8 for P/L images, uint16 for 16-bit ones.

        Palette images are read as their indices, never as colours. Colour (RGB) images are
        refused: their values are not class ids. ``buffer(size)``: a reusable uint8 work array
        for polymask's own PNGs, which then come back as a view of it, valid until its next
        use (see :func:`polymask.io.png.decode`); for a reader that drops each mask at once.
        """
        from PIL import Image

        from polymask.io.png import decode
        from polymask.limits import max_pixels

        path = self.path
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
                        raise MaskReadError(f"{path}: values outside 0..65535")
                    return arr.astype(np.uint16)
                if mode == "1":
                    return np.asarray(img).astype(np.uint8)
        except Image.DecompressionBombError as exc:  # over Pillow's own limit, under the budget
            raise MaskReadError(f"{path}: {exc}") from None
        except OSError as exc:  # truncated or corrupt pixel data
            raise MaskReadError(f"{path}: cannot read image: {exc}") from exc
        raise MaskReadError(
            f"{path}: mode {mode} image is not a class-index mask (expected P, L or I;16)"
        )


def load_mask(path: str | Path) -> MaskFile:
    """A mask file's bytes and header size, checked against the memory budget
    (:func:`polymask.limits.max_pixels`) before any pixel is decoded.

    A PNG's size is read from its IHDR (fixed offsets, no parsing); other images' from
    Pillow's header parse, which decodes no pixels either.
    """
    from polymask.io.png import header_size
    from polymask.limits import check_size

    try:
        with _open(path) as f:
            head = f.read(PNG_HEADER_BYTES)
            size = header_size(head)
            reason = check_size(*size) if size else None
            if reason:  # refused before the rest of a (maybe huge) file is read
                raise MaskReadError(f"{path}: {reason}")
            data = head + f.read()
    except OSError as exc:
        raise MaskReadError(f"{path}: cannot read image: {exc}") from exc
    width, height = size or _header_size(path, data)
    reason = check_size(width, height)
    if reason:
        raise MaskReadError(f"{path}: {reason}")
    return MaskFile(path, data, width, height)


PNG_HEADER_BYTES = 24
"""A PNG's signature and the start of its IHDR: enough for :func:`polymask.io.png.header_size`."""


def _header_size(path: str | Path, data: bytes) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    try:
        with quiet_bomb_warning(), Image.open(io.BytesIO(data)) as img:
            return img.size
    except Image.DecompressionBombError as exc:  # over Pillow's own limit, under the budget
        raise MaskReadError(f"{path}: {exc}") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise MaskReadError(f"{path}: cannot read image: {exc}") from exc


def read_mask(path: str | Path, buffer: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
    """Class indices from a mask image (see :meth:`MaskFile.decode`); an image larger than
    the memory budget is refused from its header, before it is decoded."""
    return load_mask(path).decode(buffer)
