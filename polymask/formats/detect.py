"""Reading the keys near the top of a JSON file, to tell the JSON formats apart cheaply.

Only the head of a file is scanned, by a tokenizer that sees strings and brackets and nothing
else, so a large file is parsed once, by its loader. What decides:

- an object with ``shapes`` is LabelMe; with ``images`` or ``categories``, COCO; with
  ``data``, a Label Studio task;
- an object whose ``annotations`` hold ``result`` lists is a Label Studio task, and one whose
  annotations hold ``image_id``, ``category_id`` or ``segmentation`` is COCO; ``annotations``
  alone suggests COCO;
- a list of objects with ``data``, ``annotations`` or ``predictions`` is a Label Studio export;
  one of objects with ``image_id`` or ``category_id`` is a COCO results file (detections), which
  the COCO reader then refuses by name (:func:`coco_results`) rather than leaving it to LabelMe.
"""

from __future__ import annotations

import re

TOP_KEYS = {"shapes": "labelme", "images": "coco", "categories": "coco", "data": "label-studio"}
"""A top-level key that settles the format as soon as it is seen."""
WEAK_TOP_KEYS = {"annotations": "coco", "imagePath": "labelme"}
"""Keys that suggest a format when nothing settles it within the head."""
ANNOTATION_KEYS = {
    "result": "label-studio",
    "image_id": "coco",
    "category_id": "coco",
    "segmentation": "coco",
}
"""Keys of the items of a top-level ``annotations`` list."""
ITEM_KEYS = {
    "data": "label-studio",
    "annotations": "label-studio",
    "predictions": "label-studio",
    "image_id": "coco",
    "category_id": "coco",
}
"""Keys of the objects in a top-level list."""

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"\s*:?|[\[\]{}]')


def sniff_json(head: str) -> str | None:
    """The format the keys in JSON text suggest (the text may be cut short), or None."""
    top_key = None
    weak = None
    for top_is_list, depth, key in _keys(head):
        if top_is_list:
            if depth == 2 and key in ITEM_KEYS:
                return ITEM_KEYS[key]
        elif depth == 1:
            top_key = key
            if key in TOP_KEYS:
                return TOP_KEYS[key]
            weak = weak or WEAK_TOP_KEYS.get(key)
        elif depth == 3 and top_key == "annotations" and key in ANNOTATION_KEYS:
            return ANNOTATION_KEYS[key]
    return weak


def coco_results(head: str) -> bool:
    """Whether JSON text starts as a COCO results file: a list of detections (objects with
    ``image_id`` and ``category_id``), which people give where the instances file belongs."""
    keys = set()
    for top_is_list, depth, key in _keys(head):
        if not top_is_list:
            return False
        if depth == 2:
            keys.add(key)
    return {"image_id", "category_id"} <= keys


def _keys(head: str):
    """(whether the top value is a list, depth, key) for every key in JSON text, up to the
    end of the top value or of the text."""
    text = head.lstrip("\ufeff \t\r\n")
    if not text or text[0] not in "{[":
        return
    top_is_list = text[0] == "["
    depth = 0
    for m in _TOKEN.finditer(text):
        token = m.group()
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
            if depth <= 0:
                return
        elif token.endswith(":"):
            yield top_is_list, depth, token[1 : token.rindex('"')]
