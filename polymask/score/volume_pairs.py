"""Scoring one pair of label volumes: read, check the grids, count, measure the surfaces.

The unit of work of a scorer over folders of volumes (NIfTI, TIFF stacks, ``.npy``), run where
the pair is read, so that only a few numbers per class cross back: the pair's row of counts
from the confusion engine (TP, FP, FN per class, the Dice and IoU of every report) and its row
of surface distances (:mod:`polymask.score.surface`). Problems are collected, never raised: a
pair that cannot be scored says why and by which file, and the others go on.

The spacing of the distances: the ground truth's header where its format stores one (NIfTI),
else ``spacing`` as given, else 1 along each axis (distances then count voxels). A given
``spacing`` that disagrees with a header is a problem, not an override: one of the two is wrong
and the scores would be in the wrong unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from polymask.errors import Problem
from polymask.io.volumes import SPACING_RTOL, VolumeError, check_pair, read_volume
from polymask.score.confusion import MaskValueError, NumpyConfusion
from polymask.score.surface import SURFACE_METRICS, surface_metrics


@dataclass(frozen=True)
class SurfaceOptions:
    """How surfaces are measured (see :func:`polymask.score.surface.surface_metrics`)."""

    spacing: tuple[float, ...] | None = None
    tolerance: float = 1.0
    percentile: float = 95.0
    one_empty: str = "inf"
    backend: str = "numpy"
    device: str | None = None


@dataclass
class VolumeScore:
    key: str
    counts: np.ndarray | None = None
    """(3, C) int64: TP, FP, FN per class (the engine's row)."""
    surface: np.ndarray | None = None
    """(4, C) float64: :data:`~polymask.score.surface.SURFACE_METRICS` per class, NaN for
    background and for classes absent from both volumes."""
    spacing: tuple[float, ...] | None = None
    """The spacing the distances were measured with."""
    problems: list[Problem] = field(default_factory=list)


def pair_spacing(
    header: tuple[float, ...] | None, given: Sequence[float] | None, ndim: int
) -> tuple[float, ...]:
    """The spacing of a pair by the module's rule; raises ValueError when ``given`` and the
    header disagree."""
    if header is not None and given is not None:
        if len(given) != len(header) or not np.allclose(given, header, rtol=SPACING_RTOL, atol=0):
            raise ValueError(
                f"spacing {tuple(given)} was given, the file's header says {header}: "
                "leave the spacing out to use the header's"
            )
    spacing = header if header is not None else given
    return tuple(spacing) if spacing is not None else (1.0,) * ndim


def measure(
    gt: np.ndarray,
    pred: np.ndarray,
    num_classes: int,
    spacing: tuple[float, ...],
    ignore_index: int | None,
    options: SurfaceOptions,
) -> np.ndarray:
    """(4, C) :data:`~polymask.score.surface.SURFACE_METRICS` of one pair, as ``options`` say:
    what ``score --surface`` and :func:`score_volume_pair` both report."""
    values = surface_metrics(
        gt,
        pred,
        num_classes,
        spacing,
        options.tolerance,
        options.percentile,
        ignore_index=ignore_index,
        one_empty=options.one_empty,
        backend=options.backend,
        device=options.device,
    )
    return np.stack([values[name] for name in SURFACE_METRICS])


def score_volume_pair(
    key: str,
    gt_path: str | Path,
    pred_path: str | Path,
    num_classes: int,
    ignore_index: int | None,
    options: SurfaceOptions,
) -> VolumeScore:
    """Read, check, count and measure one pair; problems name the file at fault."""
    out = VolumeScore(key)
    try:
        gt, gt_meta = read_volume(gt_path)
        pred, pred_meta = read_volume(pred_path)
        check_pair(gt_meta, pred_meta)
    except VolumeError as exc:
        out.problems.append(Problem(exc.file, exc.reason))
        return out
    try:
        out.spacing = pair_spacing(gt_meta.spacing, options.spacing, gt.ndim)
    except ValueError as exc:
        out.problems.append(Problem(str(gt_path), str(exc)))
        return out
    engine = NumpyConfusion(num_classes, ignore_index)
    try:
        engine.update(gt, pred, names=(gt_path, pred_path))
    except MaskValueError as exc:
        out.problems.extend(exc.problems)
        return out
    out.counts = engine.compute()[0]
    out.surface = measure(gt, pred, num_classes, out.spacing, ignore_index, options)
    return out
