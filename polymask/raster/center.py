"""The ``center`` pixel convention: GDAL's rule, a pixel takes a shape's class when its centre
lies inside the shape (``rasterio.features.rasterize``); self-intersections and holes follow
the even-odd rule."""

from __future__ import annotations

import numpy as np

from polymask.model import Shape
from polymask.raster.geometry import to_geojson
from polymask.raster.patch import paste_patch


def paint(size: tuple[int, int], jobs: list[tuple[Shape, int]], dtype) -> np.ndarray:
    """GDAL's centre rule: polygons filled by :mod:`polymask.raster.scanfill` where it
    reproduces GDAL, the rest burned by rasterio in runs of consecutive shapes, handed over as
    GeoJSON mappings (see :func:`polymask.raster.geometry.to_geojson`)."""
    from rasterio.features import rasterize

    from polymask.raster.scanfill import gdal_filler

    fill = gdal_filler()
    out = np.zeros(size, dtype=dtype)
    run: list = []

    def flush():
        if run:
            rasterize(run, out=out, all_touched=False)
            run.clear()

    for shape, value in jobs:
        if shape.kind == "mask":
            flush()
            paste_patch(out, shape, value)
            continue
        geom = to_geojson(shape)
        if geom is None:
            continue
        polygons = _polygon_rings(geom) if fill is not None else None
        if polygons is None:
            run.append((geom, int(value)))
            continue
        flush()
        for xy, sizes in polygons:
            fill(out, xy, sizes, int(value))
    flush()
    return out


def _polygon_rings(geom: dict) -> list[tuple[list, tuple[int, ...]]] | None:
    """(vertices of all rings, ring sizes) per polygon of a GeoJSON Polygon or MultiPolygon, or
    None for other types. GDAL burns the parts of a multipolygon one by one."""
    kind, coords = geom["type"], geom["coordinates"]
    if kind == "Polygon":
        coords = [coords]
    elif kind != "MultiPolygon":
        return None
    return [([p for ring in rings for p in ring], tuple(map(len, rings))) for rings in coords]
