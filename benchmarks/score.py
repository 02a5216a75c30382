"""polymask score against the loops people otherwise write, measured in the same run.

Peers, each timed over the same folder of 1024x768 masks with 20 classes (one process, one
thread, decoding included):

- nnU-Net-style: Pillow decode, then one boolean mask per class and TP/FP/FN sums, as nnU-Net's
  ``compute_metrics`` does per case;
- MONAI: decode, one-hot to (1, C, H, W) tensors and ``DiceMetric`` per image (when MONAI is
  installed; ``pip install monai``).

The per-class Dice of the nnU-Net-style loop is checked against polymask's before any timing is
reported, so the ratio compares two programs that give the same answer.

    python -m benchmarks.score --images 100 [--repeat 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.score_speed import CLASSES, write_dataset
from polymask.score.run import ScoreOptions, score_folders

IGNORE = 255


def pairs(root: Path):
    for gt_path in sorted((root / "gt").glob("*.png")):
        yield gt_path, root / "pred" / gt_path.name


def nnunet_style(root: Path) -> np.ndarray:
    """Summed TP, FP, FN per class, one boolean mask per class and image."""
    totals = np.zeros((3, CLASSES), np.int64)
    for gt_path, pred_path in pairs(root):
        gt = np.asarray(Image.open(gt_path))
        pred = np.asarray(Image.open(pred_path))
        valid = gt != IGNORE
        for c in range(CLASSES):
            g, p = (gt == c) & valid, (pred == c) & valid
            totals[:, c] += [np.sum(g & p), np.sum(~g & p), np.sum(g & ~p)]
    return totals


def monai_loop(root: Path) -> None:
    import torch
    from monai.metrics import DiceMetric
    from monai.networks.utils import one_hot

    metric = DiceMetric(include_background=False, reduction="mean_batch")
    for gt_path, pred_path in pairs(root):
        gt = np.asarray(Image.open(gt_path)).astype(np.int64)
        pred = np.asarray(Image.open(pred_path)).astype(np.int64)
        gt = np.where(gt == IGNORE, 0, gt)  # MONAI has no ignore index
        y = one_hot(torch.from_numpy(gt)[None, None], CLASSES)
        y_pred = one_hot(torch.from_numpy(pred)[None, None], CLASSES)
        metric(y_pred=y_pred, y=y)
    metric.aggregate()


def polymask_score(root: Path, device: str):
    return score_folders(
        root / "pred", root / "gt", ScoreOptions(device=device, workers=1, ignore_index=IGNORE)
    )


def per_image_ms(fn, n: int, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t) * 1000 / n)
    return statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    try:
        import torch

        torch.set_num_threads(1)  # as `polymask score` runs; the peers get the same
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_dataset(root, a.images, seed=0)
        ours = polymask_score(root, a.device)
        ref = nnunet_style(root)
        tp = np.array([c.tp for c in ours.report.classes])
        assert np.array_equal(tp, ref[0, : len(tp)]), "polymask and the reference loop disagree"
        print(
            f"images: {a.images} x {a.repeat}, 1024x768, {CLASSES} classes, one process, "
            f"one thread; polymask --device {a.device}, decode included everywhere"
        )
        mine = per_image_ms(lambda: polymask_score(root, a.device), a.images, a.repeat)
        print(f"polymask score:        {mine:8.2f} ms/image")
        nn = per_image_ms(lambda: nnunet_style(root), a.images, a.repeat)
        print(f"nnU-Net-style loop:    {nn:8.2f} ms/image   polymask {nn / mine:5.1f}x faster")
        try:
            import monai  # noqa: F401
        except ImportError:
            print("MONAI DiceMetric loop: not installed (pip install monai)")
            return
        mo = per_image_ms(lambda: monai_loop(root), a.images, a.repeat)
        print(f"MONAI DiceMetric loop: {mo:8.2f} ms/image   polymask {mo / mine:5.1f}x faster")


if __name__ == "__main__":
    main()
