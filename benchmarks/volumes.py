"""Scoring 3-D label volumes: polymask's surface distances and Dice against their peers.

Generates ``--pairs`` (ground truth, prediction) volumes of ``--size`` voxels (default 20 of
256x256x128, spacing 0.8 x 0.8 x 2.5 mm) holding ``--classes`` - 1 organs: wobbly ellipsoids of
random size and place, the prediction's each a little moved, scaled and deformed, plus a small
stray blob (so HD and HD95 differ). Files are written as ``.nii.gz`` (or ``.npy``) into ``gt/``
and ``pred/`` under one name per case. Two parts:

**In this process**, on the arrays read back with :func:`polymask.io.volumes.read_volume`,
each scorer's time and the largest relative difference of its values from polymask's:

- polymask ``surface_metrics``: HD, HD95, ASSD and surface Dice of every class in one pass;
- MONAI: ``compute_hausdorff_distance`` (twice: max and 95th percentile),
  ``compute_average_surface_distance(symmetric=True)`` and ``compute_surface_dice``, the calls a
  MONAI user makes for the same four numbers, on one-hot tensors;
- DeepMind's ``surface-distance`` (when installed): ``compute_surface_distances`` once per class,
  then its robust Hausdorff (100 and 95), average distances and surface Dice. Its surfaces are
  surface elements weighed by area, a different definition: its values are shown, not expected
  to agree;
- Dice and IoU: polymask's :class:`~polymask.score.confusion.NumpyConfusion` against
  nnU-Net's ``compute_metrics`` loop (one boolean mask per label, four sums), transcribed.

**End to end**, each command a fresh process timed from its start to its exit (interpreter,
imports, worker pool, reading the files, scoring, the report), as a user runs it:

- ``polymask score pred/ gt/ --json ...`` with ``--workers`` processes (default: all cores, as
  polymask's own default), with one, and with ``--surface``;
- nnU-Net v2's ``nnUNetv2_evaluate_simple gt/ pred/ -l 1 .. C-1`` (its
  ``compute_metrics_on_folder_simple``: SimpleITK reads, a spawned pool runs ``compute_metrics``)
  with its default processes (8, or ``nnUNet_def_n_proc``) and with ``--workers``, when nnunetv2
  is installed (``pip install --no-deps -r tests/requirements-peers.txt``) and the files are
  NIfTI. Before any time is shown, its ``summary.json`` is checked against polymask's report:
  every case's TP, FP and FN and every class's mean Dice over cases; a difference ends the run;
- ``polymask score -j 1`` again on the first 5 pairs only: its peak memory, against the run of
  all pairs with ``-j 1``, shows whether memory grows with the number of pairs.

Each command's process tree is read from ``/proc`` (Linux) while it runs: the CPU time of all
its processes, and the peak resident memory (``VmHWM``) of the largest one and the sum of every
one's peak (an upper bound of the run's total). ``--repeat`` rounds run the commands in turn,
so a busy machine slows each alike; the median is shown. Only NIfTI runs end to end (``polymask
score`` reads ``.npy`` files as 2-D masks).

    python -m benchmarks.volumes [--pairs 20] [--size 256 256 128] [--classes 5]
        [--format nii.gz|npy] [--backend numpy|torch] [--device cuda] [--workers N]
        [--repeat 1] [--skip monai,deepmind,nnunet,e2e]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.coco_scale import polymask_cmd, tail
from polymask.io.volumes import check_pair, read_volume
from polymask.runtime.parallel import default_workers
from polymask.score import metrics
from polymask.score.confusion import NumpyConfusion
from polymask.score.surface import SURFACE_METRICS, surface_metrics

SPACING = (0.8, 0.8, 2.5)
TOLERANCE = 2.0
"""Surface Dice tolerance (mm)."""


def paint(volume: np.ndarray, c: int, radii, centre, phase, wobble: float = 0.15) -> None:
    """Paint class ``c`` over a wobbly ellipsoid, computed over its bounding box only."""
    shape = np.asarray(volume.shape)
    reach = radii * (1 + wobble)
    lo = np.maximum(np.floor(centre - reach).astype(int), 0)
    hi = np.minimum(np.ceil(centre + reach).astype(int) + 1, shape)
    if np.any(hi <= lo):
        return
    axes = np.ogrid[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))]
    u, v, w = ((g - centre[i]) / radii[i] for i, g in enumerate(axes))
    bump = 1 + wobble * np.sin(3 * u + phase[0]) * np.cos(2 * v + phase[1]) * np.sin(
        2 * w + phase[2]
    )
    inside = u * u + v * v + w * w <= bump * bump
    volume[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))][inside] = c


def make_pair(shape: tuple[int, int, int], num_classes: int, seed: int):
    """A (ground truth, prediction) pair of uint8 volumes as the module describes."""
    rng = np.random.default_rng(seed)
    size = np.asarray(shape, dtype=np.float64)
    gt = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    for c in range(1, num_classes):
        radii = rng.uniform(0.08, 0.22, 3) * size
        centre = rng.uniform(radii + 2, size - radii - 2)
        phase = rng.uniform(0, 6, 3)
        paint(gt, c, radii, centre, phase)
        moved = centre + rng.normal(0, 1.5, 3)
        paint(pred, c, radii * rng.uniform(0.92, 1.08, 3), moved, phase + rng.normal(0, 0.2, 3))
    radii = rng.uniform(0.01, 0.03, 3) * size + 1
    paint(pred, 1, radii, rng.uniform(radii + 1, size - radii - 1), rng.uniform(0, 6, 3))
    return gt, pred


def write(root: Path, pairs: int, shape, num_classes: int, fmt: str) -> list[tuple[Path, Path]]:
    """``root/gt/case_NNN.fmt`` and ``root/pred/case_NNN.fmt`` of every pair."""
    paths = []
    for sub in ("gt", "pred"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(pairs):
        gt, pred = make_pair(shape, num_classes, seed=i)
        names = (root / "gt" / f"case_{i:03d}.{fmt}", root / "pred" / f"case_{i:03d}.{fmt}")
        for path, array in zip(names, (gt, pred), strict=True):
            if fmt == "npy":
                np.save(path, array)
            else:
                import nibabel as nib

                nib.save(nib.Nifti1Image(array, np.diag([*SPACING, 1.0])), str(path))
        paths.append(names)
    return paths


def polymask_surface(pairs, num_classes, backend, device):
    out = []
    for gt, pred in pairs:
        values = surface_metrics(
            gt, pred, num_classes, SPACING, TOLERANCE, backend=backend, device=device
        )
        out.append(np.stack([values[m] for m in SURFACE_METRICS]))
    return np.stack(out)


def monai_surface(pairs, num_classes):
    import torch
    from monai.metrics import (
        compute_average_surface_distance,
        compute_hausdorff_distance,
        compute_surface_dice,
    )

    out = []
    for gt, pred in pairs:
        g, p = (
            torch.nn.functional.one_hot(torch.from_numpy(a).long(), num_classes)
            .movedim(-1, 0)[None]
            .float()
            for a in (gt, pred)
        )
        rows = [
            compute_hausdorff_distance(p, g, spacing=SPACING),
            compute_hausdorff_distance(p, g, spacing=SPACING, percentile=95),
            compute_average_surface_distance(p, g, spacing=SPACING, symmetric=True),
            compute_surface_dice(p, g, [TOLERANCE] * (num_classes - 1), spacing=SPACING),
        ]
        values = torch.stack([r[0] for r in rows]).double().numpy()
        out.append(np.concatenate([np.full((4, 1), np.nan), values], axis=1))
    return np.stack(out)


def deepmind_surface(pairs, num_classes):
    import surface_distance as sd

    out = np.full((len(pairs), 4, num_classes), np.nan)
    for i, (gt, pred) in enumerate(pairs):
        for c in range(1, num_classes):
            d = sd.compute_surface_distances(gt == c, pred == c, SPACING)
            out[i, :, c] = (
                sd.compute_robust_hausdorff(d, 100),
                sd.compute_robust_hausdorff(d, 95),
                np.mean(sd.compute_average_surface_distance(d)),
                sd.compute_surface_dice_at_tolerance(d, TOLERANCE),
            )
    return out


def polymask_dice(pairs, num_classes):
    engine = NumpyConfusion(num_classes)
    for gt, pred in pairs:
        engine.update(gt, pred)
    counts = engine.compute()
    values = metrics.from_counts(counts[:, 0], counts[:, 1], counts[:, 2])
    return np.stack([values["dice"], values["iou"]], axis=1)


def nnunet_dice(pairs, num_classes):
    """nnU-Net's ``compute_metrics``: one boolean mask per label, TP FP FN TN summed."""
    out = np.full((len(pairs), 2, num_classes), np.nan)
    for i, (gt, pred) in enumerate(pairs):
        for r in range(num_classes):
            mask_ref, mask_pred = gt == r, pred == r
            tp = np.sum(mask_ref & mask_pred)
            fp = np.sum(~mask_ref & mask_pred)
            fn = np.sum(mask_ref & ~mask_pred)
            np.sum(~mask_ref & ~mask_pred)  # TN, which nnU-Net also counts
            if tp + fp + fn:
                out[i, :, r] = (2 * tp / (2 * tp + fp + fn), tp / (tp + fp + fn))
    return out


def timed(fn, *args):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MONAI warns of every empty class
        result = fn(*args)
    return time.perf_counter() - start, result


def largest_difference(values, reference) -> float:
    """Largest relative difference where both are defined and finite; NaN when they disagree
    on which values are undefined (NaN) or infinite."""
    finite = np.isfinite(values)
    if not np.array_equal(finite, np.isfinite(reference)):
        return float("nan")
    if not np.array_equal(values[~finite], reference[~finite], equal_nan=True):
        return float("nan")
    a, b = values[finite], reference[finite]
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-12), initial=0.0))


# --- end to end -------------------------------------------------------------------------------

MEMORY_PAIRS = 5
"""Pairs of the smaller run that the peak memory of the full run is compared with."""
NNUNET_DEFAULT = os.environ.get("nnUNet_def_n_proc", "8")
"""nnU-Net's default processes (``nnunetv2.configuration.default_num_processes``)."""
NNUNET_MAIN = (
    "from nnunetv2.evaluation.evaluate_predictions import evaluate_simple_entry_point as main; "
    "main()"
)
"""``nnUNetv2_evaluate_simple``, run by this interpreter wherever the script was installed."""


@dataclass
class Run:
    """One command's wall time; the CPU time of its processes, summed; and their peak resident
    memory (MB): the largest, and the sum of each one's peak. None where ``/proc`` cannot tell
    (not Linux)."""

    wall: float
    cpu: float | None
    largest_mb: float | None
    total_mb: float | None


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants, from ``/proc/PID/task/*/children`` (Linux)."""
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        for tid in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += map(int, (tid / "children").read_text().split())
            except OSError:  # gone since listed, or a kernel without the file
                pass
    return found


def usage(pid: int) -> tuple[float, int] | None:
    """CPU seconds used so far (user + system) and peak resident memory (``VmHWM``, kB) of one
    process; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = [int(line.split()[1]) for line in status if line.startswith("VmHWM:")]
    return (cpu, hwm[0]) if hwm else None


def run(cmd: list[str], log: Path, poll_s: float = 0.05) -> Run:
    """Run ``cmd`` (output to ``log``), timed from its start to its exit, the CPU time and peak
    memory of each process of its tree read every ``poll_s`` while it runs (a process's last
    ``poll_s`` of CPU can go unseen: worker pools' processes are not all reaped by the command,
    so its own resource usage would miss them). Exits the benchmark when it fails."""
    seen: dict[int, tuple[float, int]] = {}
    with log.open("w") as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            for pid in process_tree(proc.pid):
                now = usage(pid)
                if now is not None:
                    seen[pid] = now
            time.sleep(poll_s)
        wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed (exit {proc.returncode}):\n{tail(log)}")
    if not seen:
        return Run(wall, None, None, None)
    cpu = sum(c for c, _ in seen.values())
    peaks = [kb / 1024 for _, kb in seen.values()]
    return Run(wall, cpu, max(peaks), sum(peaks))


def nnunet_disagreements(report: dict, summary: dict, labels: list[int]) -> list[str]:
    """Where nnU-Net's ``summary.json`` and polymask's report differ: TP, FP and FN of every
    case and class, and each class's mean Dice over the cases."""
    found = []
    images = {image["key"]: image for image in report["images"]}
    if len(images) != len(summary["metric_per_case"]):
        found.append(f"{len(summary['metric_per_case'])} cases in nnU-Net's summary")
    for case in summary["metric_per_case"]:
        key = Path(case["prediction_file"]).name.removesuffix(".nii.gz")
        image = images.get(key)
        if image is None:
            found.append(f"{key}: not in polymask's report")
            continue
        for label in labels:
            for name in ("tp", "fp", "fn"):
                ours, theirs = image[name][label], case["metrics"][str(label)][name.upper()]
                if ours != theirs:
                    found.append(f"{key} class {label}: {name} {ours} (polymask) != {theirs}")
    for label in labels:
        ours = report["classes"][label]["metrics"]["mean-per-image"]["dice"]
        theirs = summary["mean"][str(label)]["Dice"]
        undefined = ours is None, theirs is None or math.isnan(theirs)
        if undefined[0] != undefined[1] or not (any(undefined) or abs(ours - theirs) <= 1e-12):
            found.append(f"class {label}: mean Dice {ours} (polymask) != {theirs}")
    return found


def check_agreement(report: dict, summary: Path, pairs: int, labels: list[int]) -> None:
    """Exit the benchmark unless polymask scored every pair, and nnU-Net's ``summary``, where it
    ran, holds polymask's figures."""
    if report["images_scored"] != pairs or report["problems"]:
        sys.exit(
            f"polymask scored {report['images_scored']} of {pairs} pairs: {report['problems']}"
        )
    if summary.exists():
        found = nnunet_disagreements(report, json.loads(summary.read_text()), labels)
        if found:
            sys.exit("nnU-Net disagrees with polymask:\n  " + "\n  ".join(found))


def end_to_end(root: Path, args, workers: int) -> None:
    """Time the commands of the module's end-to-end part on ``root/gt``, ``root/pred``; print
    the table."""
    if args.format != "nii.gz":
        print(
            f"\nend to end: polymask score reads volumes from NIfTI, not .{args.format}: left out"
        )
        return
    gt, pred, out = root / "gt", root / "pred", root / "e2e"
    out.mkdir()
    report = out / "polymask.json"
    ours = [*polymask_cmd(), "score", str(pred), str(gt), "--json", str(report)]
    cmds = {f"polymask score -j {workers}": [*ours, "-j", str(workers)]}
    if workers > 1:
        cmds["polymask score -j 1"] = [*ours, "-j", "1"]
    cmds[f"polymask score --surface -j {workers}"] = [
        *ours,
        *("--surface", "--tolerance", str(TOLERANCE), "-j", str(workers)),
    ]
    labels = list(range(1, args.classes))
    summary = out / "summary.json"
    have_nnunet = importlib.util.find_spec("nnunetv2") is not None
    if "nnunet" in args.skip:
        pass
    elif not have_nnunet:
        print(
            "nnU-Net v2 is not installed: left out (pip install --no-deps -r "
            "tests/requirements-peers.txt)"
        )
    else:
        theirs = [sys.executable, "-c", NNUNET_MAIN, str(gt), str(pred), "-l", *map(str, labels)]
        theirs += ["-o", str(summary)]
        cmds[f"nnU-Net evaluate_simple -np {NNUNET_DEFAULT} (default)"] = theirs
        if str(workers) != NNUNET_DEFAULT:
            cmds[f"nnU-Net evaluate_simple -np {workers}"] = [*theirs, "-np", str(workers)]
    if args.pairs > MEMORY_PAIRS:
        few = out / f"first{MEMORY_PAIRS}"
        for sub in ("gt", "pred"):
            (few / sub).mkdir(parents=True)
            for path in sorted((root / sub).glob("case_*.nii.gz"))[:MEMORY_PAIRS]:
                shutil.copy(path, few / sub / path.name)
        cmds[f"polymask score -j 1, first {MEMORY_PAIRS} pairs"] = [
            *polymask_cmd(),
            *("score", str(few / "pred"), str(few / "gt"), "--json", str(out / "few.json")),
            *("-j", "1"),
        ]

    runs: dict[str, list[Run]] = {name: [] for name in cmds}
    for rnd in range(args.repeat):
        for i, (name, cmd) in enumerate(cmds.items()):  # in turn: a busy machine slows each alike
            runs[name].append(run(cmd, out / f"{i}-{rnd}.log"))
        if rnd == 0:
            check_agreement(json.loads(report.read_text()), summary, args.pairs, labels)

    def median(values, form: str) -> str:
        values = [v for v in values if v is not None]
        return form.format(statistics.median(values)) if values else "n/a"

    ref = statistics.median(r.wall for r in runs[f"polymask score -j {workers}"])
    print(
        f"\nend to end, {args.pairs} pairs of {tuple(args.size)} .nii.gz, {os.cpu_count()} CPUs, "
        f"median of {args.repeat}; CPU: all processes; peak memory: largest process / sum"
    )
    print(f"{'command':46} {'wall s':>7} {'÷ polymask':>10} {'CPU s':>7} {'peak MB':>12}")
    for name, done in runs.items():
        wall = statistics.median(r.wall for r in done)
        ratio = f"{wall / ref:.1f}x" if name.startswith("nnU-Net") else ""
        cpu = median((r.cpu for r in done), "{:.1f}")
        memory = median((r.largest_mb for r in done), "{:.0f}")
        memory += " / " + median((r.total_mb for r in done), "{:.0f}")
        print(f"{name:46} {wall:7.2f} {ratio:>10} {cpu:>7} {memory:>12}")
    if any(name.startswith("nnU-Net") for name in runs):
        print(
            f"(÷ polymask: nnU-Net's wall time over polymask score -j {workers}'s; "
            "both agree on every count and mean Dice)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--size", type=int, nargs=3, default=(256, 256, 128))
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--format", choices=("nii.gz", "npy"), default="nii.gz")
    ap.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    ap.add_argument("--device", default=None, help="torch device of --backend torch")
    ap.add_argument(
        "--workers",
        type=int,
        default=default_workers(),
        help="processes of polymask, and of nnU-Net's matched run (default: cores)",
    )
    ap.add_argument("--repeat", type=int, default=1, help="rounds of the end-to-end commands")
    ap.add_argument(
        "--skip", default="", help="parts not run: monai, deepmind, nnunet, e2e (comma-separated)"
    )
    args = ap.parse_args()
    args.skip = set(filter(None, args.skip.split(",")))
    skip = args.skip
    try:
        import surface_distance  # noqa: F401

        have_deepmind = "deepmind" not in skip
    except ImportError:
        have_deepmind = False
        print("DeepMind's surface-distance is not installed: left out")
    shape = tuple(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        seconds, paths = timed(write, root, args.pairs, shape, args.classes, args.format)
        print(f"generated and wrote {args.pairs} pairs of {shape} ({args.format}): {seconds:.1f} s")
        start = time.perf_counter()
        pairs = []
        for gt_path, pred_path in paths:
            gt, gt_meta = read_volume(gt_path)
            pred, pred_meta = read_volume(pred_path)
            check_pair(gt_meta, pred_meta)
            pairs.append((gt, pred))
        print(f"read back with polymask.io.volumes: {time.perf_counter() - start:.1f} s")
        in_process(pairs, args, have_deepmind)
        del pairs  # the end-to-end commands get the memory
        if "e2e" not in skip:
            end_to_end(root, args, args.workers)


def in_process(pairs, args, have_deepmind: bool) -> None:
    """Time the scorers of the module's first part on ``pairs``; print the table."""
    skip = args.skip
    rows = []
    small = [make_pair((24, 24, 12), args.classes, seed=0)]  # imports and first calls, untimed
    warm = [(polymask_surface, args.backend, args.device), (polymask_dice,), (nnunet_dice,)]
    warm += [(monai_surface,)] if "monai" not in skip else []
    warm += [(deepmind_surface,)] if have_deepmind else []
    for fn, *extra in warm:
        timed(fn, small, args.classes, *extra)
    label = f"polymask surface ({args.backend}{', ' + args.device if args.device else ''})"
    seconds, ours = timed(polymask_surface, pairs, args.classes, args.backend, args.device)
    rows.append((label, seconds, ours, ours))
    if "monai" not in skip:
        seconds, values = timed(monai_surface, pairs, args.classes)
        rows.append(("MONAI (4 calls)", seconds, values, ours))
    if have_deepmind:
        seconds, values = timed(deepmind_surface, pairs, args.classes)
        rows.append(("DeepMind surface-distance*", seconds, values, ours))
    seconds, dice = timed(polymask_dice, pairs, args.classes)
    rows.append(("polymask Dice/IoU (NumpyConfusion)", seconds, dice, dice))
    seconds, values = timed(nnunet_dice, pairs, args.classes)
    rows.append(("nnU-Net Dice/IoU loop", seconds, values, dice))

    print(
        f"\n{'scorer':38} {'total s':>8} {'ms/pair':>8}  largest relative difference from polymask"
    )
    for name, seconds, values, reference in rows:
        diffs = ""
        if values is not reference:
            keys = SURFACE_METRICS if values.shape[1] == 4 else ("dice", "iou")
            diffs = "  ".join(
                f"{k} {largest_difference(values[:, j], reference[:, j]):.2g}"
                for j, k in enumerate(keys)
            )
        print(f"{name:38} {seconds:8.2f} {1000 * seconds / len(pairs):8.0f}  {diffs}")
    if have_deepmind:
        print("* surfaces of area-weighted surface elements: another definition, other values")


if __name__ == "__main__":
    main()
