"""Which files can be masks: formats told by content and by name, and why the others are not.

A mask's pixel values are class ids, so a mask format must store the values it is given, as
they are. PNG (palette or grayscale), TIFF, BMP and NumPy's ``.npy``/``.npz`` do. Others give
back different values, and a scorer that read them would report a wrong number with no error:

- JPEG (and the other lossy codecs) changes values near every edge: a JPEG of a class map
  holds classes that were never predicted;
- GIF stores palette indices, but its encoders choose the palette: Pillow keeps only the
  colours used, numbered in its own order, so ids 0, 3, 7 come back as 0, 1, 2.

A file's *content* decides how it is read, told by its first bytes (:func:`content_format`), so
that a JPEG saved under a ``.png`` name is refused by what it is, not read as a mask. A file's
*name* decides which files of a folder are masks (:data:`MASK_SUFFIXES`); files named as images
or arrays that are not masks (:func:`not_mask_reason`) are reported with the reason, so that a
folder of JPEG predictions explains why nothing paired.
"""

from __future__ import annotations

from pathlib import PurePath

from polymask.io.npy import NPY_MAGIC, ZIP_MAGICS
from polymask.io.png import SIGNATURE as PNG_SIGNATURE

VOLUME_MASK_SUFFIXES = (".nii", ".nii.gz")
"""File names of 3-D label volumes that pair like masks (read by :mod:`polymask.io.volumes`)."""
MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".npy", ".npz", *VOLUME_MASK_SUFFIXES)
"""File names that are masks (lower case)."""
MASK_FORMATS = ("PNG", "TIFF", "BMP", "NPY", "NPZ")
"""Contents read as masks, as :func:`content_format` names them."""
SNIFF_BYTES = 24
"""Bytes enough to tell every format below apart, and a PNG's size (its IHDR)."""

SUFFIX_FORMATS = {
    ".png": "PNG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".npy": "NPY",
    ".npz": "NPZ",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".gif": "GIF",
    ".webp": "WebP",
    ".jp2": "JPEG 2000",
    ".j2k": "JPEG 2000",
    ".jpx": "JPEG 2000",
    ".jxl": "JPEG XL",
    ".avif": "AVIF",
    ".heic": "HEIF",
    ".heif": "HEIF",
}
"""The format a file name announces."""

LOSSY = "stores colours, lossily as usually written: its values are not class ids"
WHY_NOT = {
    "JPEG": "JPEG is lossy, its values are not class ids",
    "GIF": "GIF encoders reorder the palette, so its indices are not class ids: save masks as PNG",
    "WebP": f"WebP {LOSSY}",
    "JPEG 2000": f"JPEG 2000 {LOSSY}",
    "JPEG XL": f"JPEG XL {LOSSY}",
    "AVIF": f"AVIF {LOSSY}",
    "HEIF": f"HEIF {LOSSY}",
}
"""Why a content (or a file name) of a format that is not a mask is refused."""

SAVE_IDS = "save the class ids as PNG or with numpy.save (.npy)"
VOLUME = "a volume format polymask does not read: save the class ids as NIfTI (.nii.gz)"
OTHER_FILES = {
    ".pt": f"a PyTorch file is not a mask format: {SAVE_IDS}",
    ".pth": f"a PyTorch file is not a mask format: {SAVE_IDS}",
    ".pkl": f"a pickle is not read (loading one can run code): {SAVE_IDS}",
    ".pickle": f"a pickle is not read (loading one can run code): {SAVE_IDS}",
    ".mha": VOLUME,
    ".nrrd": VOLUME,
    ".h5": f"HDF5 is not a mask format: {SAVE_IDS}",
    ".hdf5": f"HDF5 is not a mask format: {SAVE_IDS}",
    ".mat": f"a MATLAB file is not a mask format: {SAVE_IDS}",
    ".pgm": f"PGM is not a mask format polymask reads: {SAVE_IDS}",
    ".ppm": f"PPM is not a mask format polymask reads: {SAVE_IDS}",
    ".tga": f"TGA is not a mask format polymask reads: {SAVE_IDS}",
    ".exr": f"OpenEXR holds floats, not class ids: {SAVE_IDS}",
}
"""Arrays and images, by name, that a user may take for masks, and what to do instead."""

LISTED_SUFFIXES = tuple(
    sorted({s[s.rindex(".") :] for s in (*SUFFIX_FORMATS, *OTHER_FILES, *MASK_SUFFIXES)})
)
"""The last suffix of every file name above: what a folder walk must list to find them."""


def suffix_of(path) -> str:
    """A file's suffix in lower case, ``.nii.gz`` counted as one; ``path`` a name, a local
    path or a remote one (which is no ``os.PathLike``)."""
    name = (path if isinstance(path, str) else path.name).lower()
    return ".nii.gz" if name.endswith(".nii.gz") else PurePath(name).suffix


def not_mask_reason(name) -> str | None:
    """Why a file of this name is not read as a mask (``photo.jpg``: JPEG is lossy), or None
    for a mask name and for names that are neither images nor arrays."""
    suffix = suffix_of(name)
    if suffix in OTHER_FILES:
        return OTHER_FILES[suffix]
    fmt = SUFFIX_FORMATS.get(suffix)
    return f"not a mask format: {WHY_NOT[fmt]}" if fmt in WHY_NOT else None


def content_format(head: bytes) -> str | None:
    """The format of a file from its first bytes (:data:`SNIFF_BYTES` of them), as
    :data:`SUFFIX_FORMATS` names them; None when none is recognised."""
    if head.startswith(PNG_SIGNATURE):
        return "PNG"
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):  # classic and BigTIFF
        return "TIFF"
    if head.startswith(NPY_MAGIC):
        return "NPY"
    if head[:4] in ZIP_MAGICS:
        return "NPZ"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head.startswith((b"\0\0\0\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return "JPEG 2000"
    if head.startswith((b"\0\0\0\x0cJXL \r\n\x87\n", b"\xff\x0a")):
        return "JPEG XL"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1"):
            return "HEIF"
    if head.startswith(b"BM"):  # last: two bytes that text may begin with too
        return "BMP"
    return None


def content_problem(name: str, head: bytes) -> str | None:
    """Why a file whose content starts with ``head`` is not a mask, naming the format found
    and, when the file's name announces another, the name's (``JPEG data in a .png file``);
    None when the content is a mask format."""
    fmt = content_format(head)
    if fmt in MASK_FORMATS:
        return None
    if not head:
        return "cannot read image: empty file"
    if fmt is None:
        return (
            "cannot read image: the content is not PNG, TIFF, BMP or a NumPy .npy/.npz array "
            f"(it starts with {head[:8]!r})"
        )
    suffix = suffix_of(name)
    if SUFFIX_FORMATS.get(suffix) != fmt and suffix:
        return f"{fmt} data in a {suffix} file: {WHY_NOT[fmt]}"
    return f"not a mask format: {WHY_NOT[fmt]}"
