"""Training samples a second: class maps burned on the fly against mask PNGs read from disk.

One synthetic set (``benchmarks.generate``: 1024x768, 20-40 polygons of 5-200 vertices each),
with a JPEG per image; its masks are written once by polymask's rasterizer. Then
``polymask.training.SegmentationDataset`` is timed through a torch ``DataLoader`` (batches of 8,
each image decoded and made a float tensor, as training takes it), three ways in the same run:

- ``burned``: built from the LabelMe files, every class map burned when its sample is drawn
  (no cache: every epoch burns again);
- ``cached``: the same with ``cache`` holding every map, so an epoch after the first hashes each
  LabelMe file and reuses its map;
- ``read``: built from the image folder and the mask folder ``rasterize`` wrote.

Each way runs with 0 and with 2 loader workers (``fork``, persistent): one epoch to start the
workers and fill the caches, then one timed epoch. Rounds alternate between the ways, and the
order they go in, so a busy machine slows them alike; the table gives the median of the rounds.
A last line times the maps alone, in this process: reading and burning an annotation against
decoding its PNG.

    python -m benchmarks.train_data [--images 64] [--repeat 3] [--workers 0,2] [--data DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.generate import generate
from benchmarks.rasterize import machine
from polymask.formats import find_inputs
from polymask.io.masks import read_mask, voc_palette
from polymask.labels import LabelMap
from polymask.rasterize import RasterizeOptions, rasterize_files
from polymask.settings import Settings
from polymask.training import SegmentationDataset
from polymask.training.data import sample_maps

BATCH = 8


def dataset(data: Path | None, tmp: Path, images: int) -> Path:
    """A generated set of at least ``images`` images, with JPEGs beside the annotations and
    masks in ``masks/`` (reused when they are there)."""
    root = data or tmp / "data"
    folder = root / "labelme"
    if len(list(folder.glob("*.json"))) < images:
        print(f"generating {images} images in {root} ...", file=sys.stderr)
        generate(root, images)
    label_map = LabelMap.from_file(root / "labels.txt")
    settings = Settings(workers=1)
    files = find_inputs([folder])
    if len(list(folder.glob("*.jpg"))) < len(files):
        write_images(files, label_map, settings)
    if len(list((root / "masks").glob("*.png"))) < len(files):
        options = RasterizeOptions(root / "masks", label_map, settings)
        for outcome in rasterize_files(files, options):
            if outcome.problems:
                raise RuntimeError("\n".join(map(str, outcome.problems)))
    labels = root / "masks" / "labels.txt"
    if not labels.exists():  # what the command line writes beside the masks
        labels.write_text(label_map.to_text())
    return root


def write_images(files, label_map: LabelMap, settings: Settings) -> None:
    """A JPEG for each annotation: its classes in VOC colours with seeded noise, so the decoder
    works as on a photo of that size rather than on flat colour."""
    from polymask.dataset import read_dataset

    rng = np.random.default_rng(0)
    palette = np.array(voc_palette(), np.uint8).reshape(-1, 3)
    for item in read_dataset(files, settings).items:
        _, (classes,) = sample_maps(item, settings, label_map)
        noise = rng.integers(-24, 25, (*classes.shape, 3))
        pixels = np.clip(palette[classes].astype(np.int16) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(item.source.path.with_suffix(".jpg"), quality=90)


def samples_per_second(data, workers: int) -> float:
    """Samples a second over one epoch, after an untimed one that started the workers."""
    from torch.utils.data import DataLoader

    extra = {"multiprocessing_context": "fork", "persistent_workers": True} if workers else {}
    loader = DataLoader(data, BATCH, num_workers=workers, **extra)
    for _ in loader:
        pass
    start = time.perf_counter()
    n = sum(len(images) for images, _ in loader)
    return n / (time.perf_counter() - start)


def maps_ms(
    burned: SegmentationDataset, masks: Path, images: int, repeat: int
) -> tuple[float, float]:
    """Median ms per image of the maps alone: burned from the annotation, or decoded from PNG."""
    items = burned.items[:images]
    pngs = [masks / f"{item.key}.png" for item in items]
    times: dict[str, list[float]] = {"burn": [], "read": []}
    for _ in range(repeat):
        for item, mask in zip(items, pngs, strict=True):
            t = time.perf_counter()
            sample_maps(item, burned.settings, burned.label_map)
            times["burn"].append(time.perf_counter() - t)
            t = time.perf_counter()
            read_mask(mask)
            times["read"].append(time.perf_counter() - t)
    return tuple(statistics.median(times[k]) * 1000 for k in ("burn", "read"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=64, help="images drawn per round")
    ap.add_argument("--repeat", type=int, default=3, help="rounds (median over them)")
    ap.add_argument("--workers", default="0,2", help="loader workers to time, comma-separated")
    ap.add_argument("--data", type=Path, help="generated set to reuse (made there if too small)")
    a = ap.parse_args()
    from torch.utils.data import Subset

    worker_counts = [int(w) for w in a.workers.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = dataset(a.data, Path(tmp), a.images)
        labelme, labels = root / "labelme", root / "labels.txt"
        burned = SegmentationDataset.from_annotations(labelme, labels, workers=1)
        cached = SegmentationDataset.from_annotations(labelme, labels, workers=1, cache=a.images)
        read = SegmentationDataset.from_folders(labelme, root / "masks")
        first = range(a.images)
        ways = {name: Subset(d, first) for name, d in (("burned", burned), ("cached", cached))}
        ways["read"] = Subset(read, first)
        rates: dict[tuple[str, int], list[float]] = {}
        for round_ in range(a.repeat):
            for workers in worker_counts:
                order = list(ways.items())
                order = order[round_ % len(order) :] + order[: round_ % len(order)]
                for name, data in order:
                    rates.setdefault((name, workers), []).append(samples_per_second(data, workers))
        print(f"\n{machine()}")
        print(
            f"{a.images} images x {a.repeat} rounds, 1024x768, 20-40 polygons each; "
            f"DataLoader batches of {BATCH}, float32 image tensors; images/s, median"
        )
        print("| loader workers | burned | burned, cached | read from PNG | burned / read |")
        print("|---:|---:|---:|---:|---:|")
        for workers in worker_counts:
            b, c, r = (statistics.median(rates[n, workers]) for n in ("burned", "cached", "read"))
            print(f"| {workers} | {b:.1f} | {c:.1f} | {r:.1f} | {b / r:.2f}x |")
        burn_ms, read_ms = maps_ms(burned, root / "masks", a.images, a.repeat)
        print(
            f"\nmaps alone, one process, median per image: burned {burn_ms:.2f} ms "
            f"(reading the LabelMe file included), read from PNG {read_ms:.2f} ms"
        )


if __name__ == "__main__":
    main()
