"""Telling an annotation file's format from its first bytes, without parsing it.

Only the head of the file (1 MiB) is scanned, with a tokenizer that sees strings and brackets
and nothing else: the keys of the top-level object (or of the objects in a top-level list) are
enough to tell the JSON formats apart, and a large file is parsed once, by its loader.
"""

from __future__ import annotations

import re
from pathlib import Path

from polymask.errors import AnnotationError, Problem

HEAD = 1 << 20
TOP_KEYS = {"shapes": "labelme", "images": "coco", "categories": "coco", "data": "label-studio"}
"""A top-level key that settles the format as soon as it is seen."""
WEAK_TOP_KEYS = {"annotations": "coco", "imagePath": "labelme"}
"""Keys that suggest a format when nothing settles it within the head."""
ITEM_KEYS = {"data": "label-studio", "annotations": "label-studio", "predictions": "label-studio"}
"""Keys of the objects in a top-level list."""

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"\s*:?|[\[\]{}]')


def detect(path: Path) -> str:
    """The format name of ``path``; :class:`AnnotationError` when it cannot be told."""
    file = str(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(HEAD).decode("utf-8-sig", errors="replace")
    except OSError as exc:
        problem = Problem(file, f"cannot read: {exc.strerror}", code="PM002")
        raise AnnotationError([problem]) from None
    text = head.lstrip()
    if not text:
        raise AnnotationError([Problem(file, "empty file", code="PM001")])
    fmt = sniff_json(text)
    if fmt is None:
        what = "an object" if text[0] == "{" else "a list" if text[0] == "[" else repr(text[:20])
        raise AnnotationError([Problem(
            file, f"cannot tell the annotation format (the file starts with {what} without the "
            "keys of LabelMe, COCO or Label Studio); name it with --format", code="PM003")])
    return fmt


def sniff_json(text: str) -> str | None:
    """The format suggested by the keys in JSON text (which may be cut short), or None."""
    if text[0] not in "{[":
        return None
    top_is_list = text[0] == "["
    depth = 0
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
            if top_is_list and depth == 2 and key in ITEM_KEYS:
                return ITEM_KEYS[key]
            if not top_is_list and depth == 1:
                if key in TOP_KEYS:
                    return TOP_KEYS[key]
                weak = weak or WEAK_TOP_KEYS.get(key)
    return weak
