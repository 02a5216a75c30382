"""``polymask score`` end to end, as a user runs it, against nnU-Net's and MONAI's loops.

Every run is a fresh process timed from its start to its exit, so the interpreter's start,
the imports and a worker pool's start count as much as the scoring itself: what a CI gate on
50 masks pays. On folders of N pairs of 1024x768 masks with 20 classes (the generator of
``benchmarks.score_speed``: blocky regions, predictions off near the edges and in blobs, 1%
ignore pixels), each round runs, in turn:

- ``polymask score PRED GT`` (default workers) and ``polymask score PRED GT -j 1``;
- ``python -m benchmarks.score_peers nnunet PRED GT``: nnU-Net's ``compute_metrics`` per case,
  transcribed (its module cannot be imported without SimpleITK, nibabel and others);
- ``python -m benchmarks.score_peers monai PRED GT``: MONAI's ``DiceMetric`` per pair, when
  MONAI is installed (``pip install monai --no-deps``: it needs only torch and numpy).

Before any time is reported, the figures of a ``polymask score --json --csv`` run are checked
against each peer's: nnU-Net's TP, FP and FN per class and its per-class mean over cases of
Dice; MONAI's per-class Dice (its mean over the images whose ground truth has the class,
computed from polymask's per-image counts in the CSV). A peer that disagrees ends the run with
exit 1. Generating the masks is not timed; they are kept in ``--data`` by size and seed for the
next run.

    python -m benchmarks.score_e2e [--sizes 50,2000] [--repeat 3,1] [--seed 0] [--data DIR]
"""

from __future__ import annotations

import argparse
import compileall
import csv
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polymask
from benchmarks.coco_scale import polymask_cmd, tail
from benchmarks.rasterize import machine
from benchmarks.score_speed import CLASSES, H, W, write_dataset

ROOT = Path(__file__).resolve().parent.parent
IGNORE = 255
DICE_TOL = {"nnunet": 1e-9, "monai": 1e-5}
"""How far a peer's Dice may be from polymask's: rounding only (MONAI computes in float32)."""
TOOLS = ("polymask", "polymask -j1", "nnunet", "monai")


def dataset(data: Path, n: int, seed: int) -> Path:
    """The folder of ``n`` generated pairs (``gt/``, ``pred/``), written if absent."""
    root = data / f"score-{n}-seed{seed}"
    if not (root / "complete").exists():
        print(f"generating {n} pairs in {root} ...", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)  # a run killed while writing starts over
        write_dataset(root, n, seed)
        (root / "complete").touch()
    return root


def commands(root: Path, result: Path) -> dict[str, list[str]]:
    pred, gt = str(root / "pred"), str(root / "gt")
    peer = [sys.executable, "-m", "benchmarks.score_peers"]
    opts = ["--classes", str(CLASSES), "--ignore-index", str(IGNORE)]
    return {
        "polymask": [*polymask_cmd(), "score", pred, gt],
        "polymask -j1": [*polymask_cmd(), "score", pred, gt, "-j", "1"],
        "nnunet": [*peer, "nnunet", pred, gt, "--out", str(result / "nnunet.json"), *opts],
        "monai": [*peer, "monai", pred, gt, "--out", str(result / "monai.json"), *opts],
    }


def timed(cmd: list[str], log: Path) -> float:
    """Seconds from the start of ``cmd`` to its exit; its output goes to ``log``. Exits the
    benchmark with the log's end when it fails."""
    with log.open("w") as out:
        start = time.perf_counter()
        rc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
        wall = time.perf_counter() - start
    if rc != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {rc}):\n{tail(log)}")
    return wall


# --- agreement ------------------------------------------------------------------------------


def _close(ours: float | None, theirs: float | None, tol: float) -> bool:
    if ours is None or theirs is None:
        return ours is None and theirs is None
    return abs(ours - theirs) <= tol


@dataclass
class Ours:
    """polymask's figures: its JSON report, and per class the (TP, FP, FN) of each image from
    its CSV (one row per image and class)."""

    report: dict
    counts: dict[int, list[tuple[int, int, int]]]

    @classmethod
    def read(cls, json_file: Path, csv_file: Path) -> Ours:
        counts: dict[int, list[tuple[int, int, int]]] = {}
        with csv_file.open(newline="") as f:
            for row in csv.DictReader(f):
                image = (int(row["tp"]), int(row["fp"]), int(row["fn"]))
                counts.setdefault(int(row["class_id"]), []).append(image)
        return cls(json.loads(json_file.read_text()), counts)


def nnunet_disagreements(ours: Ours, peer: dict) -> list[str]:
    """Where nnU-Net's loop and polymask's report differ: per foreground class, TP, FP and FN
    over all pairs, and the mean over pairs of the defined Dice values."""
    classes = {c["id"]: c for c in ours.report["classes"]}
    found = []
    for i, label in enumerate(peer["labels"]):
        c = classes.get(label)
        if c is None:
            found.append(f"class {label}: not in polymask's report")
            continue
        for key in ("tp", "fp", "fn"):
            if c[key] != peer[key][i]:
                found.append(f"class {label}: {key} {c[key]} (polymask) != {peer[key][i]}")
        dice = c["metrics"]["mean-per-image"]["dice"]
        if not _close(dice, peer["dice"][i], DICE_TOL["nnunet"]):
            found.append(f"class {label}: mean Dice {dice} (polymask) != {peer['dice'][i]}")
    return found


def monai_dice(images: list[tuple[int, int, int]]) -> float:
    """MONAI's ``mean_batch`` Dice of a class from its (TP, FP, FN) in each image: the mean over
    the images whose ground truth has the class (its ``ignore_empty``), 0 when none has it."""
    values = [2 * tp / (2 * tp + fp + fn) for tp, fp, fn in images if tp + fn > 0]
    return sum(values) / len(values) if values else 0.0


def monai_disagreements(ours: Ours, peer: dict) -> list[str]:
    found = []
    for label, theirs in zip(peer["labels"], peer["dice"], strict=True):
        images = ours.counts.get(label, [])
        if len(images) != ours.report["images_scored"]:
            found.append(f"class {label}: {len(images)} images in polymask's CSV")
            continue
        dice = monai_dice(images)
        if not _close(dice, theirs, DICE_TOL["monai"]):
            found.append(f"class {label}: Dice {dice} (from polymask's counts) != {theirs}")
    return found


CHECKS = {"nnunet": nnunet_disagreements, "monai": monai_disagreements}


# --- the run --------------------------------------------------------------------------------


def measure(root: Path, n: int, repeat: int, tools: tuple[str, ...], tmp: Path) -> dict:
    """Median seconds of each tool over ``repeat`` rounds, after the agreement checks."""
    out = tmp / f"run-{n}"
    out.mkdir()
    cmds = commands(root, out)
    files = [out / "polymask.json", out / "polymask.csv"]
    timed(
        [*cmds["polymask -j1"], "--json", str(files[0]), "--csv", str(files[1])], out / "check.log"
    )
    ours = Ours.read(*files)
    if ours.report["images_scored"] != n or ours.report["problems"]:
        scored, problems = ours.report["images_scored"], ours.report["problems"]
        sys.exit(f"polymask scored {scored} of {n} pairs: {problems}")
    times: dict[str, list[float]] = {t: [] for t in tools}
    for rnd in range(repeat):
        for tool in tools:  # in turn, so a busy machine slows every tool alike
            times[tool].append(timed(cmds[tool], out / f"{tool.replace(' ', '')}-{rnd}.log"))
            if rnd == 0 and tool in CHECKS:
                found = CHECKS[tool](ours, json.loads((out / f"{tool}.json").read_text()))
                if found:
                    sys.exit(
                        f"{tool} disagrees with polymask on {n} pairs:\n  " + "\n  ".join(found)
                    )
    return {t: statistics.median(v) for t, v in times.items()}


def ratio(peer: float | None, ours: float) -> str:
    return "—" if peer is None else f"{peer / ours:.1f}x"


def print_table(rows: list[tuple[int, dict]]) -> None:
    print(
        "| pairs | polymask (s) | polymask -j1 (s) | nnU-Net loop (s) | MONAI (s) "
        "| nnU-Net loop ÷ polymask (-j1) | MONAI ÷ polymask (-j1) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, t in rows:
        ours, one = t["polymask"], t["polymask -j1"]
        nn, mo = t["nnunet"], t.get("monai")
        print(
            f"| {n} | {ours:.2f} | {one:.2f} | {nn:.2f} | "
            f"{'not installed' if mo is None else f'{mo:.2f}'} "
            f"| {ratio(nn, ours)} ({ratio(nn, one)}) | {ratio(mo, ours)} ({ratio(mo, one)}) |"
        )


def startup(repeat: int) -> tuple[float, float]:
    """Median seconds of ``python -c pass`` and of ``polymask score --help``."""
    bare, helped = [], []
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "log"
        for _ in range(max(repeat, 5)):
            bare.append(timed([sys.executable, "-c", "pass"], log))
            helped.append(timed([*polymask_cmd(), "score", "--help"], log))
    return statistics.median(bare), statistics.median(helped)


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="50,2000", help="pairs in each folder, comma-separated")
    ap.add_argument(
        "--repeat",
        default="3",
        help="rounds per size (median over them), comma-separated to match --sizes, or one for all",
    )
    ap.add_argument("--seed", type=int, default=0, help="seed of the generated masks")
    ap.add_argument("--data", type=Path, help="generated masks, reused by size and seed")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",") if s]
    repeats = [int(r) for r in a.repeat.split(",") if r]
    if len(repeats) == 1:
        repeats *= len(sizes)
    if not sizes or len(repeats) != len(sizes) or min(sizes + repeats) < 1:
        ap.error("--sizes and --repeat: positive numbers, one repeat or one per size")
    monai = importlib.util.find_spec("monai") is not None
    tools = TOOLS if monai else TOOLS[:-1]
    # an installed package has its bytecode compiled; a source checkout run with
    # PYTHONDONTWRITEBYTECODE set would compile polymask anew in every timed run
    compileall.compile_dir(Path(polymask.__file__).parent, quiet=1)
    compileall.compile_dir(ROOT / "benchmarks", quiet=1)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        roots = [dataset(a.data or tmp / "data", n, a.seed) for n in sizes]
        before = load()
        bare, helped = startup(max(repeats))
        rows = [
            (n, measure(root, n, r, tools, tmp))
            for root, n, r in zip(roots, sizes, repeats, strict=True)
        ]
        after = load()
    print(f"\n{machine()}; load average (1, 5, 15 min) {before} before, {after} after")
    print(
        f"{W}x{H} masks, {CLASSES} classes, 1% ignore pixels, seed {a.seed}; median of "
        f"{', '.join(f'{r} round(s) at {n}' for n, r in zip(sizes, repeats, strict=True))}; "
        "each run a fresh process, start-up included"
    )
    print(f"polymask: {' '.join(polymask_cmd())} score PRED GT [-j 1]")
    print(f"peers: {sys.executable} -m benchmarks.score_peers nnunet|monai PRED GT")
    print(f"start-up: python -c pass {bare:.2f} s, polymask score --help {helped:.2f} s\n")
    print_table(rows)
    print(
        "\nchecked first: polymask's TP, FP, FN and mean-per-image Dice per class equal the "
        "nnU-Net loop's"
        + (", and its per-image counts give MONAI's per-class Dice" if monai else "")
        + f" (at {', '.join(map(str, sizes))} pairs)"
    )
    if not monai:
        print("MONAI: not installed (pip install monai --no-deps: it needs only torch and numpy)")


if __name__ == "__main__":
    main()
