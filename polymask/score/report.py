"""The score report: what ``polymask score --json`` writes, as pydantic models.

Undefined values are ``null`` (strict JSON has no NaN). The two aggregates are named as on the
command line: ``global`` (metrics of the confusion summed over all images) and
``mean-per-image`` (per-class metrics of each image averaged over the images where they are
defined, as nnU-Net reports).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt

Aggregate = Literal["global", "mean-per-image"]
AGGREGATES: tuple[Aggregate, ...] = ("global", "mean-per-image")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Metrics(_Model):
    """One set of values; null where undefined (see ``empty`` in the report)."""

    dice: float | None
    iou: float | None
    precision: float | None
    recall: float | None
    boundary_dice: float | None = None
    boundary_iou: float | None = None


class Aggregates(_Model):
    global_: Metrics = Field(alias="global")
    mean_per_image: Metrics = Field(alias="mean-per-image")

    def get(self, aggregate: Aggregate) -> Metrics:
        return self.global_ if aggregate == "global" else self.mean_per_image


class SurfaceScore(_Model):
    """Surface distances of one class, each the mean over the images (cases) where it is
    defined and finite; in the units of the voxel spacing."""

    hd: float | None
    hd95: float | None
    assd: float | None
    surface_dice: float | None = Field(
        description="At the tolerance; 0 in an image where only one mask holds the class."
    )
    images: int = Field(description="Images where both masks hold the class (distances defined).")
    one_sided: int = Field(
        description="Images where only one mask holds the class: infinite distances, left out "
        "of the distance means."
    )


class ClassScore(_Model):
    id: int
    name: str
    foreground: bool = Field(description="Whether the class enters the means over classes.")
    tp: int
    fp: int
    fn: int
    gt_pixels: int
    pred_pixels: int
    images_with_class: int = Field(description="Images whose ground truth holds the class.")
    metrics: Aggregates
    surface: SurfaceScore | None = Field(
        None, description="Surface distances (--surface); null without them, and for background."
    )


class ImageSurface(_Model):
    """One image's surface distances per class, in class-id order (num_classes values each),
    in the units of the voxel spacing: what finds the worst case by HD95.

    Null where a value is undefined (background, a class absent from both masks) or infinite
    (a class in one mask only, which strict JSON cannot write): there ``surface_dice`` is 0,
    so a null distance beside a surface Dice of 0 marks a one-sided case."""

    hd: list[float | None]
    hd95: list[float | None]
    assd: list[float | None]
    surface_dice: list[float | None]


class ImageScore(_Model):
    key: str = Field(description="Path relative to the folders, without extension.")
    mean_dice: float | None
    mean_iou: float | None
    tp: list[NonNegativeInt] = Field(
        description="True positives per class, in class-id order (num_classes values): with "
        "fp and fn, what a later run needs to use this report as its --baseline."
    )
    fp: list[NonNegativeInt] = Field(description="False positives per class, as tp.")
    fn: list[NonNegativeInt] = Field(description="False negatives per class, as tp.")
    surface: ImageSurface | None = Field(
        None, description="Surface distances per class (--surface); null without them."
    )


class NotMask(_Model):
    """A file named as an image or an array that is not read as a mask, and why."""

    file: str
    reason: str


class ProblemEntry(_Model):
    file: str
    message: str
    path: str = Field(default="", description="Where in the file (a JSON path), if anywhere.")
    code: str = "PM000"
    line: int | None = None
    column: int | None = None

    def problem(self):
        """As the :class:`~polymask.errors.Problem` it was made from (to render it alike)."""
        from polymask.errors import Problem

        return Problem(self.file, self.message, self.path, self.code, self.line, self.column)


class GateResult(_Model):
    name: str = Field(
        description="'mean dice', 'dice of CLASS', 'regression of mean dice' or "
        "'regression of dice of CLASS'."
    )
    kind: Literal["threshold", "regression"] = Field(
        "threshold",
        description="threshold: value is a Dice, passed when >= threshold. regression: value "
        "is the Dice change against the baseline and threshold minus the tolerated drop; failed "
        "when value < threshold and the change's 95% interval lies below zero.",
    )
    aggregate: Aggregate
    threshold: float
    value: float | None
    ci_low: float | None = Field(None, description="Regression gates: 95% interval of value.")
    ci_high: float | None = Field(None, description="Regression gates: 95% interval of value.")
    passed: bool


class Settings(_Model):
    num_classes: int
    ignore_index: int | None
    empty: Literal["nan", "one", "zero"]
    include_background: bool
    missing: Literal["error", "zero", "skip"]
    pred_ignore: Literal["error", "exclude"] = Field(
        "error",
        description="Prediction pixels holding the ignore index: an error, or left out of "
        "scoring (exclude).",
    )
    boundary: float | None = Field(
        description="Band width: pixels when >= 1, else a fraction of the image diagonal."
    )
    surface_tolerance: float | None = Field(
        None, description="--surface: the surface Dice tolerance, in spacing units."
    )
    surface_percentile: float | None = Field(None, description="--surface: the hd95 percentile.")


class RegressionRow(_Model):
    """The Dice of one class (or the mean over classes) against the baseline's."""

    id: int | None = Field(description="Class id; null for the mean over classes.")
    name: str = Field(description="Class name, or 'mean'.")
    foreground: bool = Field(description="Whether the class enters the mean (and is gated).")
    baseline: float | None = Field(description="Dice of the baseline on the images compared.")
    current: float | None = Field(description="Dice of this run on the images compared.")
    delta: float | None = Field(description="current - baseline; null when either is undefined.")
    ci_low: float | None = Field(
        description="2.5th percentile of the bootstrap deltas; null without an interval."
    )
    ci_high: float | None = Field(description="97.5th percentile of the bootstrap deltas.")
    replicates_defined: int = Field(description="Bootstrap replicates whose delta is defined.")
    worse: bool = Field(
        description="delta < -tolerance (0 without a gate) and ci_high < 0; without an "
        "interval (bootstrap 0), the drop alone."
    )


class Regression(_Model):
    """This run against a baseline, image by image: Dice changes with paired bootstrap intervals.

    Both runs are evaluated on the images scored in both, under this report's settings and
    aggregate. An interval is the 2.5th and 97.5th percentiles (numpy's 'linear' method) of
    the deltas of ``bootstrap`` replicates, each computed on the same resample of those images
    for both runs. Replicates where a delta is undefined (a class absent from every image
    drawn, with empty = nan) are left out; with fewer than 95% of replicates defined the
    interval is null, since the missing ones would then outweigh both tails together.
    """

    baseline: str = Field(description="The baseline as given: a report file or a folder.")
    source: Literal["report", "predictions"]
    aggregate: Aggregate
    images_compared: int
    only_in_baseline: list[str] = Field(description="Images scored there and not here.")
    only_in_current: list[str] = Field(description="Images scored here and not there.")
    ground_truth_changed: list[str] = Field(
        description="Images compared whose ground-truth pixel count of some class differs "
        "between the runs: their ground truth changed in between."
    )
    bootstrap: int = Field(description="Bootstrap replicates; 0: no intervals.")
    seed: int
    tolerance: float | None = Field(description="--fail-on-regression: the drop tolerated.")
    mean: RegressionRow
    classes: list[RegressionRow]


class ScoreReport(_Model):
    """The result of scoring a folder of predictions against a folder of ground truth."""

    polymask_version: str
    preds: str
    gt: str
    settings: Settings
    images_scored: int
    missing_predictions: list[str]
    extra_predictions: list[str]
    not_masks: list[NotMask] = Field(
        default_factory=list,
        description="Files beside the masks that are not masks (photos, GIFs, arrays of "
        "scores), listed with the reason; an error instead where one stands for a scored key.",
    )
    problems: list[ProblemEntry]
    summary: Aggregates = Field(description="Means over the foreground classes.")
    classes: list[ClassScore]
    worst: list[ImageScore] = Field(description="Images of lowest mean Dice, worst first.")
    images: list[ImageScore]
    gates: list[GateResult]
    passed: bool = Field(description="Every gate passed.")
    regression: Regression | None = Field(
        None, description="Against a baseline (--baseline); null without one."
    )
    confusion: list[list[int]] | None = Field(
        None,
        description="Pixels of each (true class, predicted class), rows true, summed over the "
        "images with a prediction (--confusion); null when not asked for.",
    )
