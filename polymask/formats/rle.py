"""COCO's mask arithmetic (pycocotools' ``maskApi``), in numpy: RLE codecs and polygon scan
conversion.

``counts`` are run lengths of 0s then 1s, alternating, in column-major order; the compressed
string form packs them 5 bits a character (pycocotools' ``rleFrString``). Decoded lengths are
checked: an RLE that does not cover exactly height x width pixels is refused, where
pycocotools would read or write past its buffer.

Polygons (``rleFrPoly``): the vertices are scaled by 5 and rounded (C casts: towards zero), the
edges are walked one upsampled step at a time, and every place where the walk crosses the
centre line of a pixel column toggles the mask at the crossing's row (rounded up, clamped to
the image). Pixels between toggles, in column-major order, are inside. COCO users expect the
masks of ``pycocotools`` (``COCO.annToMask``), so this is reproduced bit for bit without
needing the package. It lives with the annotation formats rather than the rasterizers because
COCO's own ``area`` field is defined by it: the COCO reader checks areas with it.
"""

from __future__ import annotations

import numpy as np

from polymask.limits import SCALE


class RleError(ValueError):
    """An RLE that cannot be decoded to the declared size; the message says why."""


class RleSizeError(RleError):
    """An RLE declared for another image size than its image's."""


def decode(size, counts, height: int, width: int) -> np.ndarray:
    """The (height, width) boolean mask of an RLE declared as ``size`` (height, width) for an
    image of ``height`` x ``width``. ``counts``: COCO's compressed string, or the run lengths
    (a sequence, or uint32 bytes as the COCO results reader keeps them). Raises
    :class:`RleSizeError` for another size, :class:`RleError` for counts that do not decode."""
    h, w = size
    if (h, w) != (height, width):
        raise RleSizeError(
            f"RLE size is {h}x{w} (height x width) but the image is {height}x{width}"
        )
    if isinstance(counts, str):
        counts = string_to_counts(counts)
    elif isinstance(counts, bytes):
        counts = np.frombuffer(counts, dtype=np.uint32)
    return counts_to_mask(counts, h, w)


def counts_to_mask(counts, height: int, width: int) -> np.ndarray:
    """Decode run lengths (0s first) into a (height, width) boolean mask."""
    counts = np.asarray(counts, dtype=np.int64)
    if counts.ndim != 1 or (counts.size and counts.min() < 0):
        raise RleError("counts must be a list of non-negative run lengths")
    total = int(counts.sum())
    if total != height * width:
        raise RleError(
            f"RLE counts cover {total} pixels but the size {height}x{width} has {height * width}"
        )
    values = (np.arange(counts.size) & 1).astype(bool)
    flat = np.repeat(values, counts)
    return flat.reshape(width, height).T


def string_to_counts(s: str) -> list[int]:
    """Decode COCO's compressed RLE string (``rleFrString``) into run lengths.

    Each count is a little-endian group of 5-bit chunks in characters 48..111 (bit 0x20 means
    "more follows", the last chunk's 0x10 bit is a sign), stored from the fourth count on as
    the difference to the count two places before. Counts are 32-bit unsigned in the C code,
    and so wrap here too.
    """
    counts: list[int] = []
    x = k = 0
    for pos, ch in enumerate(s):
        c = ord(ch) - 48
        if not 0 <= c < 64:
            raise RleError(f"character {ch!r} at {pos} is not part of a COCO RLE string")
        if k >= 7:
            raise RleError(f"count ending at {pos} is longer than 32 bits")
        x |= (c & 0x1F) << (5 * k)
        k += 1
        if c & 0x20:
            continue
        if c & 0x10:
            x -= 1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x & 0xFFFFFFFF)
        x = k = 0
    if k:
        raise RleError("RLE string ends in the middle of a count")
    return counts


def _trunc(a: np.ndarray) -> np.ndarray:
    """C's ``(int)`` cast of doubles: truncation towards zero, which numpy's cast also does for
    the finite, bounded coordinates polymask accepts."""
    return np.asarray(a).astype(np.int64)


def polygon_toggles(xy: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns, rows) of the pixels where pycocotools' scan conversion toggles the mask.

    ``xy`` is an (n, 2) array of vertices in pixel coordinates. Pixels may repeat (two toggles
    at one pixel cancel); a row may equal ``height`` (a toggle past the column's end). Every
    column holds an even number of toggles, since a closed outline crosses a line evenly.
    """
    x = _trunc(SCALE * xy[:, 0] + 0.5)
    y = _trunc(SCALE * xy[:, 1] + 0.5)
    xs, ys = x, y
    xe, ye = np.roll(x, -1), np.roll(y, -1)
    dx, dy = np.abs(xe - xs), np.abs(ys - ye)
    shallow = dx >= dy
    flip = (shallow & (xs > xe)) | (~shallow & (ys > ye))
    xs, xe = np.where(flip, xe, xs), np.where(flip, xs, xe)
    ys, ye = np.where(flip, ye, ys), np.where(flip, ys, ye)
    length = np.where(shallow, dx, dy)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(shallow, (ye - ys) / dx.astype(float), (xe - xs) / dy.astype(float))
    s = np.where(length == 0, 0.0, s)  # a repeated vertex: one point, its slope never used

    # every edge contributes points d = 0..length, walked from the edge's original start;
    # per-edge values are repeated once for their points, never gathered point by point
    n = length + 1
    d = np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)
    t = np.repeat(np.where(flip, length, 0), n) + np.repeat(np.where(flip, -1, 1), n) * d
    along = np.repeat(np.where(shallow, xs, ys), n) + t
    across = _trunc(np.repeat(np.where(shallow, ys, xs), n) + np.repeat(s, n) * t + 0.5)
    shallow_at = np.repeat(shallow, n)
    u = np.where(shallow_at, along, across)
    v = np.where(shallow_at, across, along)

    # a crossing of the centre of column c is a step between u = 5c+2 and u = 5c+3
    moved = np.flatnonzero(u[1:] != u[:-1]) + 1
    u1, u0, v1, v0 = u[moved], u[moved - 1], v[moved], v[moved - 1]
    xd = np.where(u1 < u0, u1, u1 - 1).astype(float)
    xd = (xd + 0.5) / SCALE - 0.5
    keep = (np.floor(xd) == xd) & (xd >= 0) & (xd <= width - 1)
    yd = np.minimum(v1, v0)[keep].astype(float)
    yd = np.ceil(np.clip((yd + 0.5) / SCALE - 0.5, 0, height))
    return xd[keep].astype(np.int64), yd.astype(np.int64)


def polygon_block(xy, height: int, width: int) -> tuple[tuple[int, int], np.ndarray]:
    """``((r0, c0), block)``: the mask ``pycocotools`` makes of one polygon, within the
    polygon's bounding box only.

    Pixels outside the block are empty, so a small shape on a large image costs the shape's
    size, not the image's.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    cols, rows = polygon_toggles(xy, height, width)
    # a toggle at row == height closes its column below the image: it is dropped, and a
    # column left inside runs to the bottom row
    keep = rows < height
    if not keep.any():
        return (0, 0), np.zeros((0, 0), dtype=bool)
    r1 = min(int(rows.max()), height - 1)
    cols, rows = cols[keep], rows[keep]
    r0, c0 = int(rows.min()), int(cols.min())
    n_rows, n_cols = r1 - r0 + 1, int(cols.max()) - c0 + 1
    counts = np.bincount((cols - c0) * n_rows + (rows - r0), minlength=n_cols * n_rows)
    inside = (np.cumsum(counts.reshape(n_cols, n_rows), axis=1) & 1).astype(bool)
    return (r0, c0), inside.T


def polygons_area(polygons, height: int, width: int) -> int:
    """Pixels of the union of ``pycocotools``' masks of these polygons: the ``area`` COCO
    gives a polygon annotation (``area(merge(frPyObjects(segmentation, h, w)))``)."""
    blocks = [polygon_block(xy, height, width) for xy in polygons]
    blocks = [(corner, block) for corner, block in blocks if block.any()]
    if len(blocks) <= 1:
        return sum(int(np.count_nonzero(block)) for _, block in blocks)
    r0 = min(r for (r, _), _ in blocks)
    c0 = min(c for (_, c), _ in blocks)
    r1 = max(r + b.shape[0] for (r, _), b in blocks)
    c1 = max(c + b.shape[1] for (_, c), b in blocks)
    union = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    for (r, c), block in blocks:
        union[r - r0 : r - r0 + block.shape[0], c - c0 : c - c0 + block.shape[1]] |= block
    return int(np.count_nonzero(union))
