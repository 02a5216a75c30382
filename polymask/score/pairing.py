"""Pairing a folder of predictions with a folder of ground-truth masks.

Files pair by their path relative to their folder without the extension, so ``a/b.png`` pairs
with ``a/b.png`` (or ``a/b.tif``). Ground truth without a prediction is *missing*, predictions
without ground truth are *extra*; both are listed, never skipped silently. Two mask files with
the same key in one folder (``b.png`` and ``b.tif``) are ambiguous and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from polymask.errors import Problem
from polymask.io.storage import as_path
from polymask.io.walk import walk_files

MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".gif")


@dataclass(frozen=True)
class MaskPair:
    key: str
    gt: Path
    pred: Path | None
    """None: the prediction is missing (scored only under ``--missing zero``)."""


@dataclass
class Pairing:
    pairs: list[MaskPair] = field(default_factory=list)
    missing: dict[str, Path] = field(default_factory=dict)
    """Ground truth without a prediction: key -> ground-truth file."""
    extra: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def mask_files(folder: Path) -> tuple[dict[str, Path], list[Problem]]:
    """key -> file for every mask image under ``folder`` (hidden files and folders skipped,
    symbolic links followed); special files and looping links are named in the problems."""
    found: dict[str, Path] = {}
    problems: list[Problem] = []
    for path in walk_files(folder, MASK_SUFFIXES, problems):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        key = rel.with_suffix("").as_posix()
        if key in found:
            problems.append(
                Problem(str(path), f"two masks for {key!r}: {found[key].name} and {path.name}")
            )
            continue
        found[key] = path
    return found, problems


def pair_folders(preds: str | Path, gt: str | Path) -> Pairing:
    """Pairs sorted by key, with the missing and extra keys and the ambiguous files."""
    preds, gt = as_path(preds), as_path(gt)
    for folder in (preds, gt):
        if not folder.is_dir():
            raise NotADirectoryError(f"{folder}: not a folder")
    pred_files, pred_problems = mask_files(preds)
    gt_files, gt_problems = mask_files(gt)
    result = Pairing(problems=gt_problems + pred_problems)
    for key, gt_path in gt_files.items():
        if key in pred_files:
            result.pairs.append(MaskPair(key, gt_path, pred_files[key]))
        else:
            result.missing[key] = gt_path
    result.extra = sorted(set(pred_files) - set(gt_files))
    return result
