"""A seeded synthetic dataset for benchmarks: LabelMe JSON (and the same set as COCO JSON).

Each image is 1024x768 with 20-40 irregular polygons of 5-200 vertices from 20 classes, painted
in order; some polygons self-intersect and some cross the image edge, as real annotations do.
With ``--predictions``, a model's output is simulated from the same polygons (vertices jittered,
a tenth of the shapes dropped and a tenth relabelled) and written as class-index PNGs, named as
the annotations, for the scoring benchmark. The annotations do not depend on that flag.

    python -m benchmarks.generate OUT_DIR --images 100 [--seed 0] [--coco] [--predictions]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

WIDTH, HEIGHT, CLASSES = 1024, 768, 20


def polygon(rng: np.random.Generator) -> list[list[float]]:
    n = int(rng.integers(5, 201))
    cx, cy = rng.uniform(-50, WIDTH + 50), rng.uniform(-50, HEIGHT + 50)
    rx, ry = rng.uniform(15, 220), rng.uniform(15, 160)
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    if rng.random() < 0.1:  # a few self-intersecting outlines
        t = rng.permutation(t)
    r = rng.uniform(0.6, 1.0, n)
    xs, ys = cx + rx * r * np.cos(t), cy + ry * r * np.sin(t)
    return np.round(np.stack([xs, ys], 1), 2).tolist()


def image_shapes(rng: np.random.Generator) -> list[dict]:
    return [
        {
            "label": f"class_{int(rng.integers(1, CLASSES + 1)):02}",
            "points": polygon(rng),
            "group_id": None,
            "description": "",
            "shape_type": "polygon",
            "flags": {},
            "mask": None,
        }
        for _ in range(int(rng.integers(20, 41)))
    ]


def predicted_shapes(rng: np.random.Generator, shapes: list[dict]) -> list[dict]:
    """A plausible prediction of ``shapes``: each polygon shifted and its vertices jittered by a
    few pixels; 10% dropped, 10% given another class."""
    out = []
    for s in shapes:
        if rng.random() < 0.1:
            continue
        label = s["label"]
        if rng.random() < 0.1:
            label = f"class_{int(rng.integers(1, CLASSES + 1)):02}"
        pts = np.asarray(s["points"])
        pts = pts + rng.normal(0, 3, 2) + rng.normal(0, 1.5, pts.shape)
        out.append({**s, "label": label, "points": np.round(pts, 2).tolist()})
    return out


def write_prediction(path: Path, shapes: list[dict], label_map) -> None:
    """Rasterize predicted polygons (LabelMe convention) into a class-index PNG."""
    from polymask.io.masks import write_png
    from polymask.model import ImageAnnotation, Shape
    from polymask.raster import burn

    ann = ImageAnnotation(
        source=str(path),
        key=path.stem,
        width=WIDTH,
        height=HEIGHT,
        shapes=tuple(
            Shape(label=s["label"], kind="polygon", points=tuple(map(tuple, s["points"])))
            for s in shapes
        ),
    )
    write_png(path, burn(ann, label_map, "labelme").classes)


def bounding_box(points: list[list[float]]) -> list[float]:
    """COCO's ``bbox`` of a polygon: [x, y, width, height] of its vertices' bounds."""
    xy = np.asarray(points)
    (x0, y0), (x1, y1) = xy.min(0), xy.max(0)
    return [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)]


def polygon_area(points: list[list[float]]) -> float:
    """COCO's ``area`` of a polygon, by the shoelace formula (as its bbox, derived from it)."""
    x, y = np.asarray(points).T
    return round(abs(float(x @ np.roll(y, -1) - y @ np.roll(x, -1))) / 2, 2)


def labels_text() -> str:
    names = ["__ignore__", "_background_"] + [f"class_{i:02}" for i in range(1, CLASSES + 1)]
    return "\n".join(names) + "\n"


def generate(
    out: Path, images: int, seed: int = 0, coco: bool = False, predictions: bool = False
) -> Path:
    """Write ``images`` LabelMe files into ``out/labelme``; when asked, ``out/coco.json`` and
    prediction masks in ``out/predictions``. Returns the LabelMe folder."""
    from polymask.labels import LabelMap

    rng = np.random.default_rng(seed)
    pred_rng = np.random.default_rng([seed, 1])  # its own stream: annotations stay the same
    folder = out / "labelme"
    folder.mkdir(parents=True, exist_ok=True)
    (out / "labels.txt").write_text(labels_text())
    label_map = LabelMap.from_file(out / "labels.txt")
    coco_doc = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i, "name": f"class_{i:02}"} for i in range(1, CLASSES + 1)],
    }
    for i in range(images):
        shapes = image_shapes(rng)
        name = f"img_{i:05}"
        doc = {
            "version": "5.7.0",
            "flags": {},
            "shapes": shapes,
            "imagePath": f"{name}.jpg",
            "imageData": None,
            "imageHeight": HEIGHT,
            "imageWidth": WIDTH,
        }
        (folder / f"{name}.json").write_text(json.dumps(doc))
        if predictions:
            pred = predicted_shapes(pred_rng, shapes)
            write_prediction(out / "predictions" / f"{name}.png", pred, label_map)
        if coco:
            coco_doc["images"].append(
                {"id": i + 1, "file_name": f"{name}.jpg", "width": WIDTH, "height": HEIGHT}
            )
            for s in shapes:
                flat = [v for p in s["points"] for v in p]
                coco_doc["annotations"].append(
                    {
                        "id": len(coco_doc["annotations"]) + 1,
                        "image_id": i + 1,
                        "category_id": int(s["label"][-2:]),
                        "segmentation": [flat],
                        "iscrowd": 0,
                        "area": polygon_area(s["points"]),
                        "bbox": bounding_box(s["points"]),
                    }
                )
    if coco:
        (out / "coco.json").write_text(json.dumps(coco_doc))
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--coco", action="store_true", help="also write the set as out/coco.json")
    ap.add_argument(
        "--predictions",
        action="store_true",
        help="also write simulated prediction masks into out/predictions",
    )
    a = ap.parse_args()
    generate(a.out, a.images, a.seed, a.coco, a.predictions)


if __name__ == "__main__":
    main()
