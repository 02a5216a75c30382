"""Reading the keys near the top of a JSON file, to tell the JSON formats apart cheaply.

Only the head of a file is scanned, by a tokenizer that sees strings and brackets and nothing
else, so a large file is parsed once, by its loader. What decides:

- an object with ``shapes`` is LabelMe; with ``images`` or ``categories``, COCO; with
  ``data``, a Label Studio task;
- an object whose ``annotations`` hold ``result`` lists is a Label Studio task, and one whose
  annotations hold ``image_id``, ``category_id`` or ``segmentation`` is COCO; ``annotations``
  alone suggests COCO;
- a list of objects with ``data``, ``annotations`` or ``predictions`` is a Label Studio export.
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
ITEM_KEYS = {"data": "label-studio", "annotations": "label-studio", "predictions": "label-studio"}
"""Keys of the objects in a top-level list."""

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"\s*:?|[\[\]{}]')


def sniff_json(head: str) -> str | None:
    """The format the keys in JSON text suggest (the text may be cut short), or None."""
    text = head.lstrip("\ufeff \t\r\n")
    if not text or text[0] not in "{[":
        return None
    top_is_list = text[0] == "["
    depth = 0
    top_key = None
    weak = None
    for m in _TOKEN.finditer(text):
        token = m.group()
        if token in "{[":
            depth += 1
        elif token in "}]":
            depth -= 1
            if depth <= 0:
                break
        elif token.endswith(":"):
            key = token[1 : token.rindex('"')]
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
