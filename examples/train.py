"""Train a tiny segmentation model on the bundled examples, straight from their polygons.

No mask folder is kept for training: ``polymask.training`` burns each class map from the LabelMe
annotations when a sample is drawn (the pixels ``polymask rasterize`` writes), random crops move
image and mask together, and the loss is polymask's ``DiceCELoss`` with the median-frequency
class weights ``polymask stats`` reports. The trained model's predictions are then written as
mask PNGs and scored by ``polymask score`` against the masks ``polymask rasterize`` writes, with
a Dice gate: the exit code is the score's (0 passed, 1 below the gate).

    python examples/train.py [--steps 150] [--out out/train] [--fail-under 0.9] [--seed 0]

Six images are far too few to learn anything general: the point is the path from polygons to a
scored model, in under a minute on two CPU cores. Everything is seeded: a rerun prints the same.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from polymask.io.masks import write_png
from polymask.losses import DiceCELoss
from polymask.training import RandomCrop, SegmentationDataset, class_weights

EXAMPLES = Path(__file__).resolve().parent / "labelme"
LABELS = EXAMPLES / "labels.txt"


class TinySegNet(nn.Module):
    """Four convolutions, dilated to see about 30 px around each pixel; one logit a class."""

    def __init__(self, classes: int, width: int = 16):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for dilation in (1, 2, 4):
            layers += [
                nn.Conv2d(channels, width, 3, padding=dilation, dilation=dilation),
                nn.BatchNorm2d(width),
                nn.ReLU(inplace=True),
            ]
            channels = width
        layers.append(nn.Conv2d(width, classes, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x - 0.5)


@dataclass
class Outcome:
    losses: list[float]
    dice: float | None
    """Mean Dice over the foreground classes (``global``), from ``polymask score``."""
    exit_code: int


def train(steps: int, out: Path, fail_under: float, seed: int = 0, log_every: int = 15) -> Outcome:
    """Train for ``steps`` steps on random crops, predict every example whole (the model is
    fully convolutional), write the predictions under ``out`` and score them."""
    torch.manual_seed(seed)
    # One thread: the layers are too small for threads to pay, and where another process keeps
    # the other cores busy, threads wait for each other at every operation (8x slower, measured).
    torch.set_num_threads(1)
    # every class map is burned once and then reused from the cache (the files do not change)
    data = SegmentationDataset.from_annotations(
        EXAMPLES, labels=LABELS, transform=RandomCrop(96), cache=16, workers=1
    )
    weights = class_weights(data, "median_frequency")
    names = data.label_map.names
    print(f"{len(data)} images, {data.num_classes} classes; median-frequency weights:")
    print("  " + ", ".join(f"{names.get(i, i)} {w:.3g}" for i, w in enumerate(weights.tolist())))
    loader = torch.utils.data.DataLoader(
        data, batch_size=len(data), shuffle=True, generator=torch.Generator().manual_seed(seed)
    )
    model = TinySegNet(data.num_classes)
    loss_fn = DiceCELoss(ignore_index=data.ignore_index, weight=weights)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    losses: list[float] = []
    start = time.perf_counter()
    model.train()
    while len(losses) < steps:
        for images, targets in loader:
            loss = loss_fn(model(images), targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if len(losses) % log_every == 0:  # a window's mean: one crop's loss is noisy
                window = losses[-log_every:]
                print(
                    f"steps {len(losses) - log_every + 1:4d}-{len(losses):<4d} "
                    f"mean loss {sum(window) / log_every:.4f}"
                )
            if len(losses) == steps:
                break
    print(f"trained {steps} steps in {time.perf_counter() - start:.1f} s")

    predictions = out / "predictions"
    full = SegmentationDataset.from_annotations(EXAMPLES, labels=LABELS, workers=1)
    model.eval()
    with torch.no_grad():
        for key, (image, _) in zip(full.keys, full, strict=True):
            classes = model(image[None]).argmax(1)[0]
            write_png(predictions / f"{key}.png", classes.to(torch.uint8).numpy())
    return Outcome(losses, *score(predictions, out, fail_under))


def score(predictions: Path, out: Path, fail_under: float) -> tuple[float | None, int]:
    """``polymask rasterize`` the ground truth, then ``polymask score`` the predictions against
    it with a gate; the mean Dice and the exit code."""
    masks, report = out / "masks", out / "score.json"
    polymask = [sys.executable, "-m", "polymask"]
    report.unlink(missing_ok=True)  # a failed run must not leave the last run's Dice to read
    subprocess.run(
        [*polymask, "rasterize", str(EXAMPLES), "-o", str(masks), "--labels", str(LABELS)],
        check=True,
    )
    gate = [*polymask, "score", str(predictions), str(masks), "--fail-under", str(fail_under)]
    done = subprocess.run([*gate, "--json", str(report)])
    dice = json.loads(report.read_text())["summary"]["global"]["dice"] if report.exists() else None
    return dice, done.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--out", type=Path, default=Path("out/train"))
    ap.add_argument("--fail-under", type=float, default=0.9)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    outcome = train(a.steps, a.out, a.fail_under, a.seed)
    shown = "undefined" if outcome.dice is None else f"{outcome.dice:.4f}"
    print(f"final mean Dice (foreground classes, global): {shown}")
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
