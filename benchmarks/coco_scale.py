"""polymask rasterize on one big COCO instances file, against a pycocotools loop, in one run.

A seeded generator writes a COCO instances file of N images (640x480, ``img_000001.jpg``, ...;
no image files): 4-12 annotations an image (8 on average), polygons of 8-40 vertices rounded to
2 decimals, a tenth of them in two parts, one in a hundred a crowd region as an uncompressed RLE
(``iscrowd: 1``); 20 categories with COCO's ids and names, spread over 1..90 with gaps, as
COCO's are. ``area`` and ``bbox`` are what COCO derives from the segmentation (pycocotools'
``maskUtils.area`` and ``maskUtils.toBbox``), so a correct reader warns about none of them. The
file is written as it is generated (100,000 images, ~420 MB, never held in memory) and kept in
``--data`` under its size and seed, for the next run.

Each run is a fresh process under ``/usr/bin/time -v`` (wall time, peak RSS and the CPU time of
the main process) writing into a fresh, empty folder, and rounds alternate between the tools, so
a busy machine slows them alike; the one-minute load average before each run is reported too
(on a shared machine, other users' work takes cores the workers would have had):

- ``polymask rasterize FILE -o OUT -j 1``, then the same with ``-j 2`` (peak RSS is that of the
  largest single process, not the sum over workers; the main process's CPU time is what it did
  itself, indexing the file and sending the work, which the workers wait for or share the cores
  with);
- the pycocotools loop (``benchmarks/coco_peer.py``): ``COCO(file)``, ``annToMask`` per
  annotation painted in file order with its category_id, a palette PNG per image, on the first
  ``--peer-images`` images. Its ms/image counts its start and ``COCO(file)`` once over the whole
  file and its loop per image, so a subset gives the figure the whole file would.

Then, on 20 images spread over those the peer wrote, polymask's masks must equal the peer's
class maps pixel for pixel: compared as category ids where OUT/labels.txt gives each class its
category_id (or is absent), else through OUT/labels.txt by class name; the report says which.
Exits 1 when a polymask run fails or a mask differs.

With ``--results``, a COCO results file is also generated for each instances file, as a
segmentation model writes one (1-4 detections of each annotation, 2.5 on average, scored in
[0.05, 1); its polygons with every vertex moved by up to 2 px, crowd regions as compressed RLE
strings; about 45 MB at 5,000 images), and ``polymask score RESULTS FILE -j 1`` is timed the
same way, its peak RSS set against the results file's size.

    python -m benchmarks.coco_scale [--sizes 5000,100000] [--repeat 1] [--seed 0]
        [--peer-images K]  # pycocotools on the first K images only (default: all)
        [--data DIR]       # generated files, reused by (size, seed) (default: a temporary one)
        [--out DIR]        # where outputs go (/dev/shm: no disk stalls in the timings)
        [--results]        # also time polymask score on a generated results file
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import polymask

WIDTH, HEIGHT = 640, 480
CATEGORIES = {
    1: "person",
    3: "car",
    4: "motorcycle",
    7: "train",
    10: "traffic light",
    13: "stop sign",
    18: "dog",
    21: "cow",
    25: "giraffe",
    28: "umbrella",
    33: "suitcase",
    37: "sports ball",
    44: "bottle",
    50: "spoon",
    52: "banana",
    61: "cake",
    67: "dining table",
    75: "remote",
    84: "book",
    90: "toothbrush",
}
CATEGORY_IDS = tuple(CATEGORIES)
CROWD, TWO_PARTS = 0.01, 0.1
PEER = Path(__file__).with_name("coco_peer.py")
SAMPLE = 20


# --- the COCO file --------------------------------------------------------------------------


def blob(rng: np.random.Generator, scale: float) -> tuple[np.ndarray, tuple[float, ...]]:
    """A star-shaped outline (no self-intersection) of 8-40 vertices, clipped to the image;
    returns the vertices and its ellipse (cx, cy, rx, ry)."""
    k = int(rng.integers(8, 41))
    cx, cy = rng.uniform(0, WIDTH), rng.uniform(0, HEIGHT)
    size, aspect = rng.uniform(8, 100) * scale, rng.uniform(0.5, 2.0)
    rx, ry = size * math.sqrt(aspect), size / math.sqrt(aspect)
    t = (np.arange(k) + rng.uniform(-0.4, 0.4, k)) * (2 * math.pi / k)
    r = rng.uniform(0.7, 1.0, k)
    xs = np.clip(cx + rx * r * np.cos(t), 0, WIDTH)
    ys = np.clip(cy + ry * r * np.sin(t), 0, HEIGHT)
    return np.round(np.stack([xs, ys], 1), 2), (cx, cy, rx, ry)


def agrees(parts: list[np.ndarray], area: float, bbox: list[float]) -> bool:
    """Whether the mask's area and bbox are near the outline's own (shoelace area, vertex
    bounds), as they are for most real annotations: a hair-thin tip or a sliver along the
    image edge covers few pixel centres, and a reader that checks ``bbox`` against the vertices
    would rightly warn about the file."""
    xy = np.concatenate(parts)
    lo, hi = xy.min(0), xy.max(0)
    box = np.array([bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]])
    shoelace = sum(
        abs(float(x[:-1] @ y[1:] - y[:-1] @ x[1:] + x[-1] * y[0] - y[-1] * x[0])) / 2
        for x, y in (p.T for p in parts)
    )
    near_box = np.abs(box - np.concatenate([lo, hi])).max() <= 1.5
    return near_box and abs(area - shoelace) <= max(0.08 * shoelace, 1.5) and area > 0


def disjoint(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether two outlines' ellipses cannot overlap (so COCO's area is the sum of the parts')."""
    return ((a[0] - b[0]) / (a[2] + b[2])) ** 2 + ((a[1] - b[1]) / (a[3] + b[3])) ** 2 > 1


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE: run lengths of the column-major pixels, zeros first."""
    flat = mask.ravel(order="F")
    edges = np.flatnonzero(np.diff(flat)) + 1
    counts = np.diff(np.concatenate([[0], edges, [flat.size]])).tolist()
    if flat[0]:
        counts.insert(0, 0)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def annotation(rng: np.random.Generator, mu) -> dict:
    """One annotation's category, segmentation, area, bbox and iscrowd."""
    cat = CATEGORY_IDS[int(rng.integers(len(CATEGORY_IDS)))]
    if rng.random() < CROWD:
        outline, _ = blob(rng, 2.0)
        rle = mu.frPyObjects([outline.ravel().tolist()], HEIGHT, WIDTH)[0]
        segmentation, crowd = uncompressed_rle(mu.decode(rle)), 1
    else:
        while True:  # outlines whose mask strays from their vertices are drawn again
            outline, ellipse = blob(rng, 1.0)
            parts = [outline]
            if rng.random() < TWO_PARTS:
                for _ in range(10):  # a second part beside the first, not over it
                    second, other = blob(rng, 0.5)
                    if disjoint(ellipse, other):
                        parts.append(second)
                        break
            segmentation, crowd = [p.ravel().tolist() for p in parts], 0
            rle = mu.merge(mu.frPyObjects(segmentation, HEIGHT, WIDTH))
            area, bbox = float(mu.area(rle)), mu.toBbox(rle).tolist()
            if agrees(parts, area, bbox):
                break
    if crowd:
        area, bbox = float(mu.area(rle)), mu.toBbox(rle).tolist()
    return {
        "category_id": cat,
        "segmentation": segmentation,
        "area": area,
        "bbox": bbox,
        "iscrowd": crowd,
    }


def write_coco(path: Path, images: int, seed: int = 0) -> dict[str, int]:
    """Write the COCO file of ``images`` images, annotation by annotation; returns its counts."""
    from pycocotools import mask as mu

    rng = np.random.default_rng(seed)
    counts = {"images": images, "annotations": 0, "polygons": 0, "crowd": 0}
    dump = json.JSONEncoder(separators=(",", ":")).encode
    with path.open("w", encoding="utf-8") as f:
        f.write('{"info":' + dump({"description": f"polymask benchmark, seed {seed}"}))
        f.write(',"licenses":[],"images":[\n')
        for i in range(1, images + 1):
            img = {"id": i, "file_name": f"img_{i:06}.jpg", "width": WIDTH, "height": HEIGHT}
            f.write(("" if i == 1 else ",\n") + dump(img))
        f.write('\n],"annotations":[\n')
        sep = ""
        for image_id in range(1, images + 1):
            for _ in range(int(rng.integers(4, 13))):
                ann = annotation(rng, mu)
                counts["annotations"] += 1
                counts["crowd"] += ann["iscrowd"]
                counts["polygons"] += 0 if ann["iscrowd"] else len(ann["segmentation"])
                f.write(sep + dump({"id": counts["annotations"], "image_id": image_id, **ann}))
                sep = ",\n"
        cats = [{"id": i, "name": n, "supercategory": "thing"} for i, n in CATEGORIES.items()]
        f.write('\n],"categories":' + dump(cats) + "}\n")
    return counts


def coco_file(data: Path, images: int, seed: int) -> tuple[Path, dict[str, int]]:
    """The generated file of ``images`` images and ``seed`` in ``data``, written if absent."""
    path = data / f"coco-{images}-seed{seed}.json"
    meta = path.with_suffix(".counts.json")
    if not (path.exists() and meta.exists()):
        print(f"generating {path} ...", file=sys.stderr)
        data.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".partial-{os.getpid()}")
        counts = write_coco(partial, images, seed)
        partial.replace(path)  # a killed run leaves no file that looks complete
        meta.write_text(json.dumps(counts))
    return path, json.loads(meta.read_text())


def write_results(instances: Path, path: Path, seed: int = 0) -> dict[str, int]:
    """Write a COCO results file for the instances file (see the module docstring), detection
    by detection; returns its counts."""
    from pycocotools import mask as mu

    rng = np.random.default_rng([seed, 1])  # not the instances file's stream
    doc = json.loads(instances.read_text(encoding="utf-8"))
    counts = {"detections": 0, "rle": 0}
    dump = json.JSONEncoder(separators=(",", ":")).encode
    sep = ""
    with path.open("w", encoding="utf-8") as f:
        f.write("[\n")
        for ann in doc["annotations"]:
            for _ in range(int(rng.integers(1, 5))):
                cat = ann["category_id"]
                if rng.random() < 0.1:  # a confusion with another class
                    cat = CATEGORY_IDS[int(rng.integers(len(CATEGORY_IDS)))]
                seg = ann["segmentation"]
                if isinstance(seg, dict):
                    rle = mu.frPyObjects(seg, HEIGHT, WIDTH)
                    box = mu.toBbox(rle).tolist()
                    seg = {"size": [HEIGHT, WIDTH], "counts": rle["counts"].decode("ascii")}
                    counts["rle"] += 1
                else:
                    parts = [np.asarray(p).reshape(-1, 2) for p in seg]
                    moved = [
                        np.round(np.clip(p + rng.uniform(-2, 2, p.shape), 0, (WIDTH, HEIGHT)), 2)
                        for p in parts
                    ]
                    lo, hi = np.concatenate(moved).min(0), np.concatenate(moved).max(0)
                    box = [*lo.tolist(), *np.round(hi - lo, 2).tolist()]
                    seg = [p.ravel().tolist() for p in moved]
                det = {
                    "image_id": ann["image_id"],
                    "category_id": cat,
                    "segmentation": seg,
                    "bbox": box,
                    "score": float(rng.uniform(0.05, 1.0)),
                }
                f.write(sep + dump(det))
                sep = ",\n"
                counts["detections"] += 1
        f.write("\n]\n")
    return counts


def results_file(data: Path, instances: Path, seed: int) -> tuple[Path, dict[str, int]]:
    """The generated results file of the instances file ``instances`` in ``data``, written if
    absent."""
    path = data / f"{instances.stem}-results.json"
    meta = path.with_suffix(".counts.json")
    if not (path.exists() and meta.exists()):
        print(f"generating {path} ...", file=sys.stderr)
        partial = path.with_suffix(f".partial-{os.getpid()}")
        counts = write_results(instances, partial, seed)
        partial.replace(path)
        meta.write_text(json.dumps(counts))
    return path, json.loads(meta.read_text())


# --- timed runs -----------------------------------------------------------------------------


@dataclass
class Run:
    wall_s: float
    rss_mib: float
    rc: int
    log: Path
    cpu_s: float = math.nan
    """User and system time of the process itself (its workers' not counted)."""
    load: float = math.nan
    """The one-minute load average when it started."""


RSS_WRAPPER = (
    "import resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.run(sys.argv[2:], stdout=open(sys.argv[1], 'w'), stderr=subprocess.STDOUT)\n"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(time.perf_counter() - t, u.ru_maxrss, rc.returncode, u.ru_utime + u.ru_stime)\n"
)


def timed(cmd: list[str], log: Path) -> Run:
    """Run ``cmd`` under ``/usr/bin/time -v`` (where there is none, a Python parent that reads
    the same figures), its output to ``log``."""
    load = os.getloadavg()[0]
    if Path("/usr/bin/time").exists():
        report = log.with_suffix(".time")
        with log.open("w") as out:
            rc = subprocess.run(
                ["/usr/bin/time", "-v", "-o", str(report), *cmd], stdout=out, stderr=out
            ).returncode
        text = report.read_text()
        clock = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", text)
        h, m, s = clock.groups()
        wall = int(h or 0) * 3600 + int(m) * 60 + float(s)
        rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
        cpu = sum(map(float, re.findall(r"(?:User|System) time \(seconds\): ([\d.]+)", text)))
        return Run(wall, rss / 1024, rc, log, cpu, load)
    out = subprocess.run(
        [sys.executable, "-c", RSS_WRAPPER, str(log), *cmd], capture_output=True, text=True
    ).stdout.split()
    return Run(float(out[0]), int(out[1]) / 1024, int(out[2]), log, float(out[3]), load)


def polymask_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("polymask")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "polymask"]


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --- the comparison -------------------------------------------------------------------------


def compare(ours: Path, peer: Path, names: list[str]) -> tuple[int, str]:
    """How many of ``names`` polymask wrote equal to the peer's class maps, and how compared."""
    from PIL import Image

    lut, how = None, "directly, pixel values as category ids (no OUT/labels.txt)"
    if (ours / "labels.txt").exists():
        from polymask.labels import BACKGROUND, LabelMap

        try:
            label_map = LabelMap.from_file(ours / "labels.txt")
        except Exception as exc:  # noqa: BLE001 (a format changed under us: say so, go on)
            how = f"directly, pixel values as category ids (OUT/labels.txt unreadable: {exc})"
        else:
            by_name = {n: i for i, n in CATEGORIES.items()} | {BACKGROUND: 0}
            if all(by_name.get(n, i) == i for n, i in label_map.ids.items()):
                how = "directly, pixel values as category ids (OUT/labels.txt gives each its own)"
            else:
                lut = np.arange(max(256, label_map.max_id + 1), dtype=np.int64)
                for n, i in label_map.ids.items():
                    lut[i] = by_name.get(n, -1)  # a class COCO does not have matches nothing
                lut[label_map.ignore_index] = 255
                how = "by class name, polymask's ids mapped to category ids through OUT/labels.txt"
    same, index = 0, None
    for name in names:
        found = ours / f"{name}.png"
        if not found.exists():  # written below a subfolder after all? look once for all
            if index is None:
                index = {p.stem: p for p in ours.rglob("*.png")}
            if name not in index:
                continue
            found = index[name]
        mask = np.asarray(Image.open(found)).astype(np.int64)
        if lut is not None:
            mask = lut[mask]
        same += bool(np.array_equal(mask, np.asarray(Image.open(peer / f"{name}.png"))))
    return same, how


# --- the report -----------------------------------------------------------------------------


@dataclass
class Row:
    tool: str
    workers: int
    images: int
    wall_s: float
    ms_per_image: float
    rss_mib: float
    cpu_s: float
    failed: str = ""


def measure_size(
    file: Path, counts: dict[str, int], repeat: int, peer_images: int | None, tmp: Path
) -> tuple[list[Row], str, bool, list[float]]:
    """Rows of the table for one file, the comparison's line, whether polymask failed, and the
    load averages the runs started at."""
    n = counts["images"]
    k = min(peer_images or n, n)
    runs: dict[str, list[Run]] = {"j1": [], "j2": [], "peer": []}
    loops: list[float] = []
    failed, check = False, "no comparison: polymask failed"
    for rnd in range(repeat):
        out = tmp / f"{file.stem}-round{rnd}"
        for j in (1, 2):
            cmd = [*polymask_cmd(), "rasterize", str(file), "-o", str(out / f"j{j}"), "-j", str(j)]
            (out / "logs").mkdir(parents=True, exist_ok=True)
            run = timed(cmd, out / "logs" / f"polymask-j{j}.log")
            runs[f"j{j}"].append(run)
            if run.rc != 0:
                failed = True
                print(f"polymask -j {j} failed (exit {run.rc}):\n{tail(run.log)}", file=sys.stderr)
        cmd = [sys.executable, str(PEER), str(file), str(out / "peer"), "--images", str(k)]
        run = timed(cmd, out / "logs" / "peer.log")
        if run.rc != 0:
            sys.exit(f"the pycocotools loop failed (exit {run.rc}):\n{tail(run.log)}")
        runs["peer"].append(run)
        loops.append(json.loads(run.log.read_text().splitlines()[-1])["loop_s"])
        if rnd == 0 and runs["j1"][0].rc == 0:
            names = [f"img_{i:06}" for i in np.linspace(1, k, min(SAMPLE, k), dtype=int)]
            same, how = compare(out / "j1", out / "peer", sorted(set(names)))
            total = len(set(names))
            failed |= same != total
            check = f"masks equal to the pycocotools loop's: {same}/{total}, compared {how}"
            warnings = [
                line for line in runs["j1"][0].log.read_text().splitlines() if "warning" in line
            ]
            check += f"; polymask -j 1 printed {len(warnings)} warning line(s)"
            check += "".join(f"\n  {line}" for line in warnings[:3])
        shutil.rmtree(out)

    def row(tool: str, workers: int, key: str, images: int) -> Row:
        wall = statistics.median(r.wall_s for r in runs[key])
        rss = statistics.median(r.rss_mib for r in runs[key])
        cpu = statistics.median(r.cpu_s for r in runs[key])
        bad = [r.rc for r in runs[key] if r.rc != 0]
        if key == "peer":  # fixed costs once over the file, the loop per image
            ms = (wall + statistics.median(loops) * (n / images - 1)) / n * 1000
        else:
            ms = wall / images * 1000
        return Row(tool, workers, images, wall, ms, rss, cpu, f"exit {bad[0]}" if bad else "")

    rows = [
        row("polymask rasterize", 1, "j1", n),
        row("polymask rasterize", 2, "j2", n),
        row("pycocotools loop", 1, "peer", k),
    ]
    loads = [r.load for key in runs for r in runs[key]]
    return rows, check, failed, loads


def measure_score(
    results: Path, instances: Path, repeat: int, tmp: Path
) -> tuple[float, float, bool]:
    """Median wall seconds and peak RSS (MiB) of ``polymask score RESULTS INSTANCES -j 1``
    over ``repeat`` runs, and whether a run failed."""
    runs = []
    for rnd in range(repeat):
        log = tmp / f"score-{results.stem}-{rnd}.log"
        cmd = [*polymask_cmd(), "score", str(results), str(instances), "-j", "1"]
        run = timed([*cmd, "--missing", "zero", "--device", "cpu"], log)
        if run.rc not in (0, 1):
            print(f"polymask score failed (exit {run.rc}):\n{tail(run.log)}", file=sys.stderr)
            return math.nan, math.nan, True
        runs.append(run)
    wall = statistics.median(r.wall_s for r in runs)
    return wall, statistics.median(r.rss_mib for r in runs), False


def print_table(rows: list[Row]) -> None:
    peer = rows[-1].ms_per_image
    print(
        "| tool | workers | images | wall s | ms/image | peak RSS MiB | vs pycocotools "
        "| main process CPU s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ratio = f"failed ({r.failed})" if r.failed else f"{peer / r.ms_per_image:.2f}x"
        print(
            f"| {r.tool} | {r.workers} | {r.images} | {r.wall_s:.2f} | {r.ms_per_image:.2f} "
            f"| {r.rss_mib:.0f} | {ratio} | {r.cpu_s:.2f} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000", help="images in each COCO file, comma-separated")
    ap.add_argument("--repeat", type=int, default=1, help="rounds per size (median over them)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the generated files")
    ap.add_argument(
        "--peer-images",
        type=int,
        help="run the pycocotools loop on the first K images only (default: all); its ms/image "
        "still counts loading the whole file once",
    )
    ap.add_argument("--data", type=Path, help="generated files, reused by size and seed")
    ap.add_argument(
        "--results",
        action="store_true",
        help="also generate a COCO results file of each size and time polymask score on it",
    )
    ap.add_argument(
        "--out",
        type=Path,
        help="where outputs are written (default: the system's temporary folder); a RAM folder "
        "such as /dev/shm keeps a shared disk's stalls out of the comparison",
    )
    a = ap.parse_args()
    sizes = [int(n) for n in a.sizes.split(",") if n]
    if not sizes or min(sizes) < 1 or a.repeat < 1 or (a.peer_images or 1) < 1:
        ap.error("--sizes, --repeat and --peer-images must be positive")
    from benchmarks.rasterize import machine

    # an installed package has its bytecode compiled (pip does it); a source checkout run with
    # PYTHONDONTWRITEBYTECODE set would compile polymask anew in every timed run, a second or
    # so the peer, whose packages are installed, never pays
    compileall.compile_dir(Path(polymask.__file__).parent, quiet=1)
    failed = False
    with tempfile.TemporaryDirectory(dir=a.out) as tmp:
        tmp = Path(tmp)
        files = [coco_file(a.data or tmp / "data", n, a.seed) for n in sizes]
        print(f"\n{machine()}; outputs in {tmp}")
        print(f"polymask: {' '.join(polymask_cmd())} rasterize FILE -o OUT -j 1|2")
        print(f"peer: {sys.executable} {PEER} FILE OUT --images K")
        for (file, counts), n in zip(files, sizes, strict=True):
            rows, check, bad, loads = measure_size(file, counts, a.repeat, a.peer_images, tmp)
            failed |= bad
            mb = file.stat().st_size / 1e6
            print(
                f"\n{n} images of {WIDTH}x{HEIGHT}, {counts['annotations']} annotations "
                f"({counts['polygons']} polygons, {counts['crowd']} crowd RLE), {mb:.1f} MB, "
                f"seed {a.seed}; median of {a.repeat} round(s); load average "
                f"{min(loads):.2f}-{max(loads):.2f} as the runs started"
            )
            print_table(rows)
            if rows[-1].images < n:
                print(
                    f"pycocotools ran on the first {rows[-1].images} images: its ms/image is "
                    f"(wall + loop x ({n}/{rows[-1].images} - 1)) / {n}, start and COCO(file) "
                    "counted once over the whole file"
                )
            print(check)
            if a.results:
                res, found = results_file(a.data or tmp / "data", file, a.seed)
                wall, rss, bad = measure_score(res, file, a.repeat, tmp)
                failed |= bad
                mb = res.stat().st_size / 1e6
                print(
                    f"polymask score {res.name} {file.name} -j 1: {found['detections']} "
                    f"detections ({found['rle']} compressed RLE), {mb:.1f} MB; wall {wall:.2f} s, "
                    f"peak RSS {rss:.0f} MiB ({rss * 1.048576 / mb:.1f}x the file)"
                )
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
