"""Small builders shared by tests: LabelMe documents, canonical annotations, and the places in
a JSON document that mutation tests change."""

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


def json_places(doc, prefix=(), whole=frozenset()):
    """(path to a container, key) for every value in a JSON document; the items of a container
    whose key is in ``whole`` are places, but not what is inside them."""
    if isinstance(doc, dict):
        items = doc.items()
    else:
        items = enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield prefix, key
        if prefix[-1:] not in {(name,) for name in whole}:
            yield from json_places(value, (*prefix, key), whole)


def json_container(doc, path):
    """The container at ``path`` (a sequence of keys and indices) in a JSON document."""
    for key in path:
        doc = doc[key]
    return doc


def class_names(label_map) -> list[str]:
    """A label map's class names in id order, background left out."""
    return [n for n in sorted(label_map.ids, key=label_map.ids.__getitem__) if n != "_background_"]


def mutate(doc, data, values) -> None:
    """One to three random changes to a JSON document, in place (hypothesis draws them from
    ``data``): a value anywhere replaced by one drawn from ``values``, or deleted."""
    from hypothesis import strategies as st

    places = list(json_places(doc))
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        path, key = data.draw(st.sampled_from(places), label="place")
        try:
            parent = json_container(doc, path)
            if data.draw(st.booleans(), label="delete"):
                del parent[key]
            else:
                parent[key] = data.draw(values, label="value")
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed or replaced this place
