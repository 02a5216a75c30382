"""The pycocotools loop that ``benchmarks.coco_scale`` times against ``polymask rasterize``.

What a user writes without polymask: ``COCO(file)`` once, then for each image (in file order) a
class map painted with ``annToMask`` of each of its annotations in file order, the category_id
as the pixel value (later annotations over earlier, crowd regions as their category, as
polymask's COCO defaults do), saved as a palette PNG (VOC colours) at Pillow's default level.
A script of its own, run as a separate process, so its time and peak RSS are its own.

    python benchmarks/coco_peer.py COCO.json OUT_DIR [--images K]

Prints one JSON line on stdout: ``{"images": K, "load_s": ..., "loop_s": ...}`` (pycocotools'
progress messages go to stderr).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools.coco import COCO

from polymask.io.masks import voc_palette  # the palette LabelMe's lblsave uses


def class_map(coco: COCO, image_id: int) -> np.ndarray:
    info = coco.imgs[image_id]
    cls = np.zeros((info["height"], info["width"]), np.uint8)
    for ann in coco.imgToAnns[image_id]:  # file order: createIndex appends as it reads
        cls[coco.annToMask(ann) > 0] = ann["category_id"]
    return cls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("coco", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--images", type=int, help="only the first K images of the file")
    a = ap.parse_args()
    t = time.perf_counter()
    with contextlib.redirect_stdout(sys.stderr):  # it reports its progress on stdout
        coco = COCO(str(a.coco))
    load = time.perf_counter() - t
    a.out.mkdir(parents=True, exist_ok=True)
    palette = voc_palette()
    images = coco.dataset["images"][: a.images]
    t = time.perf_counter()
    for info in images:
        img = Image.fromarray(class_map(coco, info["id"]))
        img.putpalette(palette)
        img.save(a.out / f"{Path(info['file_name']).stem}.png")
    loop = time.perf_counter() - t
    print(json.dumps({"images": len(images), "load_s": load, "loop_s": loop}))


if __name__ == "__main__":
    main()
