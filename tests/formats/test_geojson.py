"""GeoJSON specifics: holes and multipolygons, world coordinates through a reference raster,
GeoTIFF masks aligned with it, and reprojection of a legacy ``crs``."""

from __future__ import annotations

import json

import numpy as np
import rasterio
import shapely
from click.testing import CliRunner
from rasterio.features import rasterize

from polymask.cli.main import cli
from polymask.formats import load_annotations
from polymask.formats.options import FormatOptions
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.conftest import REPO

VALID = REPO / "tests" / "formats" / "geojson" / "valid"
REFERENCE = VALID / "reference.tif"


def _features(name: str) -> list[dict]:
    return json.loads((VALID / name).read_text())["features"]


def test_holes_and_multipolygons_match_pixel_centre_truth():
    labels = LabelMap.from_names(["field", "pond"])
    (ann,) = load_annotations(VALID / "pixels.geojson", options=FormatOptions(image_size=(64, 48)))
    r = burn(ann, labels, convention="center", instances=True)

    ys, xs = np.mgrid[0:48, 0:64] + 0.5
    truth = np.zeros((48, 64), np.uint8)
    for feature in _features("pixels.geojson"):
        if feature["geometry"] is None:
            continue
        geom = shapely.geometry.shape(feature["geometry"])
        truth[shapely.contains_xy(geom, xs, ys)] = labels.class_id(feature["properties"]["class"])
    assert {0, 1, 2} <= set(np.unique(truth))
    np.testing.assert_array_equal(r.classes, truth)
    # the hole is background where no pond covers it
    assert r.classes[22, 22] == 0
    # both parts of the pond MultiPolygon are one instance
    assert r.instances[7, 8] == r.instances[20, 30] != 0


def _world_truth(name: str, labels: LabelMap) -> np.ndarray:
    """GDAL's own world-to-pixel burn, with the reference transform: a peer implementation."""
    with rasterio.open(REFERENCE) as ref:
        shapes = [
            (f["geometry"], labels.class_id(f["properties"]["label"])) for f in _features(name)
        ]
        return rasterize(
            shapes, out_shape=(ref.height, ref.width), transform=ref.transform, dtype="uint8"
        )


def test_world_coordinates_give_a_geotiff_on_the_reference_grid(tmp_path):
    out = tmp_path / "masks"
    args = [
        "rasterize",
        str(VALID / "world.geojson"),
        "-o",
        str(out),
        "--reference",
        str(REFERENCE),
        "-j1",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    labels = LabelMap.from_file(out / "labels.txt")
    with rasterio.open(out / "world.tif") as mask, rasterio.open(REFERENCE) as ref:
        assert (mask.width, mask.height) == (ref.width, ref.height)
        assert mask.transform == ref.transform and mask.crs == ref.crs
        found = mask.read(1)
    expected = _world_truth("world.geojson", labels)
    assert set(np.unique(expected)) == {0, 1, 2}
    np.testing.assert_array_equal(found, expected)

    again = CliRunner().invoke(cli, args)  # the fingerprint in the GeoTIFF makes a rerun skip
    assert again.exit_code == 0 and "1 skipped" in again.output
    first = (out / "world.tif").read_bytes()
    assert CliRunner().invoke(cli, [*args, "--force"]).exit_code == 0
    assert (out / "world.tif").read_bytes() == first  # same inputs, byte-identical output


def test_png_on_request(tmp_path):
    out = tmp_path / "masks"
    args = [
        "rasterize",
        str(VALID / "world.geojson"),
        "-o",
        str(out),
        "--reference",
        str(REFERENCE),
        "--mask-format",
        "png",
        "-j1",
    ]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert (out / "world.png").exists() and not (out / "world.tif").exists()


def test_legacy_crs_is_reprojected_to_the_reference():
    """lonlat.geojson is world.geojson's vineyard in CRS84: the same pixels come out."""
    labels = LabelMap.from_names(["olive", "vineyard"])
    options = FormatOptions(reference=str(REFERENCE))
    (ann,) = load_annotations(VALID / "lonlat.geojson", options=options)
    found = burn(ann, labels, convention="center").classes
    world = _world_truth("world.geojson", labels)
    expected = np.where(world == labels.class_id("vineyard"), world, 0)
    assert np.count_nonzero(expected)
    np.testing.assert_array_equal(found, expected)
