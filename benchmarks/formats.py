"""The same synthetic dataset as LabelMe, VIA, CVAT, GeoJSON, COCO and Label Studio: load + burn
time per format, and a check that all give identical masks under the ``center`` convention.

The VIA project, the CVAT file, the COCO file and the Label Studio export hold every image in
one file; GeoJSON is one file per image.
Times are medians over ``--repeat`` runs, in one process (no workers), masks not written.

    python -m benchmarks.formats --images 100 [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.generate import HEIGHT, WIDTH, generate
from polymask.formats import InputFile, load_annotations
from polymask.formats.options import FormatOptions
from polymask.labels import LabelMap
from polymask.raster import burn


def convert(labelme: Path, out: Path) -> dict[str, list[Path]]:
    """Write the LabelMe files as one VIA project, one CVAT file, GeoJSON files, one COCO file
    and one Label Studio export (coordinates in percent of the image size)."""
    via, cvat = {}, ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>"]
    coco = {"images": [], "annotations": [], "categories": []}
    category: dict[str, int] = {}
    tasks = []
    (out / "geojson").mkdir()
    for path in sorted(labelme.glob("*.json")):
        doc = json.loads(path.read_text())
        name = doc["imagePath"]
        regions, features = [], []
        cvat.append(f'  <image name="{name}" width="{WIDTH}" height="{HEIGHT}">')
        for s in doc["shapes"]:
            xs, ys = [p[0] for p in s["points"]], [p[1] for p in s["points"]]
            shape = {"name": "polygon", "all_points_x": xs, "all_points_y": ys}
            regions.append({"shape_attributes": shape, "region_attributes": {"label": s["label"]}})
            points = ";".join(f"{x},{y}" for x, y in s["points"])
            cvat.append(f'    <polygon label="{s["label"]}" points="{points}" z_order="0"/>')
            ring = [*s["points"], s["points"][0]]
            geometry = {"type": "Polygon", "coordinates": [ring]}
            features.append(
                {"type": "Feature", "properties": {"label": s["label"]}, "geometry": geometry}
            )
        cvat.append("  </image>")
        coco["images"].append(
            {"id": len(coco["images"]) + 1, "file_name": name, "width": WIDTH, "height": HEIGHT}
        )
        results = []
        for s in doc["shapes"]:
            cat = category.setdefault(s["label"], len(category) + 1)
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]) + 1,
                    "image_id": len(coco["images"]),
                    "category_id": cat,
                    "iscrowd": 0,
                    "segmentation": [[v for p in s["points"] for v in p]],
                }
            )
            points = [[100 * x / WIDTH, 100 * y / HEIGHT] for x, y in s["points"]]
            results.append(
                {
                    "type": "polygonlabels",
                    "original_width": WIDTH,
                    "original_height": HEIGHT,
                    "value": {"points": points, "polygonlabels": [s["label"]]},
                }
            )
        tasks.append({"data": {"image": name}, "annotations": [{"result": results}]})
        via[f"{name}0"] = {"filename": name, "size": 0, "regions": regions}
        geo = {"type": "FeatureCollection", "features": features}
        (out / "geojson" / f"{path.stem}.geojson").write_text(json.dumps(geo))
    cvat.append("</annotations>")
    (out / "via.json").write_text(json.dumps({"_via_img_metadata": via}))
    (out / "cvat.xml").write_text("\n".join(cvat))
    coco["categories"] = [{"id": i, "name": n} for n, i in category.items()]
    (out / "coco.json").write_text(json.dumps(coco))
    (out / "label-studio.json").write_text(json.dumps(tasks))
    return {
        "labelme": sorted(labelme.glob("*.json")),
        "via": [out / "via.json"],
        "cvat": [out / "cvat.xml"],
        "geojson": sorted((out / "geojson").glob("*.geojson")),
        "coco": [out / "coco.json"],
        "label-studio": [out / "label-studio.json"],
    }


def run(files: list[Path], fmt: str, label_map: LabelMap) -> tuple[float, dict[str, np.ndarray]]:
    """Seconds to load and burn every image, and the class maps by image name."""
    options = FormatOptions(image_size=(WIDTH, HEIGHT))
    masks = {}
    start = time.perf_counter()
    for path in files:
        item = InputFile(path, path.parent)
        for ann in load_annotations(item, fmt, options=options if fmt != "labelme" else None):
            r = burn(ann, label_map, "center")
            masks[Path(ann.key).name.removeprefix("img_")] = r.classes
    return time.perf_counter() - start, masks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        files = convert(generate(out, a.images), out)
        label_map = LabelMap.from_file(out / "labels.txt")
        reference = None
        for fmt, paths in files.items():
            times = []
            for _ in range(a.repeat):
                seconds, masks = run(paths, fmt, label_map)
                times.append(seconds)
            reference = reference or masks
            same = masks.keys() == reference.keys() and all(
                np.array_equal(masks[k], reference[k]) for k in reference
            )
            per_image = 1000 * statistics.median(times) / len(masks)
            note = ""
            if not same and masks.keys() == reference.keys():
                # Label Studio stores percentages: a pixel centre lying exactly on an edge (these
                # coordinates have two decimals) can fall either side after the round trip
                n = sum(int(np.count_nonzero(masks[k] != reference[k])) for k in reference)
                note = f" ({n} of {sum(m.size for m in masks.values())} px differ)"
            print(f"{fmt:12} {per_image:7.1f} ms/image  identical to labelme: {same}{note}")


if __name__ == "__main__":
    main()
