"""GeoJSON numeric class properties: ``"class": 7`` is class id 7, as land-cover exports mean
it, not the seventh name of a discovered list."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.errors import AnnotationError
from polymask.formats import load_annotations
from polymask.formats.options import FormatOptions
from polymask.io.masks import read_mask
from polymask.labels import LabelMap
from polymask.raster import burn
from tests.conftest import REPO

TILE = REPO / "tests" / "formats" / "geojson" / "landcover" / "tile_12.geojson"
OPTIONS = FormatOptions(label_property="class", image_size=(8, 6))

# tile_12 by hand: class 2 on x 0..4 (two features, "class": 2 and "class": 2.0); class 7 on
# x 4..8, y 2..6 but for its hole x 5..7, y 3..5; pixel centres decide.
EXPECTED = np.zeros((6, 8), np.uint8)
EXPECTED[:, 0:4] = 2
EXPECTED[2:6, 4:8] = 7
EXPECTED[3:5, 5:7] = 0


def test_integer_classes_are_class_ids():
    (ann,) = load_annotations(TILE, options=OPTIONS)
    assert ann.categories == ((2, "2"), (7, "7"))
    assert [s.label for s in ann.shapes] == ["7", "2", "2"]
    labels = LabelMap({name: i for i, name in ann.categories})
    np.testing.assert_array_equal(burn(ann, labels, convention="center").classes, EXPECTED)


def test_rasterize_writes_the_class_ids_as_pixel_values(tmp_path):
    out = tmp_path / "masks"
    args = ["rasterize", str(TILE), "-o", str(out), "--image-size", "8x6"]
    result = CliRunner().invoke(cli, [*args, "--label-property", "class", "-j1"])
    assert result.exit_code == 0, result.output
    np.testing.assert_array_equal(read_mask(out / "tile_12.png"), EXPECTED)


def test_names_declare_no_categories(tmp_path):
    doc = json.loads(TILE.read_text())
    for feature, name in zip(doc["features"], ["water", "forest", "forest", "x"], strict=True):
        feature["properties"]["class"] = name
    path = tmp_path / "named.geojson"
    path.write_text(json.dumps(doc))
    (ann,) = load_annotations(path, options=OPTIONS)
    assert ann.categories is None
    assert [s.label for s in ann.shapes] == ["water", "forest", "forest"]


def _one_feature_file(tmp_path, *values):
    square = {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 2], [0, 2], [0, 0]]]}
    features = [{"type": "Feature", "properties": {"class": v}, "geometry": square} for v in values]
    path = tmp_path / "tile.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.mark.parametrize(
    ("values", "bad", "message"),
    [
        ((3, "forest"), 1, "'forest', a name where features[0] has a number"),
        (("forest", 3), 1, "3, a number where features[0] has a name"),
        ((2, 2.5), 1, "2.5: a numeric label is a class id, a whole number"),
        ((0,), 0, "0: a class id is in 1..65535"),
        ((65536,), 0, "65536: a class id is in 1..65535"),
        ((-4,), 0, "-4: a class id is in 1..65535"),
        ((True,), 0, "True, not a label"),
    ],
)
def test_bad_numeric_classes_are_named_errors(tmp_path, values, bad, message):
    path = _one_feature_file(tmp_path, *values)
    with pytest.raises(AnnotationError) as caught:
        load_annotations(path, options=OPTIONS)
    (problem,) = caught.value.problems
    assert problem.path == f"features[{bad}].properties.class" and problem.code == "PM026"
    assert message in problem.message


def test_largest_class_id_is_accepted(tmp_path):
    (ann,) = load_annotations(_one_feature_file(tmp_path, 65535, 1), options=OPTIONS)
    assert ann.categories == ((1, "1"), (65535, "65535"))
