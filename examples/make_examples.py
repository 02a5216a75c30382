"""Regenerate the bundled example dataset: synthetic street scenes with LabelMe annotations.

Each scene is drawn from the very polygons that annotate it (plus texture and noise), so the
labels are right by construction. Besides the annotations it writes ``predictions/``: masks of a
pretend model, made by jittering, dropping and relabelling the ground-truth shapes, for the
``polymask score`` demo.

    python examples/make_examples.py     # rewrites examples/labelme and examples/predictions
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent
W, H = 480, 360
LABELS = ["road", "sidewalk", "building", "tree", "car", "person", "sky"]
COLOURS = {
    "sky": (135, 180, 230),
    "road": (80, 80, 85),
    "sidewalk": (170, 160, 150),
    "building": (150, 110, 90),
    "tree": (50, 120, 50),
    "car": (200, 40, 40),
    "person": (230, 190, 150),
    "_background_": (60, 60, 60),
    "__ignore__": (120, 120, 120),
}
SCENES = [
    "day/street_01",
    "day/street_02",
    "day/street_03",
    "dusk/street_04",
    "dusk/street_05",
    "dusk/street_06",
]


def polygon(label, points, group=None):
    return {
        "label": label,
        "points": [[round(x, 2), round(y, 2)] for x, y in points],
        "group_id": group,
        "description": "",
        "shape_type": "polygon",
        "flags": {},
        "mask": None,
    }


def shape(label, kind, points):
    return {**polygon(label, points), "shape_type": kind}


def blob(cx, cy, rx, ry, rng, n=14):
    """An irregular closed outline, like a hand-drawn object boundary."""
    t = np.sort(rng.uniform(0, 2 * math.pi, n))
    r = rng.uniform(0.8, 1.1, n)
    return list(zip(cx + rx * r * np.cos(t), cy + ry * r * np.sin(t), strict=True))


def scene(rng: np.random.Generator, index: int) -> list[dict]:
    horizon = rng.uniform(150, 190)
    shapes = [polygon("sky", [(0, 0), (W, 0), (W, horizon), (0, horizon)])]
    x = 0.0
    while x < W - 40:  # a row of buildings on the horizon; one has an archway (a hole)
        w, h = rng.uniform(60, 120), rng.uniform(60, 140)
        shapes.append(shape("building", "rectangle", [(x, horizon - h), (x + w, horizon + 10)]))
        if index % 2 == 0 and x > 100 and not any(s["label"] == "_background_" for s in shapes):
            a = x + w / 2
            shapes.append(
                polygon(
                    "_background_",
                    [
                        (a - 12, horizon + 10),
                        (a - 12, horizon - 15),
                        (a, horizon - 25),
                        (a + 12, horizon - 15),
                        (a + 12, horizon + 10),
                    ],
                )
            )
        x += w + rng.uniform(0, 15)
    shapes.append(polygon("sidewalk", [(0, horizon + 10), (W, horizon + 10), (W, H), (0, H)]))
    left, right = rng.uniform(150, 200), rng.uniform(280, 330)
    shapes.append(
        polygon("road", [(left, horizon + 10), (right, horizon + 10), (W - 20, H), (20, H)])
    )
    for _ in range(int(rng.integers(1, 3))):  # trees: a circle of leaves over the buildings
        cx = rng.uniform(30, W - 30)
        shapes.append(
            shape("tree", "circle", [(cx, horizon - 20), (cx + rng.uniform(18, 30), horizon - 20)])
        )
    for k in range(int(rng.integers(1, 4))):  # cars overlap the road, later cars in front
        cy = rng.uniform(horizon + 40, H - 30)
        scale = (cy - horizon) / (H - horizon)
        cx = rng.uniform(left + 20, right + 40)
        shapes.append(polygon("car", blob(cx, cy, 60 * scale + 15, 25 * scale + 8, rng), group=k))
    for k in range(int(rng.integers(1, 4))):  # people on the sidewalk; body and head, one group
        cx, cy = (
            rng.choice([rng.uniform(15, left - 10), rng.uniform(right, W - 15)]),
            rng.uniform(horizon + 30, H - 40),
        )
        s = (cy - horizon) / (H - horizon) + 0.4
        shapes.append(
            polygon(
                "person",
                [
                    (cx - 7 * s, cy),
                    (cx + 7 * s, cy),
                    (cx + 5 * s, cy + 45 * s),
                    (cx - 5 * s, cy + 45 * s),
                ],
                group=10 + k,
            )
        )
        shapes.append(shape("person", "circle", [(cx, cy - 6 * s), (cx + 6 * s, cy - 6 * s)]))
        shapes[-1]["group_id"] = 10 + k
    if index % 3 == 1:  # a region the annotator could not decide on
        shapes.append(polygon("__ignore__", blob(W - 60, horizon + 60, 20, 14, rng, n=8)))
    return shapes


def paint(shapes: list[dict], rng: np.random.Generator) -> Image.Image:
    img = Image.new("RGB", (W, H), COLOURS["_background_"])
    draw = ImageDraw.Draw(img)
    for s in shapes:
        pts = [tuple(p) for p in s["points"]]
        colour = tuple(int(c + rng.integers(-20, 20)) for c in COLOURS[s["label"]])
        if s["shape_type"] == "rectangle":
            draw.rectangle(pts, fill=colour)
        elif s["shape_type"] == "circle":
            (cx, cy), (px, py) = pts
            r = math.hypot(px - cx, py - cy)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
        else:
            draw.polygon(pts, fill=colour)
    noise = rng.normal(0, 8, (H, W, 3))
    arr = np.clip(np.asarray(img, dtype=float) + noise, 0, 255).astype(np.uint8)
    return Image.fromarray(arr).filter(ImageFilter.GaussianBlur(0.7))


def predict(shapes: list[dict], rng: np.random.Generator) -> list[dict]:
    """A plausible model's output: boundaries off by a few pixels, a missed object, a confusion."""
    out = []
    for s in shapes:
        if s["label"] in ("__ignore__",):
            continue
        if s["label"] == "person" and rng.random() < 0.3:
            continue  # missed
        label = "sidewalk" if s["label"] == "road" and rng.random() < 0.15 else s["label"]
        jitter = rng.normal(0, 2.5, (len(s["points"]), 2))
        out.append(
            {**s, "label": label, "points": (np.asarray(s["points"]) + jitter).round(2).tolist()}
        )
    return out


def main() -> None:
    from polymask.formats.labelme import LabelMeFile, _to_shape
    from polymask.io.masks import write_png
    from polymask.labels import LabelMap
    from polymask.model import ImageAnnotation
    from polymask.raster import burn

    rng = np.random.default_rng(7)
    ann_dir, pred_dir = HERE / "labelme", HERE / "predictions"
    ann_dir.mkdir(exist_ok=True)
    (ann_dir / "labels.txt").write_text("\n".join(["__ignore__", "_background_", *LABELS]) + "\n")
    label_map = LabelMap.from_names(["_background_", *LABELS])
    for i, key in enumerate(SCENES):
        shapes = scene(rng, i)
        json_path = ann_dir / f"{key}.json"
        json_path.parent.mkdir(parents=True, exist_ok=True)
        paint(shapes, rng).save(json_path.with_suffix(".jpg"), quality=85)
        doc = {
            "version": "5.7.0",
            "flags": {},
            "shapes": shapes,
            "imagePath": f"{Path(key).name}.jpg",
            "imageData": None,
            "imageHeight": H,
            "imageWidth": W,
        }
        json_path.write_text(json.dumps(doc, indent=2) + "\n")
        pred = LabelMeFile.model_validate({**doc, "shapes": predict(shapes, rng)})
        ann = ImageAnnotation(
            source=key,
            key=key,
            width=W,
            height=H,
            shapes=tuple(_to_shape(s, "", key, W, H) for s in pred.shapes),
        )
        write_png(pred_dir / f"{key}.png", burn(ann, label_map, "labelme").classes)


if __name__ == "__main__":
    main()
