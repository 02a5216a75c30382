"""Regenerate ``examples/coco/``: the LabelMe street scenes as a COCO instances file, and two
COCO results files of pretend instance-segmentation models for the scoring demo.

- ``instances.json``: every object of ``examples/labelme`` as a COCO annotation (rectangles
  and circles as polygons; ``__ignore__`` and ``_background_`` shapes left out), categories
  numbered as ``labels.txt`` numbers them.
- ``results_main.json``: a model's detections (the objects with jittered outlines, a few
  dropped, a confidence score each), standing for what the main branch's model predicts.
- ``results.json``: a candidate model, as good on most classes and worse on cars (their
  outlines shrink): the regression the demo's gate catches.

    python examples/make_coco_example.py
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
LABELS = [
    line
    for line in (HERE / "labelme" / "labels.txt").read_text().split("\n")
    if line and line not in ("__ignore__", "_background_")
]
CATEGORIES = [{"id": i + 1, "name": name} for i, name in enumerate(LABELS)]
IDS = {c["name"]: c["id"] for c in CATEGORIES}


def ring(shape: dict) -> list[float]:
    """A LabelMe shape's outline as a flat COCO polygon."""
    pts = np.asarray(shape["points"], float)
    if shape["shape_type"] == "rectangle":
        (x0, y0), (x1, y1) = pts
        pts = np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
    elif shape["shape_type"] == "circle":
        (cx, cy), edge = pts
        r = math.dist((cx, cy), edge)
        t = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        pts = np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)
    return [round(float(v), 2) for v in pts.reshape(-1)]


def detections(objects, rng: np.random.Generator, car_shrink: float, car_miss: float) -> list:
    """Jittered objects; scores rise through each image's objects (plus noise), as a model is
    most confident of the small objects in front, so painting by score stacks them as the
    ground truth does."""
    out = []
    for n, (image_id, label, flat) in enumerate(objects):
        if rng.random() < (car_miss if label == "car" else 0.05):
            continue
        xy = np.asarray(flat).reshape(-1, 2)
        centre = xy.mean(axis=0)
        if label == "car":
            xy = centre + (xy - centre) * car_shrink
        xy = xy + rng.normal(0, 2.0, xy.shape)
        out.append(
            {
                "image_id": image_id,
                "category_id": IDS[label],
                "segmentation": [[round(float(v), 2) for v in xy.reshape(-1)]],
                "score": round(0.3 + 0.69 * n / len(objects) + float(rng.uniform(0, 0.005)), 4),
            }
        )
    return out


def main() -> None:
    images, annotations, objects = [], [], []
    files = sorted((HERE / "labelme").glob("*/*.json"))
    for image_id, path in enumerate(files, 1):
        doc = json.loads(path.read_text())
        name = path.relative_to(HERE / "labelme").with_suffix(".jpg").as_posix()
        images.append(
            {
                "id": image_id,
                "file_name": name,
                "width": doc["imageWidth"],
                "height": doc["imageHeight"],
            }
        )
        for s in doc["shapes"]:
            if s["label"] not in IDS:
                continue
            flat = ring(s)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": IDS[s["label"]],
                    "segmentation": [flat],
                    "iscrowd": 0,
                }
            )
            objects.append((image_id, s["label"], flat))
    out = HERE / "coco"
    out.mkdir(exist_ok=True)
    doc = {"images": images, "annotations": annotations, "categories": CATEGORIES}
    (out / "instances.json").write_text(json.dumps(doc, indent=1) + "\n")
    main_results = detections(objects, np.random.default_rng(1), car_shrink=1.0, car_miss=0.0)
    candidate = detections(objects, np.random.default_rng(2), car_shrink=0.7, car_miss=0.0)
    (out / "results_main.json").write_text(json.dumps(main_results) + "\n")
    (out / "results.json").write_text(json.dumps(candidate) + "\n")


if __name__ == "__main__":
    main()
