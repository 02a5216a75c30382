"""Compiled polygon filling that sets the pixels Pillow, GDAL and pycocotools set, faster.

Filling polygons is most of the work of ``rasterize`` once the JSON is read. Pillow's and GDAL's
fillers visit every edge on every row of a polygon (rows x edges: ~50 us for a 200-vertex
polygon), and the ``coco`` walk in numpy allocates per upsampled outline point. The C module
``polymask.raster._scanfill`` reproduces each library's arithmetic step by step but visits only the
edges that cross a row, so the pixels are the same and the cost is rows + crossings.

Each filler is handed out only where it is known to agree with what it replaces:

- :func:`pillow_filler`: Pillow's polygon rule is the one Pillow 11.3 to 13 share; with another
  Pillow, or when a probe of awkward polygons drawn both ways disagrees, callers use Pillow;
- :func:`gdal_filler`: the same probe against ``rasterio.features.rasterize``;
- :func:`coco_filler`: the reference is polymask's own :mod:`polymask.raster.coco_polygon`,
  which the tests compare with pycocotools; the tests compare the C walk with it.

Without a C compiler at install time the module is absent and every caller falls back to the
library it follows: same masks, slower.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

try:
    from polymask.raster import _scanfill
except ImportError:  # built without a compiler: the libraries draw instead
    _scanfill = None

PILLOW_RULE = ((11, 3), (14, 0))
"""Pillow versions whose polygon filler the C code reproduces: [first, last)."""

PROBE_SIZE = (23, 29)
"""(height, width) of the probe canvas: polygons are drawn across its edges too."""


def probe_polygons() -> list[np.ndarray]:
    """Polygons that exercise every special case of the rules: vertices on pixel centres and on
    half pixels, horizontal and vertical edges, self-intersections, both windings, vertices
    off the canvas. Seeded, so every process probes the same shapes."""
    rng = np.random.default_rng(20261128)
    h, w = PROBE_SIZE
    polygons = [
        np.array([[2, 2.5], [8, 2.5], [8, 6.5], [2, 6.5]]),
        np.array([[2, 6.5], [8, 6.5], [8, 2.5], [2, 2.5]]),
        np.array([[1, 1], [12, 1], [12, 1], [20, 9], [1, 9]]),
        np.array([[-5, -5], [w + 5, 3.5], [4, h + 5]]),
    ]
    for n in range(24):
        k = int(rng.integers(3, 12))
        scale = (1, 2, 4)[n % 3]
        xy = rng.integers(-4 * scale, (max(h, w) + 4) * scale, (k, 2)) / scale
        polygons.append(xy.astype(float))
    return [np.ascontiguousarray(p, dtype=float) for p in polygons]


@cache
def pillow_filler() -> Callable | None:
    """``fill(out, xy, value)`` setting the pixels of ``ImageDraw.polygon(xy, fill=value,
    outline=value)``, or None where Pillow must draw."""
    import PIL
    from PIL import Image, ImageDraw

    version = tuple(int(p) for p in PIL.__version__.split(".")[:2] if p.isdigit())
    if _scanfill is None or not PILLOW_RULE[0] <= version < PILLOW_RULE[1]:
        return None
    h, w = PROBE_SIZE
    for xy in probe_polygons():
        reference = Image.new("L", (w, h), 0)
        ImageDraw.Draw(reference).polygon([tuple(p) for p in xy], fill=1, outline=1)
        ours = np.zeros((h, w), np.uint8)
        _scanfill.pillow_polygon(ours, xy, 1)
        if not np.array_equal(np.asarray(reference), ours):
            return None
    return _scanfill.pillow_polygon


@cache
def gdal_filler() -> Callable | None:
    """``fill(out, xy, ring_sizes, value)`` setting the pixels ``rasterio.features.rasterize``
    burns for one polygon (closed rings, exterior first, even-odd), or None where GDAL must."""
    if _scanfill is None:
        return None
    from rasterio.features import rasterize

    h, w = PROBE_SIZE
    for xy in probe_polygons():
        ring = np.vstack([xy, xy[:1]])
        reference = rasterize(
            [({"type": "Polygon", "coordinates": [ring.tolist()]}, 1)],
            out_shape=(h, w),
            dtype=np.uint8,
        )
        ours = np.zeros((h, w), np.uint8)
        _scanfill.gdal_polygon(ours, ring, (len(ring),), 1)
        if not np.array_equal(reference, ours):
            return None
    return _scanfill.gdal_polygon


def coco_filler() -> Callable | None:
    """``fill(out, xy, value, max_steps) -> bool`` setting the pixels of pycocotools'
    ``annToMask`` for one polygon (False, nothing painted, when the outline is longer than
    ``max_steps`` upsampled points), or None where :mod:`polymask.raster.coco_polygon` must."""
    return None if _scanfill is None else _scanfill.coco_polygon
