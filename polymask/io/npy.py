"""Label maps stored as NumPy arrays: ``.npy`` files and ``.npz`` archives of them.

A model's argmax, saved with ``numpy.save``, is a mask without a round trip through an image
encoder. Such a file is read in two steps, as a PNG is: :func:`npy_header` and
:func:`npz_header` read only the header (shape, dtype), so that a size can be refused against
the memory budget before anything of that size exists; :func:`label_map` then checks the
values once the array is read. Nothing is ever unpickled (object arrays are refused from their
header).

What counts as a label map:

- an integer dtype (signed or unsigned, any byte order), or bool (read as 0/1); a float array
  is a model's scores or probabilities, not its classes, and is refused by name;
- two dimensions ``(H, W)``; a singleton axis at either end, ``(1, H, W)`` from a batch of one
  or ``(H, W, 1)`` from a channel axis, is dropped, since it cannot be read two ways. Any other
  shape is refused: ``(C, H, W)`` or ``(H, W, C)`` with C > 1 holds scores per class, and which
  axis is which could only be guessed;
- values in 0..65535, the range of a 16-bit mask PNG. They come back as uint8 when every value
  fits in a byte (the fast path of the scorer), else as uint16.

A ``.npz`` archive holds named arrays. Its label map is its only array, or else the one named
``mask`` (``numpy.savez(f, mask=pred, scores=probs)``); an archive of several arrays none of
which is named ``mask`` is refused rather than one of them picked.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass

import numpy as np

NPY_MAGIC = b"\x93NUMPY"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
"""A ZIP archive's first bytes: a local file header, or the end record of an empty archive."""
NPZ_MEMBER = "mask"
"""The name that picks the label map of an archive holding several arrays."""
MAX_HEADER = 10000
"""Longest header read, NumPy's own limit (``max_header_size``): a longer one is refused before
it is read, where NumPy would read it first."""


@dataclass(frozen=True)
class ArrayHeader:
    """What a ``.npy`` header declares: enough to size, check and locate the array."""

    shape: tuple[int, ...]
    """As stored; :attr:`height` and :attr:`width` are its two non-singleton axes."""
    dtype: np.dtype
    fortran_order: bool
    offset: int
    """Where the data starts, from the start of the ``.npy`` stream."""
    member: str | None = None
    """The archive member holding the array (``.npz``), None for a ``.npy`` file."""

    @property
    def height(self) -> int:
        return plane_shape(self.shape)[0]

    @property
    def width(self) -> int:
        return plane_shape(self.shape)[1]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=object)) * self.dtype.itemsize


def plane_shape(shape: tuple[int, ...]) -> tuple[int, int]:
    """(H, W) of a stored shape: itself when 2-D, else with one singleton axis dropped at
    either end. Raises ValueError for a shape that is not one plane of class ids."""
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    elif len(shape) == 3 and shape[2] == 1:
        shape = shape[:2]
    if len(shape) != 2:
        hint = "; take the argmax over the class axis" if len(shape) == 3 else ""
        raise ValueError(
            f"shape {shape_text(shape)} is not a label map: expected (H, W) class ids, "
            f"or (1, H, W) / (H, W, 1){hint}"
        )
    return shape[0], shape[1]


def shape_text(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def check_dtype(dtype: np.dtype) -> None:
    """Raise ValueError unless ``dtype`` holds class ids (integers or bool)."""
    if dtype.kind in "iub":
        return
    if dtype.kind == "f":
        raise ValueError(f"{dtype} array: save class ids as integers (argmax of the scores)")
    what = "object" if dtype.kind == "O" else str(dtype)
    raise ValueError(f"{what} array is not a label map: save class ids as integers")


def npy_header(head: bytes, read) -> ArrayHeader:
    """The header of a ``.npy`` stream whose first bytes are ``head``; ``read(n)`` gives the
    next ``n`` bytes after them. Only the header is read. Raises ValueError saying what is
    wrong: damaged header, not integers, not 2-D."""
    if len(head) < 10 or not head.startswith(NPY_MAGIC):
        raise ValueError("not a .npy array (no NumPy header)")
    version = (head[6], head[7])
    if version == (1, 0):
        start, (length,) = 10, struct.unpack_from("<H", head, 8)
    elif version in ((2, 0), (3, 0)) and len(head) >= 12:
        start, (length,) = 12, struct.unpack_from("<I", head, 8)
    else:
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not one NumPy writes")
    if length > MAX_HEADER:
        raise ValueError(f".npy header of {length} bytes is longer than {MAX_HEADER}: damaged")
    raw = head + read(start + length - len(head)) if len(head) < start + length else head
    if len(raw) < start + length:
        raise ValueError(".npy header is cut short")
    fp = io.BytesIO(raw)
    try:
        np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp, MAX_HEADER)
        else:  # 3.0 differs only by a UTF-8 header: named fields, never class ids
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp, MAX_HEADER)
    except (ValueError, TypeError, SyntaxError, RecursionError) as exc:
        raise ValueError(f"damaged .npy header: {str(exc).splitlines()[0]}") from None
    check_dtype(dtype)
    plane_shape(shape)
    return ArrayHeader(tuple(shape), dtype, fortran_order, start + length)


def npz_header(data: bytes) -> ArrayHeader:
    """The header of the label map of a ``.npz`` archive (see the module's rule for which
    array that is), read from its member without inflating the array."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            member = _npz_member([n for n in zf.namelist() if n.endswith(".npy")])
            with zf.open(member) as fp:
                header = npy_header(fp.read(12), fp.read)
            stored = zf.getinfo(member).file_size
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ValueError(f"damaged .npz archive: {exc}") from None
    if stored < header.offset + header.nbytes:  # refused before an array that size is made
        raise ValueError(
            f"{member} holds {stored - header.offset} bytes of data, less than its header "
            f"declares ({shape_text(header.shape)} {header.dtype}: {header.nbytes} bytes)"
        )
    return ArrayHeader(header.shape, header.dtype, header.fortran_order, header.offset, member)


def _npz_member(arrays: list[str]) -> str:
    if len(arrays) == 1:
        return arrays[0]
    if f"{NPZ_MEMBER}.npy" in arrays:
        return f"{NPZ_MEMBER}.npy"
    if not arrays:
        raise ValueError("a ZIP archive holding no .npy array: not a .npz label map")
    names = ", ".join(a.removesuffix(".npy") for a in arrays[:5])
    raise ValueError(
        f".npz holds {len(arrays)} arrays ({names}{', ...' if len(arrays) > 5 else ''}): "
        f"save one array, or name the label map {NPZ_MEMBER!r}"
    )


def npy_array(header: ArrayHeader, data: bytes) -> np.ndarray:
    """The array of a ``.npy`` file held in ``data``: a view of its bytes, no copy."""
    count = int(np.prod(header.shape))
    flat = np.frombuffer(data, header.dtype, count, header.offset)
    return flat.reshape(header.shape, order="F" if header.fortran_order else "C")


def npy_mapped(path, header: ArrayHeader) -> np.ndarray:
    """The array of a local ``.npy`` file, memory-mapped read-only: its pages are read as the
    values are checked and converted, and never held as a second copy."""
    order = "F" if header.fortran_order else "C"
    # a plain array over the map: memmap's subclass would follow every result made from it
    return np.asarray(np.memmap(path, header.dtype, "r", header.offset, header.shape, order))


def npz_array(header: ArrayHeader, data: bytes) -> np.ndarray:
    """The label-map array of a ``.npz`` archive held in ``data``, inflated piece by piece
    into one array of the size its header declares (NumPy's reader, pickles refused)."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf, zf.open(header.member) as fp:
        return np.lib.format.read_array(fp, allow_pickle=False, max_header_size=MAX_HEADER)


def label_map(array: np.ndarray) -> np.ndarray:
    """The class ids of an integer or bool array as a 2-D uint8 (all values < 256) or uint16
    array; raises ValueError for a negative value or one over 65535."""
    array = array.reshape(plane_shape(array.shape))
    if array.dtype.kind == "b":  # astype, not a view: a stored byte other than 0 becomes 1
        return array.astype(np.uint8)
    if array.dtype.kind == "u" and array.dtype.itemsize <= 2:
        return array.astype(np.uint8 if array.dtype.itemsize == 1 else np.uint16)
    low, high = int(array.min()), int(array.max())
    if low < 0:
        raise ValueError(f"value {low} is negative: class ids are 0 or more")
    if high > 65535:
        raise ValueError(f"value {high} is over 65535, the largest class id a mask holds")
    return array.astype(np.uint8 if high <= 255 else np.uint16)
