"""Small builders shared by tests: LabelMe documents and canonical annotations."""

from __future__ import annotations

import json
from pathlib import Path

from polymask.model import ImageAnnotation, Shape


def labelme_shape(label, points, kind="polygon", group=None, **extra):
    return {
        "label": label,
        "points": [list(p) for p in points],
        "group_id": group,
        "shape_type": kind,
        "flags": {},
        **extra,
    }


def labelme_doc(shapes, width=40, height=30, image_path="img.jpg", **extra):
    return {
        "version": "5.7.0",
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
        **extra,
    }


def write_labelme(path: Path, shapes, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(labelme_doc(shapes, **kw), indent=1))
    return path


def annotation(shapes, width=40, height=30) -> ImageAnnotation:
    return ImageAnnotation(
        source="mem.json",
        key="mem",
        width=width,
        height=height,
        shapes=tuple(Shape(where=f"shapes[{i}]", **s) for i, s in enumerate(shapes)),
    )
