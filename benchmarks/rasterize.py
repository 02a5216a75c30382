"""polymask rasterize against a LabelMe-style pipeline, measured in the same run.

The peer is what LabelMe's own export does per image: json.load, one full-size Pillow mask per
shape, ``cls[mask] = id``, PNG at Pillow's default level. Both run in one process, one worker,
over the same files; the report gives median ms per image and the ratio.

    python -m benchmarks.rasterize --images 100 [--convention labelme|center] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.generate import generate
from polymask.convert import RasterizeOptions, rasterize_file
from polymask.formats import InputFile
from polymask.labels import LabelMap


def labelme_style(json_path: Path, out_path: Path, ids: dict[str, int]) -> None:
    doc = json.loads(json_path.read_text())
    h, w = doc["imageHeight"], doc["imageWidth"]
    cls = np.zeros((h, w), np.int32)
    for shape in doc["shapes"]:
        mask = Image.fromarray(np.zeros((h, w), np.uint8))
        ImageDraw.Draw(mask).polygon([tuple(p) for p in shape["points"]], outline=1, fill=1)
        cls[np.asarray(mask, bool)] = ids[shape["label"]]
    Image.fromarray(cls.astype(np.uint8), mode="P").save(out_path)


def time_each(fn, items) -> list[float]:
    times = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - t) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--convention", default="labelme", choices=["labelme", "center"])
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = generate(tmp, a.images)
        label_map = LabelMap.from_file(tmp / "labels.txt")
        files = [InputFile(p, folder) for p in sorted(folder.glob("*.json"))]
        peer_out = tmp / "peer"
        peer_out.mkdir()
        ours, peer = [], []
        for r in range(a.repeat):
            opts = RasterizeOptions(out_dir=tmp / f"ours{r}", label_map=label_map,
                                    convention=a.convention)
            ours += time_each(partial(rasterize_file, options=opts), files)
            peer += time_each(lambda f: labelme_style(f.path, peer_out / f"{f.key}.png",
                                                      label_map.ids), files)
        mo, mp = statistics.median(ours), statistics.median(peer)
        print(f"images: {a.images} x {a.repeat}, 1024x768, 20-40 polygons each, one worker")
        print(f"polymask rasterize ({a.convention}): {mo:7.2f} ms/image (median)")
        print(f"LabelMe-style pipeline:            {mp:7.2f} ms/image (median)")
        print(f"ratio: polymask is {mp / mo:.1f}x faster")


if __name__ == "__main__":
    main()
