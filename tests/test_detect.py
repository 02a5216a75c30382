"""Telling formats from content: the keys near the top of a file decide, cheaply."""

from __future__ import annotations

import json

import pytest

from polymask.errors import AnnotationError
from polymask.formats import detect_format
from polymask.formats.detect import HEAD, sniff_json


@pytest.mark.parametrize(
    ("doc", "fmt"),
    [
        ({"version": "5.0", "flags": {}, "shapes": [], "imagePath": "a.jpg"}, "labelme"),
        ({"info": {}, "licenses": [], "images": [], "annotations": [], "categories": []}, "coco"),
        ({"annotations": [], "categories": [], "images": []}, "coco"),
        ({"annotations": [{"result": []}], "data": {"image": "a.jpg"}}, "label-studio"),
        ([{"id": 1, "annotations": [], "data": {}}], "label-studio"),
        ([{"predictions": [], "data": {}}], "label-studio"),
    ],
)
def test_formats_are_told_by_their_keys(tmp_path, doc, fmt):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc, indent=1))
    assert detect_format(path) == fmt


def test_nested_keys_do_not_count():
    # "shapes" and "images" inside values are not top-level keys
    assert sniff_json('{"data": {"shapes": 1, "images": []}, "annotations": []}') == "label-studio"
    assert sniff_json('{"x": {"shapes": []}, "annotations": []}') == "coco"
    assert sniff_json('{"note": "\\"shapes\\": [", "images": []}') == "coco"


def test_only_the_head_is_read(tmp_path):
    # a COCO file that lists annotations before images: the head settles it as COCO even
    # though "images" lies far beyond it
    big = {"annotations": [{"id": i, "pad": "x" * 100} for i in range(HEAD // 50)], "images": []}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(big))
    assert path.stat().st_size > 2 * HEAD
    assert detect_format(path) == "coco"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ('{"type": "FeatureCollection"}', "cannot tell"),
        ("<xml/>", "cannot tell"),
        ("[[[]]]", "cannot tell"),
    ],
)
def test_unknown_content_is_a_clear_error(tmp_path, text, message):
    path = tmp_path / "a.json"
    path.write_text(text)
    with pytest.raises(AnnotationError, match=message):
        detect_format(path)
