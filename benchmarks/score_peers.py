"""The scoring loops that ``benchmarks.score_e2e`` times against ``polymask score``.

Each runs as a process of its own and imports no polymask, so its time is its own start-up
(interpreter, numpy, Pillow; torch and MONAI for the MONAI loop) plus its loop:

- ``nnunet``: nnU-Net's evaluation, transcribed from
  ``nnunetv2.evaluation.evaluate_predictions``: per case, ``compute_metrics`` (one boolean mask
  per foreground label and ``compute_tp_fp_fn_tn``'s four sums, ignored pixels left out), then
  per label the mean over cases of the defined Dice values, as its ``summary.json`` gives them.
  Transcribed, not imported: that module imports batchgenerators, SimpleITK, nibabel, tifffile
  and scikit-image when it loads. Masks are decoded with Pillow; one process, as the loop of
  ``compute_metrics_on_folder`` without its pool.
- ``monai``: MONAI's ``DiceMetric`` (``include_background=False``, ``reduction="mean_batch"``,
  its other arguments at their defaults) over one-hot tensors of each pair. MONAI has no ignore
  index: ignored ground-truth pixels are made background in both masks, and background is not
  scored.

    python -m benchmarks.score_peers nnunet|monai PRED GT --out RESULT.json [--classes 20]
        [--ignore-index 255]

Pairs are the PNG files of GT with a file of the same name in PRED. RESULT.json holds the
foreground labels and each label's Dice (``null`` where undefined), and for ``nnunet`` the TP,
FP and FN summed over the cases.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from PIL import Image


def pairs(pred: Path, gt: Path):
    for gt_path in sorted(gt.glob("*.png")):
        yield gt_path, pred / gt_path.name


def nnunet(pred: Path, gt: Path, classes: int, ignore_index: int) -> dict:
    labels = list(range(1, classes))
    cases = []
    totals = np.zeros((3, len(labels)), np.int64)
    for gt_path, pred_path in pairs(pred, gt):
        seg_ref = np.asarray(Image.open(gt_path))
        seg_pred = np.asarray(Image.open(pred_path))
        use_mask = ~(seg_ref == ignore_index)
        dice = []
        for i, r in enumerate(labels):
            mask_ref, mask_pred = seg_ref == r, seg_pred == r
            tp = np.sum((mask_ref & mask_pred) & use_mask)
            fp = np.sum(((~mask_ref) & mask_pred) & use_mask)
            fn = np.sum((mask_ref & (~mask_pred)) & use_mask)
            np.sum(((~mask_ref) & (~mask_pred)) & use_mask)  # TN, which nnU-Net also counts
            dice.append(np.nan if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn))
            totals[:, i] += (tp, fp, fn)
        cases.append(dice)
    with np.errstate(invalid="ignore"):  # nanmean of a label no case defines: nan, a warning
        means = np.nanmean(np.array(cases, dtype=np.float64).reshape(-1, len(labels)), axis=0)
    return {
        "labels": labels,
        "dice": [None if np.isnan(d) else float(d) for d in means],
        "tp": totals[0].tolist(),
        "fp": totals[1].tolist(),
        "fn": totals[2].tolist(),
    }


def monai(pred: Path, gt: Path, classes: int, ignore_index: int) -> dict:
    import torch
    from monai.metrics import DiceMetric
    from monai.networks.utils import one_hot

    metric = DiceMetric(include_background=False, reduction="mean_batch")
    for gt_path, pred_path in pairs(pred, gt):
        y = np.asarray(Image.open(gt_path)).astype(np.int64)
        y_pred = np.asarray(Image.open(pred_path)).astype(np.int64)
        ignored = y == ignore_index
        y[ignored] = 0
        y_pred[ignored] = 0
        metric(
            y_pred=one_hot(torch.from_numpy(y_pred)[None, None], classes),
            y=one_hot(torch.from_numpy(y)[None, None], classes),
        )
    dice = metric.aggregate().tolist()
    return {"labels": list(range(1, classes)), "dice": dice}


LOOPS = {"nnunet": nnunet, "monai": monai}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("loop", choices=sorted(LOOPS))
    ap.add_argument("pred", type=Path)
    ap.add_argument("gt", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--ignore-index", type=int, default=255)
    a = ap.parse_args()
    result = LOOPS[a.loop](a.pred, a.gt, a.classes, a.ignore_index)
    a.out.write_text(json.dumps(result))


if __name__ == "__main__":
    main()
