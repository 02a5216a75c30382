"""VIA specifics: ellipse rotation, label attributes, image sizes from the image header,
format detection and line numbers in CI annotations."""

from __future__ import annotations

import json
import math

import pytest
from click.testing import CliRunner
from PIL import Image

from polymask.cli.main import cli
from polymask.errors import AnnotationError
from polymask.formats import detect_format, load_annotations
from polymask.formats.options import FormatOptions
from polymask.labels import LabelMap
from polymask.raster import burn


def _via(tmp_path, regions, name="a.png", **extra):
    doc = {f"{name}1": {"filename": name, "size": 1, "regions": regions, **extra}}
    path = tmp_path / "via.json"
    path.write_text(json.dumps(doc, indent=1))
    return path


def _region(shape, **attributes):
    return {"shape_attributes": shape, "region_attributes": attributes or {"label": "x"}}


def test_ellipse_theta_is_radians_clockwise_on_screen(tmp_path):
    """theta = pi/4 points the long axis down-right (y grows downwards), as VIA draws it."""
    shape = {"name": "ellipse", "cx": 20, "cy": 20, "rx": 12, "ry": 3, "theta": math.pi / 4}
    path = _via(tmp_path, [_region(shape)])
    (ann,) = load_annotations(path, options=FormatOptions(image_size=(40, 40)))
    m = burn(ann, LabelMap.from_names(["x"]), convention="center").classes
    assert m[20 + 6, 20 + 6] == 1  # row, column: down-right of the centre
    assert m[20 - 6, 20 + 6] == 0  # up-right is outside


def test_label_attribute_rules(tmp_path):
    regions = [_region({"name": "point", "cx": 1, "cy": 1}, kind="car", colour="red")]
    path = _via(tmp_path, regions)
    size = FormatOptions(image_size=(8, 8))
    with pytest.raises(AnnotationError, match="no region attribute 'label'"):
        load_annotations(path, options=size)
    (ann,) = load_annotations(
        path, options=FormatOptions(image_size=(8, 8), label_attribute="kind")
    )
    assert [s.label for s in ann.shapes] == ["car"]
    only = _via(tmp_path, [_region({"name": "point", "cx": 1, "cy": 1}, kind="bus")])
    (ann,) = load_annotations(only, options=size)  # the only attribute is the label
    assert [s.label for s in ann.shapes] == ["bus"]


def test_image_size_comes_from_the_image_header(tmp_path):
    (tmp_path / "images").mkdir()
    Image.new("RGB", (23, 17)).save(tmp_path / "images" / "a.png")
    doc = {
        "_via_settings": {"core": {"default_filepath": "images/"}},
        "_via_img_metadata": {"a.png1": {"filename": "a.png", "size": 1, "regions": []}},
    }
    path = tmp_path / "project.json"
    path.write_text(json.dumps(doc))
    (ann,) = load_annotations(path)
    assert (ann.width, ann.height) == (23, 17)
    assert ann.key == "a" and ann.image_path == str((tmp_path / "images" / "a.png").resolve())


def test_detection_reads_content_not_suffix(tmp_path):
    via = _via(tmp_path, [])
    geo = tmp_path / "parcels.json"
    geo.write_text('{"type": "FeatureCollection", "features": []}')
    cvat = tmp_path / "export.txt"
    cvat.write_text('<?xml version="1.0"?>\n<annotations></annotations>')
    assert [detect_format(p) for p in (via, geo, cvat)] == ["via", "geojson", "cvat"]


def test_github_annotations_name_the_line(tmp_path):
    path = _via(tmp_path, [_region({"name": "circle", "cx": 1, "cy": 2, "r": -4})])
    args = ["validate", str(path), "--output-format", "github", "--image-size", "8x8", "-j1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    lines = path.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if '"r": -4' in text)
    assert f"line={line}," in result.stdout
    assert "a.png1.regions[0].shape_attributes.r" in result.stdout


def test_bad_image_size_option_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(cli, ["validate", str(_via(tmp_path, [])), "--image-size", "64"])
    assert result.exit_code == 2 and "WIDTHxHEIGHT" in result.output


@pytest.mark.parametrize("fmt", ["via", "geojson"])
def test_deep_nesting_is_refused_with_a_message(tmp_path, fmt):
    path = tmp_path / "deep.json"
    path.write_text(
        '{"a.png1": {"filename": "a.png", "regions": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    )
    with pytest.raises(AnnotationError, match="nested too deeply"):
        load_annotations(path, fmt, options=FormatOptions(image_size=(4, 4)))


def test_changing_a_format_option_rewrites_the_masks(tmp_path):
    path = _via(tmp_path, [_region({"name": "rect", "x": 1, "y": 1, "width": 4, "height": 3})])
    out = tmp_path / "out"
    runs = []
    for size in ("16x12", "16x12", "20x12"):
        args = ["rasterize", str(path), "-o", str(out), "--image-size", size, "-j1"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        runs.append(result.output)
    assert "1 written" in runs[0] and "1 skipped" in runs[1] and "1 written" in runs[2]
    assert Image.open(out / "a.png").size == (20, 12)
