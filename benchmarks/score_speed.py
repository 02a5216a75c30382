"""Images per second of ``polymask score`` on 1024x768 masks with 20 classes.

A seeded generator writes N ground-truth masks (blocky regions, as label maps look, so PNG
decoding costs what it does on real masks) and predictions that disagree near region edges and
in a few blobs, then times ``score_folders`` end to end (decode, check, count, report).

    .venv/bin/python benchmarks/score_speed.py --images 200 --device cpu --workers 1 2

torch runs with one intra-op thread, as ``polymask score`` sets it (``--torch-threads`` to
compare).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from polymask.io.masks import write_png
from polymask.score.run import ScoreOptions, score_folders

H, W, CLASSES = 768, 1024, 20


def make_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    coarse = rng.integers(0, CLASSES, (H // 32, W // 32), dtype=np.uint8)
    gt = np.kron(coarse, np.ones((32, 32), np.uint8))
    pred = np.roll(gt, shift=(int(rng.integers(-6, 7)), int(rng.integers(-6, 7))), axis=(0, 1))
    for _ in range(8):
        y, x = rng.integers(0, H - 40), rng.integers(0, W - 40)
        pred[y : y + 40, x : x + 40] = rng.integers(0, CLASSES)
    gt[rng.random(gt.shape) < 0.01] = 255  # a sprinkle of ignore pixels
    return gt, pred


def write_dataset(root: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        gt, pred = make_pair(rng)
        write_png(root / "gt" / f"{i:05d}.png", gt)
        write_png(root / "pred" / f"{i:05d}.png", pred)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--boundary", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=1)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(args.torch_threads)
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_dataset(root, args.images, args.seed)
        for workers in args.workers:
            options = ScoreOptions(device=args.device, workers=workers, boundary=args.boundary)
            start = time.perf_counter()
            result = score_folders(root / "pred", root / "gt", options)
            elapsed = time.perf_counter() - start
            assert result.report.images_scored == args.images and not result.report.problems
            print(
                f"device={args.device} workers={workers} boundary={args.boundary}: "
                f"{args.images / elapsed:.1f} images/s ({elapsed:.2f} s for {args.images}), "
                f"mean Dice {result.report.summary.global_.dice:.4f}"
            )


if __name__ == "__main__":
    main()
