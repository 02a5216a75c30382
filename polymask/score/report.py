"""The score report: what ``polymask score --json`` writes, as pydantic models.

Undefined values are ``null`` (strict JSON has no NaN). The two aggregates are named as on the
command line: ``global`` (metrics of the confusion summed over all images) and
``mean-per-image`` (per-class metrics of each image averaged over the images where they are
defined, as nnU-Net reports).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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


class ImageScore(_Model):
    key: str = Field(description="Path relative to the folders, without extension.")
    mean_dice: float | None
    mean_iou: float | None


class ProblemEntry(_Model):
    file: str
    message: str


class GateResult(_Model):
    name: str = Field(description="'mean dice' or 'dice of CLASS'.")
    aggregate: Aggregate
    threshold: float
    value: float | None
    passed: bool


class Settings(_Model):
    num_classes: int
    ignore_index: int | None
    empty: Literal["nan", "one", "zero"]
    include_background: bool
    missing: Literal["error", "zero", "skip"]
    boundary: float | None = Field(
        description="Band width: pixels when >= 1, else a fraction of the image diagonal."
    )


class ScoreReport(_Model):
    """The result of scoring a folder of predictions against a folder of ground truth."""

    polymask_version: str
    preds: str
    gt: str
    settings: Settings
    images_scored: int
    missing_predictions: list[str]
    extra_predictions: list[str]
    problems: list[ProblemEntry]
    summary: Aggregates = Field(description="Means over the foreground classes.")
    classes: list[ClassScore]
    worst: list[ImageScore] = Field(description="Images of lowest mean Dice, worst first.")
    images: list[ImageScore]
    gates: list[GateResult]
    passed: bool = Field(description="Every gate passed.")
