"""Georeferenced rasters: mapping world coordinates to a reference's pixels, and writing class
masks as GeoTIFFs aligned with it (same size, transform and CRS), atomically.

A GeoTIFF mask carries the same fingerprint as a PNG mask (as a GDAL metadata tag), so reruns
skip what is up to date in the same way.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from polymask.io.masks import FINGERPRINT_KEY, voc_palette
from polymask.io.storage import as_path, atomic_write, is_local


@dataclass(frozen=True)
class Frame:
    """A reference raster's pixel grid: size, affine transform (pixel -> world) and CRS."""

    path: str
    width: int
    height: int
    transform: tuple[float, ...]
    crs: str | None

    def to_pixels(self, rings: list[np.ndarray], src_crs: str | None = None) -> list[np.ndarray]:
        """World coordinates (in ``src_crs``, default the reference's CRS) to pixel coordinates
        (x = column, y = row, pixel (r, c) covering [c, c+1) x [r, r+1))."""
        from affine import Affine

        if src_crs is not None:
            rings = self._reproject(rings, src_crs)
        a, b, c, d, e, f = (~Affine(*self.transform[:6]))[:6]
        return [
            np.column_stack([a * r[:, 0] + b * r[:, 1] + c, d * r[:, 0] + e * r[:, 1] + f])
            for r in rings
        ]

    def _reproject(self, rings: list[np.ndarray], src_crs: str) -> list[np.ndarray]:
        from rasterio.crs import CRS
        from rasterio.errors import CRSError
        from rasterio.warp import transform

        if self.crs is None:
            raise ValueError(f"the file names CRS {src_crs} but the reference {self.path} has none")
        try:
            src, dst = CRS.from_user_input(src_crs), CRS.from_user_input(self.crs)
        except CRSError as exc:
            raise ValueError(f"unknown CRS {src_crs!r}: {exc}") from None
        if src == dst:
            return rings
        out = []
        for ring in rings:
            xs, ys = transform(src, dst, ring[:, 0].tolist(), ring[:, 1].tolist())
            out.append(np.column_stack([xs, ys]))
        return out


def reference_frame(path: str | Path) -> Frame:
    """The grid of a reference raster (header only). Raises ValueError for an unusable file."""
    import rasterio
    from rasterio.errors import RasterioIOError

    from polymask.limits import check_size

    try:
        with rasterio.open(path) as ds:
            frame = Frame(
                str(path),
                ds.width,
                ds.height,
                tuple(ds.transform),
                ds.crs.to_string() if ds.crs else None,
            )
    except RasterioIOError as exc:
        raise ValueError(f"cannot read the reference raster {path}: {exc}") from None
    reason = check_size(frame.width, frame.height)
    if reason:
        raise ValueError(f"reference {path}: {reason}")
    a, b, _, d, e, _ = frame.transform[:6]
    if not math.isfinite(a * e - b * d) or a * e - b * d == 0:
        raise ValueError(f"reference {path}: its transform is not invertible")
    return frame


def encode_geotiff(
    array: np.ndarray, frame: Frame, fingerprint: str | None = None, palette: bool = True
) -> bytes:
    """GeoTIFF bytes of a label array on the reference's grid (deflate, VOC colours for uint8)."""
    from affine import Affine
    from rasterio.io import MemoryFile

    if array.shape != (frame.height, frame.width):
        raise ValueError(
            f"mask is {array.shape[::-1]} but the reference grid is {frame.width}x{frame.height}"
        )
    profile = dict(
        driver="GTiff",
        width=frame.width,
        height=frame.height,
        count=1,
        dtype=array.dtype.name,
        transform=Affine(*frame.transform[:6]),
        crs=frame.crs,
        compress="deflate",
    )
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(array, 1)
            if fingerprint is not None:
                dst.update_tags(**{FINGERPRINT_KEY: fingerprint})
            if palette and array.dtype == np.uint8:
                rgb = voc_palette()
                dst.write_colormap(1, {i: (*rgb[3 * i : 3 * i + 3], 255) for i in range(256)})
        return mem.read()


def write_geotiff(
    path: str | Path,
    array: np.ndarray,
    frame: Frame,
    fingerprint: str | None = None,
    palette: bool = True,
) -> None:
    atomic_write(as_path(path), encode_geotiff(array, frame, fingerprint, palette))


def read_geotiff_fingerprint(path: str | Path) -> str | None:
    """The fingerprint stored in a GeoTIFF mask, or None (missing or unreadable file)."""
    from rasterio.errors import RasterioError

    try:
        with _open(path) as ds:
            return ds.tags().get(FINGERPRINT_KEY)
    except (RasterioError, OSError):
        return None


def read_geotiff(path: str | Path) -> np.ndarray:
    """Band 1 of a GeoTIFF mask. Raises OSError or a rasterio error for unreadable files,
    :class:`~polymask.io.masks.MaskReadError` for one over the memory budget (checked from the
    header, before the band is read)."""
    from polymask.io.masks import MaskReadError
    from polymask.limits import check_size

    with _open(path) as ds:
        reason = check_size(ds.width, ds.height)
        if reason:
            raise MaskReadError(f"{path}: {reason}")
        return ds.read(1)


@contextmanager
def _open(path):
    """A raster opened for reading: a local file by its path, so that a tag or the header is
    read without the pixels (a folder of large orthophotos under mask names costs a header
    each); a storage URL from its bytes, which rasterio cannot reach itself."""
    import rasterio
    from rasterio.io import MemoryFile

    path = as_path(path)
    if is_local(path):
        with rasterio.open(path) as ds:
            yield ds
        return
    with MemoryFile(path.read_bytes()) as mem, mem.open() as ds:
        yield ds
