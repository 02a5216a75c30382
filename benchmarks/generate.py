"""A seeded synthetic dataset for benchmarks: LabelMe JSON (and the same set as COCO JSON).

Each image is 1024x768 with 20-40 irregular polygons of 5-200 vertices from 20 classes, painted
in order; some polygons self-intersect and some cross the image edge, as real annotations do.

    python -m benchmarks.generate OUT_DIR --images 100 [--seed 0] [--coco]
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
        {"label": f"class_{int(rng.integers(1, CLASSES + 1)):02}", "points": polygon(rng),
         "group_id": None, "description": "", "shape_type": "polygon", "flags": {}, "mask": None}
        for _ in range(int(rng.integers(20, 41)))
    ]


def labels_text() -> str:
    return "\n".join(["__ignore__", "_background_"] + [f"class_{i:02}" for i in range(1, 21)]) + "\n"


def generate(out: Path, images: int, seed: int = 0, coco: bool = False) -> Path:
    """Write ``images`` LabelMe files (and ``coco.json`` when asked) into ``out/labelme``."""
    rng = np.random.default_rng(seed)
    folder = out / "labelme"
    folder.mkdir(parents=True, exist_ok=True)
    (out / "labels.txt").write_text(labels_text())
    coco_doc = {"images": [], "annotations": [], "categories": [
        {"id": i, "name": f"class_{i:02}"} for i in range(1, CLASSES + 1)]}
    for i in range(images):
        shapes = image_shapes(rng)
        name = f"img_{i:05}"
        doc = {"version": "5.7.0", "flags": {}, "shapes": shapes, "imagePath": f"{name}.jpg",
               "imageData": None, "imageHeight": HEIGHT, "imageWidth": WIDTH}
        (folder / f"{name}.json").write_text(json.dumps(doc))
        if coco:
            coco_doc["images"].append({"id": i + 1, "file_name": f"{name}.jpg",
                                       "width": WIDTH, "height": HEIGHT})
            for s in shapes:
                flat = [v for p in s["points"] for v in p]
                coco_doc["annotations"].append({
                    "id": len(coco_doc["annotations"]) + 1, "image_id": i + 1,
                    "category_id": int(s["label"][-2:]), "segmentation": [flat], "iscrowd": 0,
                    "area": 0.0, "bbox": [0, 0, 0, 0]})
    if coco:
        (out / "coco.json").write_text(json.dumps(coco_doc))
    return folder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--coco", action="store_true")
    a = ap.parse_args()
    generate(a.out, a.images, a.seed, a.coco)


if __name__ == "__main__":
    main()
