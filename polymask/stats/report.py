"""The report ``polymask stats`` produces, as pydantic models, and the CI gates checked on it.

The models are the JSON output (``--json``; ``schemas/stats-report.schema.json`` is generated
from :class:`StatsReport`) and the input of every renderer, so the table, CSV and Markdown
cannot say something the JSON does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Source = Literal["masks", "annotations"]


class ObjectArea(BaseModel):
    """Pixels per object (instance) of a class, over the dataset."""

    min: int
    median: float
    max: int


class ClassWeights(BaseModel):
    """Class weights, each scaled to mean 1 over present classes; 0 for an absent class."""

    inverse_frequency: float
    median_frequency: float
    effective_number: float
    generalized_dice: float


class ClassStats(BaseModel):
    id: int
    name: str | None = Field(description="from the label map; null when there is none")
    in_label_map: bool
    pixels: int
    fraction: float = Field(description="of all non-ignore pixels")
    images: int = Field(description="images with at least one pixel of the class")
    mean_fraction_where_present: float | None = Field(
        description="mean over the images that contain the class of its fraction of the image"
    )
    instances: int | None = Field(default=None, description="objects (annotations only)")
    object_area: ObjectArea | None = Field(default=None, description="annotations only")
    weights: ClassWeights


class ImageSize(BaseModel):
    width: int
    height: int
    images: int


class GateResult(BaseModel):
    gate: str
    passed: bool
    message: str


class ProblemEntry(BaseModel):
    """An input that could not be counted (the other files were)."""

    file: str
    message: str
    path: str = ""
    line: int | None = None
    code: str = "PM000"


class StatsReport(BaseModel):
    """``polymask stats --json``: label statistics, class weights, advice and gate results."""

    model_config = ConfigDict(title="polymask stats report")

    source: Source
    images: int
    files_failed: int
    image_sizes: list[ImageSize] = Field(description="most common first")
    pixels: int = Field(description="non-ignore pixels")
    ignore_index: int
    ignore_pixels: int
    ignore_images: int
    classes: list[ClassStats] = Field(description="by id: label-map classes and values seen")
    classes_absent: list[int] | None = Field(
        description="label-map ids without a pixel; null without a label map"
    )
    imbalance_ratio: float | None = Field(description="largest / smallest non-zero class pixels")
    imbalance_ratio_foreground: float | None = Field(description="the same without class 0")
    normalized_entropy: float | None = Field(description="entropy / log(number of classes)")
    effective_number_beta: float
    weight_vectors: dict[str, list[float]] = Field(
        description="per scheme, weights indexed by class id 0..max id (0 where no class)"
    )
    advice: list[str]
    gates: list[GateResult] = Field(default_factory=list)
    problems: list[ProblemEntry] = Field(default_factory=list)

    def class_name(self, class_id: int) -> str:
        for c in self.classes:
            if c.id == class_id and c.name:
                return c.name
        return f"class {class_id}"


@dataclass(frozen=True)
class Gates:
    """Limits a CI run sets; None means not checked."""

    max_imbalance: float | None = None
    max_foreground_imbalance: float | None = None
    min_images_per_class: int | None = None
    require_all_classes: bool = False


def check_gates(report: StatsReport, gates: Gates) -> list[GateResult]:
    """One result per gate set, each saying what was measured against what was asked."""
    results = []
    for flag, limit, ratio, what in (
        ("--max-imbalance", gates.max_imbalance, report.imbalance_ratio, "imbalance"),
        (
            "--max-foreground-imbalance",
            gates.max_foreground_imbalance,
            report.imbalance_ratio_foreground,
            "foreground imbalance",
        ),
    ):
        if limit is None:
            continue
        ok = ratio is None or ratio <= limit
        measured = "undefined (no pixels)" if ratio is None else f"1:{ratio:,.1f}"
        verb = "within" if ok else "exceeds"
        results.append(
            GateResult(
                gate=f"{flag} {limit:g}", passed=ok, message=f"{what} {measured} {verb} 1:{limit:g}"
            )
        )
    if gates.min_images_per_class is not None:
        n = gates.min_images_per_class
        short = [c for c in report.classes if c.images < n]
        listed = ", ".join(f"{report.class_name(c.id)!s} ({c.images})" for c in short)
        results.append(
            GateResult(
                gate=f"--min-images-per-class {n}",
                passed=not short,
                message=f"classes in fewer than {n} images: {listed}"
                if short
                else f"every class is in at least {n} image{'s' if n > 1 else ''}",
            )
        )
    if gates.require_all_classes:
        absent = report.classes_absent or []
        listed = ", ".join(report.class_name(i) for i in absent)
        results.append(
            GateResult(
                gate="--require-all-classes",
                passed=not absent,
                message=f"label-map classes never present: {listed}"
                if absent
                else "every label-map class is present",
            )
        )
    return results
