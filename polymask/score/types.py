"""The values passed between the scoring stages: options in, per-image counts out.

Kept apart from :mod:`polymask.score.run` (which streams folders into counts) and
:mod:`polymask.score.summary` (which turns counts into the report) so that neither imports the
other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from polymask.labels import DEFAULT_IGNORE_INDEX, LabelMap
from polymask.score import metrics as M

if TYPE_CHECKING:
    from polymask.score.volume_pairs import SurfaceOptions
    from polymask.settings import Settings

MissingPolicy = Literal["error", "zero", "skip"]
PredIgnore = Literal["error", "exclude"]
ReadAs = Literal["auto", "masks", "annotations"]


@dataclass(frozen=True)
class ScoreOptions:
    """How to score. ``labels`` None: ``labels.txt`` in the ground-truth folder if there is one,
    else classes 0..the largest value found."""

    labels: LabelMap | None = None
    ignore_index: int = DEFAULT_IGNORE_INDEX
    missing: MissingPolicy = "error"
    pred_ignore: PredIgnore = "error"
    """A prediction holding the ignore index: an error naming the file (a model's mask should
    hold class ids), or ``exclude``, its pixels left out of scoring as the ground truth's are
    (one annotator's ``__ignore__`` regions scored against another's)."""
    empty: M.EmptyPolicy = "nan"
    include_background: bool = False
    device: str = "auto"
    workers: int | None = None
    boundary: float | None = None
    worst: int = 10
    batch_pixels: int = 1 << 24
    scheduler: str = "processes"
    """Where pairs are decoded. On the CPU (and on any Dask cluster) each worker also counts its
    pairs and only per-image counts travel back; with a CUDA device the workers decode and this
    process counts batches on the GPU (so a CUDA device with a Dask cluster is refused)."""
    settings: Settings | None = None
    """How annotations (and COCO results) are read and drawn, as ``rasterize`` reads them:
    conventions, overlap order, unknown labels, format options. None: the defaults."""
    preds_as: ReadAs = "auto"
    gt_as: ReadAs = "auto"
    """How to read a folder (:mod:`polymask.score.inputs`): auto, masks or annotations."""
    min_score: float | None = None
    """Detections of a COCO results file with a lower score are left out."""
    confusion: bool = False
    """Also sum the class-by-class confusion matrix (``ScoreResult.confusion``)."""
    surface: SurfaceOptions | None = None
    """Also measure surface distances per class and image (:mod:`polymask.score.surface`),
    with the spacing of each volume's header (or ``surface.spacing``)."""


@dataclass
class PerImage:
    """Counts of every scored image, (N, C) int64 each; band arrays only with a boundary."""

    keys: list[str]
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    band_gt: np.ndarray | None = None
    band_pred: np.ndarray | None = None
    band_hit: np.ndarray | None = None
    surface: np.ndarray | None = None
    """(N, 4, C) float64: hd, hd95, assd, surface_dice per image and class (NaN: undefined,
    inf: the class in one mask only), with ``ScoreOptions.surface``."""

    def metrics(self, empty: M.EmptyPolicy) -> dict[str, np.ndarray]:
        out = M.from_counts(self.tp, self.fp, self.fn, empty)
        if self.band_gt is not None:
            out.update(M.boundary_from_counts(self.band_gt, self.band_pred, self.band_hit, empty))
        return out
