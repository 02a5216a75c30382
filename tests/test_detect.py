"""Telling formats from content: the keys near the top of a file decide, cheaply."""

from __future__ import annotations

import json

import pytest

from polymask.formats import HEAD_BYTES, detect_format
from polymask.formats.detect import sniff_json


@pytest.mark.parametrize(
    ("doc", "fmt"),
    [
        ({"version": "5.0", "flags": {}, "shapes": [], "imagePath": "a.jpg"}, "labelme"),
        ({"info": {}, "licenses": [], "images": [], "annotations": [], "categories": []}, "coco"),
        ({"annotations": [], "categories": [], "images": []}, "coco"),
        ({"annotations": [{"segmentation": [], "image_id": 1}]}, "coco"),
        ({"annotations": [{"id": 1, "result": []}], "data": {"image": "a.jpg"}}, "label-studio"),
        ([{"id": 1, "annotations": [], "data": {}}], "label-studio"),
        ([{"predictions": [], "data": {}}], "label-studio"),
    ],
)
def test_formats_are_told_by_their_keys(tmp_path, doc, fmt):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc, indent=1))
    assert detect_format(path) == fmt


def test_nested_keys_do_not_count():
    # "shapes" and "images" inside values, or inside strings, are not top-level keys
    assert sniff_json('{"data": {"shapes": 1, "images": []}, "annotations": []}') == "label-studio"
    assert sniff_json('{"x": {"shapes": []}, "annotations": []}') == "coco"
    assert sniff_json('{"note": "\\"shapes\\": [", "images": []}') == "coco"
    assert sniff_json('{"x": [{"result": 1}], "annotations": []}') == "coco"


def test_a_task_whose_data_comes_after_long_annotations_is_label_studio(tmp_path):
    task = {
        "id": 1,
        "annotations": [{"id": 1, "result": [{"pad": "x" * 100}] * 2000}],
        "data": {"image": "a.jpg"},
    }
    path = tmp_path / "task.json"
    path.write_text(json.dumps(task))
    assert path.stat().st_size > 2 * HEAD_BYTES
    assert detect_format(path) == "label-studio"


def test_a_coco_file_that_lists_annotations_first_is_coco(tmp_path):
    big = {
        "annotations": [{"segmentation": [[0.5] * 3000], "id": i} for i in range(40)],
        "images": [],
        "categories": [],
    }
    path = tmp_path / "big.json"
    path.write_text(json.dumps(big))
    assert path.stat().st_size > 2 * HEAD_BYTES
    assert detect_format(path) == "coco"


@pytest.mark.parametrize("text", ["", '{"name": "x", "items": []}', "[[[]]]", "\x00\xff"])
def test_anything_else_falls_back_to_labelme(tmp_path, text):
    path = tmp_path / "a.json"
    path.write_text(text)
    assert detect_format(path) == "labelme"
