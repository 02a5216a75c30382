"""An unchanged one-image file is skipped on its fingerprint before it is parsed; any change to
the file, the settings or the outputs still rewrites it."""

from __future__ import annotations

import numpy as np

from polymask import dataset
from polymask.dataset import Item
from polymask.formats import InputFile
from polymask.io.masks import read_mask
from polymask.labels import LabelMap
from polymask.rasterize import RasterizeOptions, rasterize_item
from polymask.settings import Settings
from tests.helpers import labelme_shape, write_labelme

LM = LabelMap.from_names(["_background_", "car"])
SQUARE = [(1, 1), (8, 1), (8, 8), (1, 8)]


def statuses(item, options):
    return [i.status for i in rasterize_item(Item(item.key, item, "labelme"), options).images]


def test_unchanged_file_is_skipped_without_parsing(tmp_path, monkeypatch):
    item = InputFile(
        write_labelme(tmp_path / "in" / "a.json", [labelme_shape("car", SQUARE)]), tmp_path / "in"
    )
    options = RasterizeOptions(out_dir=tmp_path / "out", label_map=LM)
    assert statuses(item, options) == ["written"]
    parsed = []
    real_load = dataset.load_annotations
    monkeypatch.setattr(
        dataset, "load_annotations", lambda *a, **k: parsed.append(a) or real_load(*a, **k)
    )
    assert statuses(item, options) == ["skipped"] and parsed == []

    # other settings: a different fingerprint, so parsed and rewritten
    center = RasterizeOptions(
        out_dir=tmp_path / "out", label_map=LM, settings=Settings(convention="center")
    )
    assert statuses(item, center) == ["written"] and len(parsed) == 1
    # the file changed: rewritten with its new content
    write_labelme(item.path, [labelme_shape("car", [(0, 0), (3, 0), (3, 3), (0, 3)])])
    assert statuses(item, options) == ["written"] and len(parsed) == 2
    expected = np.zeros((30, 40), np.uint8)
    expected[0:4, 0:4] = 1
    np.testing.assert_array_equal(read_mask(tmp_path / "out" / "a.png"), expected)


def test_missing_extra_output_is_not_skipped(tmp_path):
    item = InputFile(
        write_labelme(tmp_path / "in" / "a.json", [labelme_shape("car", SQUARE)]), tmp_path / "in"
    )
    plain = RasterizeOptions(out_dir=tmp_path / "out", label_map=LM)
    assert statuses(item, plain) == ["written"]
    with_instances = RasterizeOptions(
        out_dir=tmp_path / "out", label_map=LM, instances_dir=tmp_path / "inst"
    )
    assert statuses(item, with_instances) == ["written"]
    assert (tmp_path / "inst" / "a.png").exists()
    assert statuses(item, with_instances) == ["skipped"]
