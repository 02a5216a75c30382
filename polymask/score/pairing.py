"""Pairing a folder of predictions with a folder of ground-truth masks.

Files pair by their path relative to their folder without the extension, so ``a/b.png`` pairs
with ``a/b.png`` (or ``a/b.tif``, ``a/b.npy``). Ground truth without a prediction is *missing*,
predictions without ground truth are *extra*; both are listed, never skipped silently. Two mask
files with the same key in one folder (``b.png`` and ``b.npy``) are ambiguous and reported.

Files named as images or arrays that are not masks (JPEG, GIF, ``.pt``...; see
:mod:`polymask.io.maskformats`) are never read as masks, and never dropped without a word:

- one that stands alone for a key of the other folder (``a.jpg`` in PREDS, ``a.png`` in GT: a
  prediction saved as JPEG; or a GIF ground truth) is a problem: that pair cannot be scored,
  and its score must not pass as the dataset's. The key is then neither paired nor missing;
- any other (``photo.jpg`` with no ground truth, or beside ``photo.png``, the mask of its key)
  is listed in :attr:`Pairing.unreadable` with the reason, so that a folder of JPEGs, or the
  wrong folder, says why nothing paired.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from polymask.errors import Problem
from polymask.io.maskformats import LISTED_SUFFIXES, MASK_SUFFIXES, not_mask_reason, suffix_of
from polymask.io.storage import as_path
from polymask.io.walk import walk_files

__all__ = [
    "MASK_SUFFIXES",
    "MaskPair",
    "MaskScan",
    "Pairing",
    "mask_files",
    "pair_folders",
    "scan_masks",
    "sort_out_others",
]


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
    """Keys of predictions without ground truth."""
    problems: list[Problem] = field(default_factory=list)
    unreadable: dict[Path, str] = field(default_factory=dict)
    """Files of either folder not read as masks and not a problem: file -> why (a JPEG
    prediction with no ground truth, a photo beside its key's mask)."""


@dataclass
class MaskScan:
    """What a folder holds: masks by key, files that are not masks, problems of the walk."""

    masks: dict[str, Path] = field(default_factory=dict)
    others: dict[str, list[tuple[Path, str]]] = field(default_factory=dict)
    """key -> (file, why it is not read as a mask) for files named as images or arrays."""
    problems: list[Problem] = field(default_factory=list)


def scan_masks(folder: Path) -> MaskScan:
    """The masks under ``folder`` by key, and the image or array files that are not masks
    (hidden files and folders skipped, symbolic links followed); special files and looping
    links are named in the problems."""
    scan = MaskScan()
    for path in walk_files(folder, LISTED_SUFFIXES, scan.problems):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts):
            continue
        suffix = suffix_of(path)
        key = rel.as_posix()[: -len(suffix)]
        if suffix not in MASK_SUFFIXES:
            reason = not_mask_reason(path)
            if reason:  # None: a .gz that is not .nii.gz
                scan.others.setdefault(key, []).append((path, reason))
            continue
        if key in scan.masks:
            scan.problems.append(
                Problem(str(path), f"two masks for {key!r}: {scan.masks[key].name} and {path.name}")
            )
            continue
        scan.masks[key] = path
    return scan


def mask_files(folder: Path) -> tuple[dict[str, Path], list[Problem]]:
    """key -> file for every mask under ``folder``, and the problems of the walk (see
    :func:`scan_masks`, which also gives the files that are not masks)."""
    scan = scan_masks(folder)
    return scan.masks, scan.problems


def pair_folders(preds: str | Path, gt: str | Path) -> Pairing:
    """Pairs sorted by key, with the missing and extra keys, the ambiguous files, and the
    files that are not masks (a problem when they stand for a key of the other folder)."""
    preds, gt = as_path(preds), as_path(gt)
    for folder in (preds, gt):
        if not folder.is_dir():
            raise NotADirectoryError(f"{folder}: not a folder")
    pred_scan, gt_scan = scan_masks(preds), scan_masks(gt)
    result = Pairing(problems=gt_scan.problems + pred_scan.problems)
    pred_files, gt_files = pred_scan.masks, gt_scan.masks
    sort_out_others(gt_scan, None, result)
    unscorable = sort_out_others(pred_scan, gt_files, result)
    for key, gt_path in gt_files.items():
        if key in pred_files:
            result.pairs.append(MaskPair(key, gt_path, pred_files[key]))
        elif key not in unscorable:
            result.missing[key] = gt_path
    result.extra = sorted(set(pred_files) - set(gt_files) - set(gt_scan.others))
    return result


def sort_out_others(scan: MaskScan, gt: Mapping[str, object] | None, pairing: Pairing) -> set[str]:
    """Put the files of ``scan`` that are not masks into ``pairing``: a problem where one
    stands alone for a key that is scored, else a line of :attr:`Pairing.unreadable`.

    ``gt`` None: ``scan`` is the ground truth, every key of which is scored. Else ``scan`` holds
    predictions and ``gt`` the ground truth's sources by key (files, or annotations drawn).
    Returns the keys of the ground truth left without a prediction by such a problem, which
    are not *missing*: their prediction is there, in a form that cannot be scored."""
    unscorable = set()
    for key, files in scan.others.items():
        alone = key not in scan.masks and (gt is None or key in gt)
        for path, reason in files:
            if not alone:
                pairing.unreadable[path] = reason
                continue
            lost = "this ground truth" if gt is None else f"the ground truth {gt[key]}"
            pairing.problems.append(Problem(str(path), f"{reason}; {lost} is not scored"))
            if gt is not None:
                unscorable.add(key)
    return unscorable
