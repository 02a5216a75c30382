"""COCO results files: what detection and instance-segmentation models write.

A results file is a JSON list of detections, ``[{"image_id", "category_id", "segmentation",
"score"}, ...]``, where ``segmentation`` is an RLE (compressed string or uncompressed counts) or
a list of polygons, as in a COCO instances file. It names images by the ids of a ground-truth
instances file and classes by its category ids, so it is read together with that file:
:func:`load_results` checks each detection and groups them by image; :func:`results_annotation`
turns one image's detections into an :class:`~polymask.model.ImageAnnotation` that burns into a
class map like any annotation.

Overlaps are settled by confidence: detections are painted lowest score first, so the most
confident one owns a pixel (a model's own argmax over its instances would do the same). Ties
keep file order. Boxes alone cannot be scored as masks: a detection without a segmentation is
a problem named by its place in the file (``[12].segmentation``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from polymask.errors import AnnotationError, Problem
from polymask.formats.coco import CocoRle, Coord, Id, Segmentation, crop
from polymask.formats.common import json_path, read_text
from polymask.formats.rle import RleError, counts_to_mask, string_to_counts
from polymask.limits import MAX_STEPS, SCALE, polygon_steps
from polymask.model import ImageAnnotation, Shape

CODE = "PM053"
"""Problems of a results file (a detection that cannot be scored, an unknown image or class)."""


class CocoDetection(BaseModel):
    """One detection of a results file; other keys (``bbox``, ``area``, ``id``) are allowed."""

    model_config = ConfigDict(extra="allow", title="COCO detection")

    image_id: Id
    category_id: int
    segmentation: Segmentation
    score: Annotated[float, Field(allow_inf_nan=False)]
    bbox: Annotated[list[Coord], Field(min_length=4, max_length=4)] | None = None


class CocoResultsFile(RootModel[list[CocoDetection]]):
    """A COCO results file: a list of detections."""

    model_config = ConfigDict(title="COCO results")


_HIDDEN_TAGS = frozenset({"polygon-list", "rle-object"})


@dataclass(frozen=True)
class Detection:
    """A detection checked and kept for its image: small and picklable, to travel to workers."""

    index: int
    """Its place in the file's list (for messages)."""
    category_id: int
    score: float
    segmentation: CocoRle | list[list[float]]


@dataclass
class Results:
    """The detections of a results file, by image id, and what was wrong with the others."""

    path: Path
    by_image: dict[object, list[Detection]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    dropped: int = 0
    """Detections below the minimum score."""


def load_results(path: Path, min_score: float | None = None) -> Results:
    """The detections of a results file with a score of at least ``min_score``, grouped by
    image id. A detection that is malformed is a problem and is left out; a file that is not a
    JSON list raises :class:`AnnotationError`."""
    text = read_text(path)
    file = str(path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        msg = f"invalid JSON: {exc.msg}"
        problem = Problem(file, msg, code="PM001", line=exc.lineno, column=exc.colno)
        raise AnnotationError([problem]) from None
    except RecursionError:
        raise AnnotationError(
            [Problem(file, "invalid JSON: nested too deeply", code="PM001")]
        ) from None
    if not isinstance(raw, list):
        msg = (
            "not a COCO results file: expected a list of detections "
            "[{image_id, category_id, segmentation, score}, ...]"
        )
        raise AnnotationError([Problem(file, msg, code=CODE)])
    results = Results(path)
    for i, detection in _checked(raw, file, results.problems):
        if min_score is not None and detection.score < min_score:
            results.dropped += 1
            continue
        results.by_image.setdefault(detection.image_id, []).append(
            Detection(i, detection.category_id, detection.score, detection.segmentation)
        )
    return results


def _checked(raw: list, file: str, problems: list[Problem]):
    """(index, detection) of every element that validates; the others become problems. The list
    is validated at once (pydantic reports every element's errors in one pass); only a list
    with errors is validated again element by element, to keep the good ones."""
    try:
        return list(enumerate(CocoResultsFile.model_validate(raw).root))
    except ValidationError as exc:
        bad: set[int] = set()
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if p not in _HIDDEN_TAGS)
            bad.add(loc[0])
            msg = "required field is missing" if err["type"] == "missing" else err["msg"]
            if loc[1:2] == ("segmentation",) and err["type"] == "missing":
                msg = "no segmentation: a box alone cannot be scored as a mask"
            problems.append(Problem(file, msg.removeprefix("Value error, "), json_path(loc), CODE))
    good = [i for i in range(len(raw)) if i not in bad]
    checked = CocoResultsFile.model_validate([raw[i] for i in good]).root
    return list(zip(good, checked, strict=True))


def results_annotation(
    detections: list[Detection],
    categories: dict[int, str],
    key: str,
    width: int,
    height: int,
    source: str,
) -> ImageAnnotation:
    """One image's detections as an annotation, painted lowest score first. Names come from
    the ground truth's ``categories``; a detection that does not fit the image (an RLE of
    another size, an unknown category, a polygon too long to draw) is an error of the image."""
    errors: list[Problem] = []
    shapes: list[Shape] = []
    for d in sorted(detections, key=lambda d: d.score):  # stable: ties keep file order
        where = f"[{d.index}]"
        label = categories.get(d.category_id)
        if label is None:
            msg = f"category_id {d.category_id} is not in the ground truth's categories"
            errors.append(Problem(source, msg, f"{where}.category_id", CODE))
            continue
        group = f"detections{where}"
        seg = d.segmentation
        if isinstance(seg, CocoRle):
            shape = _rle_shape(seg, label, group, width, height, source, where, errors)
            shapes += [shape] if shape is not None else []
            continue
        for k, flat in enumerate(seg):
            xy = np.asarray(flat, np.float64).reshape(-1, 2)
            extent = max(max(flat[0::2]) - min(flat[0::2]), max(flat[1::2]) - min(flat[1::2]))
            # no edge walks more than the extent: the exact count only for polygons near the cap
            bound = len(xy) * (SCALE * extent + 2)
            if bound > MAX_STEPS and polygon_steps(xy) > MAX_STEPS:
                msg = f"polygon outline is too long to rasterize (over {MAX_STEPS // 5} px)"
                errors.append(Problem(source, msg, f"{where}.segmentation[{k}]", CODE))
                continue
            shapes.append(
                Shape.from_validated(
                    label, "polygon", xy, group=group, where=f"{where}.segmentation[{k}]"
                )
            )
    return ImageAnnotation(
        format="coco",
        source=source,
        key=key,
        width=width,
        height=height,
        shapes=tuple(shapes),
        errors=tuple(errors),
    )


def _rle_shape(seg: CocoRle, label, group, width, height, source, where, errors) -> Shape | None:
    h, w = seg.size
    if (h, w) != (height, width):
        msg = f"RLE size is {h}x{w} (height x width) but the image is {height}x{width}"
        errors.append(Problem(source, msg, f"{where}.segmentation.size", CODE))
        return None
    try:
        counts = string_to_counts(seg.counts) if isinstance(seg.counts, str) else seg.counts
        mask = counts_to_mask(counts, h, w)
    except RleError as exc:
        errors.append(Problem(source, f"bad RLE: {exc}", f"{where}.segmentation.counts", CODE))
        return None
    cropped = crop(mask)
    if cropped is None:
        return None  # an empty mask paints nothing
    patch, corner = cropped
    return Shape(
        label=label,
        kind="mask",
        points=(corner,),
        mask=patch,
        group=group,
        where=f"{where}.segmentation",
    )
