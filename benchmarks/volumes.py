"""Scoring 3-D label volumes: polymask's surface distances and Dice against their peers.

Generates ``--pairs`` (ground truth, prediction) volumes of ``--size`` voxels (default 20 of
256x256x128, spacing 0.8 x 0.8 x 2.5 mm) holding ``--classes`` - 1 organs: wobbly ellipsoids of
random size and place, the prediction's each a little moved, scaled and deformed, plus a small
stray blob (so HD and HD95 differ). Files are written as ``.nii.gz`` (or ``.npy``) and read back
with :func:`polymask.io.volumes.read_volume`; every scorer then works on the same arrays in
memory, in this one process, and the table gives its time and the largest relative difference
of its values from polymask's:

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

    python -m benchmarks.volumes [--pairs 20] [--size 256 256 128] [--classes 5]
        [--format nii.gz|npy] [--backend numpy|torch] [--device cuda] [--skip monai,deepmind]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from polymask.io.volumes import check_pair, read_volume
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


def write(folder: Path, pairs: int, shape, num_classes: int, fmt: str) -> list[tuple[Path, Path]]:
    paths = []
    for i in range(pairs):
        gt, pred = make_pair(shape, num_classes, seed=i)
        names = (folder / f"gt_{i:03d}.{fmt}", folder / f"pred_{i:03d}.{fmt}")
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--size", type=int, nargs=3, default=(256, 256, 128))
    ap.add_argument("--classes", type=int, default=5)
    ap.add_argument("--format", choices=("nii.gz", "npy"), default="nii.gz")
    ap.add_argument("--backend", choices=("numpy", "torch"), default="numpy")
    ap.add_argument("--device", default=None, help="torch device of --backend torch")
    ap.add_argument("--skip", default="", help="peers not run: monai, deepmind (comma-separated)")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    try:
        import surface_distance  # noqa: F401

        have_deepmind = "deepmind" not in skip
    except ImportError:
        have_deepmind = False
        print("DeepMind's surface-distance is not installed: left out")
    shape = tuple(args.size)
    with tempfile.TemporaryDirectory() as tmp:
        seconds, paths = timed(write, Path(tmp), args.pairs, shape, args.classes, args.format)
        print(f"generated and wrote {args.pairs} pairs of {shape} ({args.format}): {seconds:.1f} s")
        start = time.perf_counter()
        pairs = []
        for gt_path, pred_path in paths:
            gt, gt_meta = read_volume(gt_path)
            pred, pred_meta = read_volume(pred_path)
            check_pair(gt_meta, pred_meta)
            pairs.append((gt, pred))
        print(f"read back with polymask.io.volumes: {time.perf_counter() - start:.1f} s")

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
