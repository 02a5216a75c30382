"""polymask rasterize against what users would otherwise run, measured in the same run.

Peers, over the same synthetic set (``benchmarks.generate``), one worker, one process:

- LabelMe-style: what LabelMe's own export does per image: json.load, one full-size Pillow mask
  per shape, ``cls[mask] = id``, PNG at Pillow's default level.
- pycocotools (when installed) on the COCO version of the set: ``COCO(file)`` once, then
  ``annToMask`` per annotation, ``cls[mask > 0] = id``, PNG at Pillow's default level. Where
  polymask reads COCO files, it is timed on that file too (the ``coco`` convention).

Rounds alternate between polymask and the peers, so a busy machine slows them alike: the ratios
mean more than the milliseconds. Each round writes new files into folders of its own, as a first
run does. Then the throughput of 2 workers against 1, and the peak RSS of ``polymask rasterize``
(a child process, one worker) at two dataset sizes.

    python -m benchmarks.rasterize --images 100 [--repeat 3] [--workers 2] [--rss 100,2000]
        [--data DIR]  # a set made by benchmarks.generate --coco, reused (made there if absent)
        [--out DIR]   # where outputs go (/dev/shm: no disk stalls in the timings)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.generate import generate
from polymask import raster
from polymask.dataset import Item
from polymask.formats import MODULES, InputFile
from polymask.io.masks import read_mask, voc_palette
from polymask.labels import LabelMap
from polymask.rasterize import RasterizeOptions, rasterize_files, rasterize_item
from polymask.settings import Settings

CONVENTIONS = tuple(c for c in ("labelme", "center", "coco") if c in raster.CONVENTIONS)


def labelme_style(json_path: Path, out_path: Path, ids: dict[str, int]) -> None:
    doc = json.loads(json_path.read_text())
    h, w = doc["imageHeight"], doc["imageWidth"]
    cls = np.zeros((h, w), np.int32)
    for shape in doc["shapes"]:
        mask = Image.fromarray(np.zeros((h, w), np.uint8))
        ImageDraw.Draw(mask).polygon([tuple(p) for p in shape["points"]], outline=1, fill=1)
        cls[np.asarray(mask, bool)] = ids[shape["label"]]
    save_palette_png(cls.astype(np.uint8), out_path)


def save_palette_png(labels: np.ndarray, out_path: Path) -> None:
    """As LabelMe's ``lblsave``: a palette PNG (VOC colours) at Pillow's default settings."""
    img = Image.fromarray(labels)
    img.putpalette(voc_palette())
    img.save(out_path)


def cocotools_style(coco, image_id: int, out_path: Path, ids: dict[str, int]) -> None:
    info = coco.imgs[image_id]
    cls = np.zeros((info["height"], info["width"]), np.uint8)
    for ann in coco.imgToAnns[image_id]:
        cls[coco.annToMask(ann) > 0] = ids[coco.cats[ann["category_id"]]["name"]]
    save_palette_png(cls, out_path)


def time_each(fn, items) -> list[float]:
    times = []
    for item in items:
        t = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - t) * 1000)
    return times


def dataset(data: Path | None, tmp: Path, images: int) -> Path:
    """The root of a generated set with at least ``images`` images (reused when it has them)."""
    root = data or tmp / "data"
    if len(list((root / "labelme").glob("*.json"))) < images or not (root / "coco.json").exists():
        print(f"generating {images} images in {root} ...", file=sys.stderr)
        generate(root, images, coco=True)
    return root


def per_image(
    root: Path, images: int, repeat: int, tmp: Path, conventions: tuple[str, ...] = CONVENTIONS
) -> list[tuple[str, float]]:
    """Median ms per image for polymask in each convention and for each peer."""
    folder = root / "labelme"
    label_map = LabelMap.from_file(root / "labels.txt")
    files = [InputFile(p, folder) for p in sorted(folder.glob("*.json"))[:images]]
    coco_file = coco_subset(root / "coco.json", {f.key for f in files}, tmp)
    coco = load_coco(coco_file)
    times: dict[str, list[float]] = {}
    for n in range(repeat):
        # every round writes new files, as a first run does: replacing files written a moment
        # ago makes the file system flush them first, which times the disk, not the programs
        out = tmp / f"round-{n}"
        peer_out = out / "peers"
        peer_out.mkdir(parents=True)
        if "coco" in MODULES:  # one file holds every image: its time is shared out evenly
            opts = RasterizeOptions(
                out_dir=out / "ours-coco",
                label_map=label_map,
                force=True,
                settings=Settings(fmt="coco"),
            )
            t = time.perf_counter()
            for _ in rasterize_files([InputFile(coco_file, tmp)], opts):
                pass
            ms = (time.perf_counter() - t) * 1000 / len(files)
            times.setdefault("polymask (coco, on the COCO file)", []).append(ms)
        for conv in conventions:
            opts = RasterizeOptions(
                out_dir=out / f"ours-{conv}",
                label_map=label_map,
                settings=Settings(convention=conv),
                force=True,
            )
            times.setdefault(f"polymask ({conv})", []).extend(
                time_each(lambda f, o=opts: rasterize_item(one_image(f), o), files)
            )
        times.setdefault("LabelMe-style", []).extend(
            time_each(
                lambda f, d=peer_out: labelme_style(f.path, d / f"{f.key}.png", label_map.ids),
                files,
            )
        )
        if coco is not None:
            times.setdefault("pycocotools", []).extend(
                time_each(
                    lambda i, d=peer_out: cocotools_style(
                        coco, i, d / f"coco-{i}.png", label_map.ids
                    ),
                    sorted(coco.imgs),
                )
            )
    last = conventions[-1]
    rerun = RasterizeOptions(
        out_dir=out / f"ours-{last}", label_map=label_map, settings=Settings(convention=last)
    )
    times["polymask, rerun on unchanged files"] = time_each(
        lambda f: rasterize_item(one_image(f), rerun), files
    )
    if "labelme" in conventions:
        same = sum(
            np.array_equal(
                read_mask(out / "ours-labelme" / f"{f.key}.png"),
                read_mask(peer_out / f"{f.key}.png"),
            )
            for f in files
        )
        print(
            f"labelme convention masks identical to the LabelMe-style peer's: {same}/{len(files)}"
        )
    return [(name, statistics.median(t)) for name, t in times.items()]


def one_image(file: InputFile) -> Item:
    """The item of a LabelMe file, as the dataset index makes it (its key is its path)."""
    return Item(file.key, file, "labelme")


def coco_subset(path: Path, keys: set[str], tmp: Path) -> Path:
    """The COCO file cut to the images benchmarked, written into ``tmp``."""
    doc = json.loads(path.read_text())
    doc["images"] = [i for i in doc["images"] if Path(i["file_name"]).stem in keys]
    kept = {i["id"] for i in doc["images"]}
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in kept]
    out = tmp / "coco.json"
    out.write_text(json.dumps(doc))
    return out


def load_coco(path: Path):
    """pycocotools' index of a COCO file; None where pycocotools is not installed."""
    try:
        from pycocotools.coco import COCO
    except ImportError:
        print("pycocotools is not installed: no COCO peer", file=sys.stderr)
        return None
    coco = COCO()
    coco.dataset = json.loads(path.read_text())
    with contextlib.redirect_stdout(sys.stderr):  # it reports its progress on stdout
        coco.createIndex()
    return coco


def throughput(root: Path, images: int, tmp: Path, workers: int) -> tuple[float, float]:
    """Images per second of ``rasterize_files`` with ``workers`` processes: over the whole run,
    and after the first tenth of the results, when every worker has started and imported what
    it needs (as through most of a large dataset)."""
    folder = root / "labelme"
    files = [InputFile(p, folder) for p in sorted(folder.glob("*.json"))[:images]]
    opts = RasterizeOptions(
        out_dir=tmp / f"workers-{workers}",
        label_map=LabelMap.from_file(root / "labels.txt"),
        settings=Settings(workers=workers),
        force=True,
    )
    warm = max(len(files) // 10, 1)
    start = time.perf_counter()
    for n, _ in enumerate(rasterize_files(files, opts), 1):
        if n == warm:
            warmed = time.perf_counter()
    end = time.perf_counter()
    return len(files) / (end - start), (len(files) - warm) / max(end - warmed, 1e-9)


PEAK_RSS = (
    "import resource, subprocess, sys\n"
    "quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
    "subprocess.run(sys.argv[1:], check=True, **quiet)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def peak_rss_mib(root: Path, images: int, tmp: Path) -> float:
    """Peak RSS of ``polymask rasterize -j 1`` over the first ``images`` files, in a fresh child."""
    files = sorted((root / "labelme").glob("*.json"))[:images]
    cmd = [
        sys.executable,
        "-m",
        "polymask",
        "rasterize",
        *map(str, files),
        "-o",
        str(tmp / f"rss-{images}"),
        "--labels",
        str(root / "labels.txt"),
        "-j",
        "1",
        "--force",
    ]
    out = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *cmd], check=True, text=True, capture_output=True
    ).stdout
    return int(out) / 1024  # ru_maxrss is in KiB on Linux


def machine() -> str:
    """CPU model, core count and Python version, for the results table."""
    cpu = platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def deflate_name() -> str:
    from polymask.io.png import DEFLATE

    if DEFLATE.__name__ == "zlib":
        return f"zlib {DEFLATE.ZLIB_RUNTIME_VERSION} (install polymask[fast] for zlib-ng)"
    return f"zlib-ng {getattr(DEFLATE, 'ZLIBNG_VERSION', '')}".strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100, help="images timed per round")
    ap.add_argument("--repeat", type=int, default=3, help="rounds (median over all)")
    ap.add_argument(
        "--convention",
        action="append",
        choices=CONVENTIONS,
        help="time polymask in this convention (repeatable; default: all)",
    )
    ap.add_argument("--workers", type=int, default=2, help="compare this many workers with 1")
    ap.add_argument(
        "--throughput-images",
        type=int,
        default=1000,
        help="images for the 1 vs N workers comparison",
    )
    ap.add_argument(
        "--rss", default="100,2000", help="dataset sizes for peak RSS, comma-separated ('' to skip)"
    )
    ap.add_argument("--data", type=Path, help="generated set to reuse (made here if too small)")
    ap.add_argument(
        "--out",
        type=Path,
        help="where outputs are written (default: the system's temporary folder); a RAM folder "
        "such as /dev/shm keeps a shared disk's stalls out of the comparison",
    )
    a = ap.parse_args()
    rss_sizes = [int(n) for n in a.rss.split(",") if n]
    with tempfile.TemporaryDirectory(dir=a.out) as tmp:
        tmp = Path(tmp)
        root = dataset(a.data, tmp, max([a.images, a.throughput_images, *rss_sizes]))
        rows = per_image(root, a.images, a.repeat, tmp, tuple(a.convention or CONVENTIONS))
        peers = {name: ms for name, ms in rows if not name.startswith("polymask")}
        print(f"\n{machine()}; PNG deflate: {deflate_name()}; outputs in {tmp}")
        print(f"{a.images} images x {a.repeat} rounds, 1024x768, 20-40 polygons each, one worker")
        print("| pipeline | ms/image (median) | " + " | ".join(f"vs {p}" for p in peers) + " |")
        print("|---|---:|" + "---:|" * len(peers))
        for name, ms in rows:
            ratios = " | ".join(f"{p_ms / ms:.1f}x" for p_ms in peers.values())
            print(f"| {name} | {ms:.2f} | {ratios} |")
        n = max(a.images, a.throughput_images)
        (one, one_run), (many, many_run) = (throughput(root, n, tmp, w) for w in (1, a.workers))
        print(
            f"\nthroughput over {n} images, labelme convention, after the first tenth: "
            f"1 worker {one_run:.0f} images/s, {a.workers} workers {many_run:.0f} images/s "
            f"({many_run / one_run:.2f}x); over the whole run, pool start included: "
            f"{one:.0f} and {many:.0f} images/s ({many / one:.2f}x)"
        )
        if rss_sizes:
            rss = {n: peak_rss_mib(root, n, tmp) for n in rss_sizes}
            base = rss[rss_sizes[0]]
            print(
                "peak RSS of polymask rasterize -j 1: "
                + ", ".join(
                    f"{n} images {mib:.0f} MiB ({mib / base - 1:+.0%})" for n, mib in rss.items()
                )
            )


if __name__ == "__main__":
    main()
