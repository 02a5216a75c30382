"""Reading label volumes (3-D segmentations): NIfTI, multi-page TIFF stacks and ``.npy`` arrays.

A volume is read in two steps, as a mask is: :func:`volume_header` reads only the header (shape,
stored type, voxel spacing, affine) and refuses a size over the memory budget
(:func:`polymask.limits.max_pixels`, read as bytes: each voxel costs its values as read plus
one byte of class id; a local ``.npy`` is memory-mapped, so only the class ids count) before any
voxel exists; :func:`read_volume` then reads the values and checks that they
are class ids. :func:`check_pair` refuses a prediction that does not lie on its ground truth's
grid.

What each format gives:

- **NIfTI** (``.nii``, ``.nii.gz``), through nibabel (``pip install "polymask[medical]"``):
  the array in its stored axis order (i, j, k), the spacing from the header's ``pixdim``
  (``get_zooms``), and the voxel-to-world affine (the sform, else the qform). The header's
  scaling (``scl_slope``, ``scl_inter``) is applied, as every NIfTI reader does.
- **TIFF stacks** (``.tif``, ``.tiff``), through Pillow: pages as the first axis, (pages, H, W).
  No spacing or affine: TIFF has no standard slice spacing, so the caller gives one.
- **NumPy** (``.npy``): the array as saved; no spacing or affine. Nothing is unpickled.

What counts as a label volume: 2 or 3 axes once singleton axes at either end are dropped down
to three (a NIfTI of shape (X, Y, Z, 1), an array of shape (1, X, Y, Z)); integer or bool
values, or floats that are all whole numbers (tools that save segmentations as float32 NIfTI
are common); values 0..65535. The array comes back as uint8 when every value fits in a byte,
else uint16, the types of the mask reader.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polymask.limits import MAX_SIDE, max_pixels, pixels_text

NIFTI_SUFFIXES = (".nii", ".nii.gz")
TIFF_SUFFIXES = (".tif", ".tiff")
VOLUME_SUFFIXES = (*NIFTI_SUFFIXES, *TIFF_SUFFIXES, ".npy")
"""File names read as volumes (lower case)."""
MEDICAL_EXTRA = 'pip install "polymask[medical]"'
SPACING_RTOL = 1e-5
"""Spacings closer than this (relative) are equal: headers store them as float32."""
AFFINE_ATOL = 1e-3
"""Affine entries closer than this (in the world unit, mm for NIfTI) are equal."""


class VolumeError(ValueError):
    """A problem with one file: ``file`` names it, ``reason`` says what is wrong."""

    def __init__(self, file: str, reason: str):
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


class VolumeReadError(VolumeError):
    """A file that is not a label volume, or one too large for the memory budget."""


class VolumePairError(VolumeError):
    """A prediction whose grid (shape, spacing, orientation) differs from its ground truth's."""


@dataclass(frozen=True)
class VolumeMeta:
    """What a volume's header declares: enough to size it, and to place it in space."""

    path: str
    shape: tuple[int, ...]
    """The shape of the label array (:func:`label_shape` of the stored one)."""
    dtype: np.dtype
    """The type the values are read as (after a NIfTI's scaling)."""
    spacing: tuple[float, ...] | None
    """Voxel size along each array axis; None where the format stores none."""
    affine: np.ndarray | None = None
    """The 4x4 voxel-to-world matrix (NIfTI); None where the format has none."""

    @property
    def orientation(self) -> str | None:
        """The world axis each array axis runs towards, as NIfTI's axis codes (``RAS``)."""
        return None if self.affine is None else axis_codes(self.affine)


def axis_codes(affine: np.ndarray) -> str:
    """Axis codes of an affine in RAS+ world coordinates: for each array axis the world axis
    it mostly runs along, and the direction (nibabel's ``aff2axcodes`` for an oblique-free
    affine)."""
    letters = ("LR", "PA", "IS")
    out = []
    for column in np.asarray(affine, dtype=np.float64)[:3, :3].T:
        world = int(np.argmax(np.abs(column)))
        out.append(letters[world][1] if column[world] > 0 else letters[world][0])
    return "".join(out)


def volume_kind(path: str | Path) -> str | None:
    """``"nifti"``, ``"tiff"``, ``"npy"`` from a file's name, or None for another file."""
    name = str(path).lower()
    if name.endswith(NIFTI_SUFFIXES):
        return "nifti"
    if name.endswith(TIFF_SUFFIXES):
        return "tiff"
    return "npy" if name.endswith(".npy") else None


def label_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with singleton axes dropped from either end while more than 3 remain (a batch
    or channel of one); raises ValueError unless 2 or 3 axes remain (more would be channels or
    time points, not one label volume)."""
    shape = tuple(int(n) for n in shape)
    while len(shape) > 3 and 1 in (shape[0], shape[-1]):
        shape = shape[1:] if shape[0] == 1 else shape[:-1]
    if len(shape) not in (2, 3):
        raise ValueError(
            f"shape {shape} is not a label volume: expected 2 or 3 axes of class ids "
            "(take the argmax over a class or channel axis)"
        )
    return shape


def check_budget(shape: tuple[int, ...], cost: int) -> str | None:
    """Why an array of this shape, at ``cost`` bytes a voxel, cannot be read; None if it can."""
    if any(n <= 0 for n in shape):
        return f"volume shape {shape} has an empty axis"
    if max(shape) > MAX_SIDE:
        return f"volume shape {shape} exceeds the limit of {MAX_SIDE} voxels an axis"
    voxels = int(np.prod(shape, dtype=object))
    budget = max_pixels()
    if voxels * cost > budget:
        each = f" at {cost} bytes a voxel" if cost > 1 else ""
        return (
            f"volume shape {shape} ({voxels:,} voxels){each} exceeds "
            f"the limit of {pixels_text(budget)} (the memory budget, --max-pixels)"
        )
    return None


def check_dtype(dtype: np.dtype) -> None:
    """Raise ValueError unless values of this type can be class ids (floats are checked for
    whole numbers once read)."""
    if dtype.kind not in "iubf":
        raise ValueError(f"{dtype} values are not class ids: save class ids as integers")


def class_ids(array: np.ndarray) -> np.ndarray:
    """The class ids of an array as uint8 (every value < 256) or uint16; raises ValueError for
    a float that is not a whole number, a negative value or one over 65535."""
    if array.dtype.kind == "b" or array.dtype == np.uint8:  # a copy: never a view of a file
        return np.array(array, dtype=np.uint8)
    if array.dtype.kind == "f":
        for i, plane in enumerate(array):  # plane by plane: no temporary the size of the volume
            whole = np.isfinite(plane) & (plane == np.round(plane))
            if not whole.all():
                where = (i, *(int(k) for k in np.argwhere(~whole)[0]))
                raise ValueError(
                    f"value {float(plane[where[1:]])!r} at voxel {where} is not a whole number: "
                    "a float volume must hold class ids (argmax of the scores), not scores"
                )
    low, high = array.min(), array.max()
    if low < 0:
        raise ValueError(f"value {low} is negative: class ids are 0 or more")
    if high > 65535:
        raise ValueError(f"value {high} is over 65535, the largest class id a volume holds")
    return array.astype(np.uint8 if high <= 255 else np.uint16)


def volume_header(path: str | Path) -> VolumeMeta:
    """The header of a volume file, checked against the memory budget; no voxel is read."""
    name = str(path)
    kind = volume_kind(path)
    if kind is None:
        raise VolumeReadError(
            name, f"not a volume file (expected one of {', '.join(VOLUME_SUFFIXES)})"
        )
    try:
        meta, cost = {"nifti": _nifti_header, "tiff": _tiff_header, "npy": _npy_header}[kind](name)
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        raise VolumeReadError(name, _reason(exc)) from None
    reason = check_budget(meta.shape, cost)
    if reason:
        raise VolumeReadError(name, reason)
    return meta


def read_volume(path: str | Path) -> tuple[np.ndarray, VolumeMeta]:
    """The class ids of a volume file (uint8 or uint16, shape ``meta.shape``) and its header;
    a volume over the memory budget is refused from its header, before it is read."""
    meta = volume_header(path)
    reader = {"nifti": _nifti_values, "tiff": _tiff_values, "npy": _npy_values}
    try:
        values = reader[volume_kind(path)](meta)
        return class_ids(values.reshape(meta.shape)), meta
    except (ValueError, OSError, EOFError, zlib.error) as exc:
        raise VolumeReadError(meta.path, _reason(exc)) from None


def check_pair(gt: VolumeMeta, pred: VolumeMeta) -> None:
    """Raise :class:`VolumePairError` naming the prediction's file when it does not lie on the
    ground truth's grid: another shape, another spacing, or another orientation or position
    (affine). A spacing or an affine is compared only when both files store one."""
    where = f"differs from the ground truth {gt.path}:"
    if pred.shape != gt.shape:
        raise VolumePairError(pred.path, f"{where} shape {pred.shape}, not {gt.shape}")
    if gt.spacing is not None and pred.spacing is not None:
        if not np.allclose(pred.spacing, gt.spacing, rtol=SPACING_RTOL, atol=0):
            raise VolumePairError(
                pred.path, f"{where} spacing {_floats(pred.spacing)}, not {_floats(gt.spacing)}"
            )
    if gt.affine is not None and pred.affine is not None:
        if pred.orientation != gt.orientation:
            raise VolumePairError(
                pred.path,
                f"{where} orientation {pred.orientation}, not {gt.orientation} (reorient it)",
            )
        if not np.allclose(pred.affine, gt.affine, rtol=0, atol=AFFINE_ATOL):
            raise VolumePairError(
                pred.path,
                f"{where} affine (voxel-to-world position) {_floats(pred.affine[:3].ravel())}, "
                f"not {_floats(gt.affine[:3].ravel())}",
            )


def _floats(values) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in values) + ")"


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text


def _nibabel():
    try:
        import nibabel
    except ImportError:
        raise ValueError(f"reading NIfTI needs nibabel: {MEDICAL_EXTRA}") from None
    return nibabel


def _nifti_image(name: str):
    nib = _nibabel()
    try:
        return nib.load(name)
    except nib.filebasedimages.ImageFileError as exc:
        raise ValueError(_gzip_damage(name) or f"not a NIfTI file: {exc}") from None


def _gzip_damage(name: str) -> str | None:
    """Why a ``.gz`` file nibabel could not identify is unreadable, when the cause is its
    compression (a download cut short, a corrupt copy) rather than its content; nibabel's own
    message then ("Cannot work out file type") points at the wrong thing."""
    if not name.endswith(".gz"):
        return None
    import gzip

    try:
        with gzip.open(name) as stream:
            stream.read(GZIP_CHECK_BYTES)
    except (OSError, EOFError) as exc:  # BadGzipFile is an OSError
        return f"a damaged gzip stream (truncated or corrupt): {_reason(exc)}"
    return None


GZIP_CHECK_BYTES = 1 << 20
"""How much of a ``.gz`` nibabel could not identify is inflated to look for damage: its header
and more. nibabel identifies a file from its first bytes, so damage that confuses it lies there
(damage further on fails the read of the voxels, which names the file too); the bound keeps a
compression bomb from costing more than this."""


def _nifti_header(name: str) -> tuple[VolumeMeta, int]:
    img = _nifti_image(name)
    header = img.header
    shape = label_shape(header.get_data_shape())
    stored = header.get_data_dtype()
    slope, inter = header.get_slope_inter()
    scaled = (slope is not None and slope != 1) or (inter is not None and inter != 0)
    dtype = np.dtype(np.float64) if scaled else stored
    check_dtype(dtype)
    spacing = tuple(float(z) for z in header.get_zooms()[: len(shape)])
    meta = VolumeMeta(name, shape, dtype, spacing, np.asarray(img.affine, dtype=np.float64))
    return meta, dtype.itemsize + 1


def _nifti_values(meta: VolumeMeta) -> np.ndarray:
    return np.asanyarray(_nifti_image(meta.path).dataobj)


TIFF_MODES = {"1", "L", "P", "I;16", "I;16B", "I;16L", "I", "F"}
"""Pillow modes whose pixel values can be class ids (colour modes cannot)."""
TIFF_TYPES = {"1": np.uint8, "L": np.uint8, "P": np.uint8, "I": np.int32, "F": np.float32}
"""The type a page of each mode is read as; 16-bit modes as uint16."""


def _tiff_header(name: str) -> tuple[VolumeMeta, int]:
    from PIL import Image

    try:
        return _tiff_pages(name)
    except Image.DecompressionBombError as exc:  # over Pillow's own limit, under the budget
        raise ValueError(str(exc)) from None


def _tiff_pages(name: str) -> tuple[VolumeMeta, int]:
    from PIL import Image

    from polymask.io.masks import LOSSY_TIFF, quiet_bomb_warning

    with quiet_bomb_warning(), Image.open(name) as img:
        if img.format != "TIFF":
            raise ValueError(f"{img.format} content, not a TIFF stack")
        size, mode = img.size, img.mode
        if mode not in TIFF_MODES:
            raise ValueError(f"mode {mode} pages are not class ids (expected L, P, I;16, I or F)")
        pages = 0
        while True:  # walks the page directories only; Pillow stops on a directory loop
            lossy = LOSSY_TIFF.get(img.info.get("compression", ""))
            if lossy:
                raise ValueError(f"{lossy}-compressed page {pages}: lossy, its values are not ids")
            if img.size != size or img.mode != mode:
                raise ValueError(
                    f"page {pages} is {img.size[0]}x{img.size[1]} {img.mode}, page 0 "
                    f"{size[0]}x{size[1]} {mode}: not one volume"
                )
            pages += 1
            if pages > MAX_SIDE:
                raise ValueError(f"more than {MAX_SIDE} pages")
            try:
                img.seek(pages)
            except EOFError:
                break
    dtype = np.dtype(TIFF_TYPES.get(mode, np.uint16))
    return VolumeMeta(name, (pages, size[1], size[0]), dtype, None), dtype.itemsize + 1


def _tiff_values(meta: VolumeMeta) -> np.ndarray:
    from PIL import Image

    from polymask.io.masks import quiet_bomb_warning

    out = np.empty(meta.shape, meta.dtype)
    with quiet_bomb_warning(), Image.open(meta.path) as img:
        for page in range(out.shape[0]):
            img.seek(page)
            out[page] = np.asarray(img)
    return out


def _npy_header(name: str) -> tuple[VolumeMeta, int]:
    from polymask.io.npy import MAX_HEADER, NPY_MAGIC

    with open(name, "rb") as f:
        if f.read(6) != NPY_MAGIC:
            raise ValueError("not a .npy array (no NumPy header)")
        f.seek(0)
        try:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0
            if version != (1, 0):  # 3.0 differs only by a UTF-8 header: named fields
                read = np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f, MAX_HEADER)
        except (ValueError, TypeError, SyntaxError, RecursionError) as exc:
            raise ValueError(f"damaged .npy header: {_reason(exc)}") from None
        offset = f.tell()
        held = f.seek(0, 2) - offset
    check_dtype(dtype)
    meta = VolumeMeta(name, label_shape(shape), dtype, None)
    need = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if held < need:
        raise ValueError(f"cut short: its header declares {need} bytes of data, it holds {held}")
    return meta, 1  # mapped, not read whole: only the class ids are allocated


def _npy_values(meta: VolumeMeta) -> np.ndarray:
    # a plain array over the map: memmap's subclass would follow every result made from it
    return np.asarray(np.load(meta.path, mmap_mode="r", allow_pickle=False))
