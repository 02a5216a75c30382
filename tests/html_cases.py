"""A small scored dataset for the HTML report tests: hostile class names and file names, every
kind of error, ignore pixels, and photographs for some images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from click.testing import CliRunner, Result
from PIL import Image

from polymask.cli.main import cli
from polymask.io.masks import write_png

HOSTILE = "<script>alert(1)</script>"
NAMES = ["_background_", HOSTILE, "cars & trucks", "$x$ price", "sky"]
KEYS = ["a&b<c>", "plain", "sub/deep", "zero"]
H, W = 40, 60


def masks(seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(gt, pred) per key: blocks of every class, a shifted prediction with a wrong-class blob
    and a spurious one, ignore pixels; class 4 (sky) only in one image, and rarely."""
    rng = np.random.default_rng(seed)
    out = {}
    for n, key in enumerate(KEYS):
        gt = np.zeros((H, W), np.uint8)
        gt[5:20, 5:30] = 1
        gt[22:35, 10 + n : 40 + n] = 2
        gt[2:8, 40:55] = 3
        if key == "plain":
            gt[30:33, 50:53] = 4
        pred = np.roll(gt, (int(rng.integers(-2, 3)), int(rng.integers(-3, 4))), axis=(0, 1))
        pred[25:30, 15:25] = 1  # wrong class inside class 2
        pred[36:39, 2:8] = 3  # on background
        gt[0:2, 0:6] = 255
        out[key] = (gt, pred)
    return out


def write_dataset(root: Path, seed: int = 0, photos: bool = True) -> Path:
    for key, (gt, pred) in masks(seed).items():
        write_png(root / "gt" / f"{key}.png", gt)
        write_png(root / "pred" / f"{key}.png", pred)
        if photos and key != "zero":  # one image without a photograph
            rgb = np.random.default_rng(len(key)).integers(0, 255, (H, W, 3), np.uint8)
            (root / "img" / key).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(root / "img" / f"{key}.jpg", quality=90)
    labels = "\n".join(["__ignore__", *NAMES]) + "\n"
    (root / "gt" / "labels.txt").write_text(labels, encoding="utf-8")
    return root


def run(*args) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def score(root: Path, *args) -> Result:
    return run("score", "-j", "1", "--device", "cpu", root / "pred", root / "gt", *args)
