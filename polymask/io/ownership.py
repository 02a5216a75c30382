"""Which files polymask wrote, so that it replaces those and nothing else.

An output folder may hold a user's own files, sometimes under the very name an output would
take (``-o`` pointing at the photos, ``--errors`` at the ground truth). Every file polymask
writes carries a marker: masks and instance maps their fingerprint (a PNG text chunk or a
GeoTIFF tag), overlays a JPEG comment, error maps a PNG text chunk. A target that exists
without the marker of its kind is refused rather than replaced.
"""

from __future__ import annotations

from typing import Any, Literal

from polymask.errors import UsageError
from polymask.io.storage import as_path

Kind = Literal["mask", "overlay", "error-map"]

OVERLAY_COMMENT = b"polymask overlay"
"""The JPEG comment (COM segment) of an overlay."""
ERROR_MAP_MARK = "error-map"
"""The value of an error map's ``polymask`` PNG text chunk (a mask's holds its fingerprint)."""
REFUSED_CODE = "PM040"
"""The problem code of an output refused because its target is not polymask's."""


class ForeignFile(UsageError):
    """An output whose target exists and was not written by polymask (exit code 2)."""

    def __init__(self, path: Any, kind: Kind):
        self.path, self.kind = str(path), kind
        self.reason = (
            f"exists and is not a polymask {kind}; refusing to replace it "
            "(move it away or choose another output folder)"
        )
        super().__init__(f"{path}: {self.reason}")

    def __reduce__(self):  # travels back from worker processes whole
        return ForeignFile, (self.path, self.kind)


def is_free_or_ours(path: Any, kind: Kind) -> bool:
    """Whether writing a ``kind`` output to ``path`` replaces nothing but polymask's own file.

    A folder counts as free: replacing it fails on its own, and loudly.
    """
    path = as_path(path)
    if not path.exists() or path.is_dir():
        return True
    if kind == "overlay":
        return _jpeg_comment(path) == OVERLAY_COMMENT
    from polymask.io.masks import read_fingerprint

    if kind == "error-map":
        return read_fingerprint(path) == ERROR_MAP_MARK
    if path.suffix.lower() in (".tif", ".tiff"):
        from polymask.io.geotiff import read_geotiff_fingerprint

        return read_geotiff_fingerprint(path) is not None
    mark = read_fingerprint(path)
    return mark is not None and mark != ERROR_MAP_MARK


def check_free_or_ours(path: Any, kind: Kind) -> None:
    """Raise :class:`ForeignFile` unless :func:`is_free_or_ours`."""
    if not is_free_or_ours(path, kind):
        raise ForeignFile(path, kind)


def _jpeg_comment(path: Any) -> bytes | None:
    from PIL import Image

    try:
        with as_path(path).open("rb") as f, Image.open(f) as img:
            return img.info.get("comment") if img.format == "JPEG" else None
    except (OSError, ValueError):
        return None
