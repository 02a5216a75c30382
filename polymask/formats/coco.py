"""COCO instances JSON: the pydantic schema, referential checks and the canonical model.

One file describes many images. Each annotation's ``segmentation`` is a list of polygons (flat
``[x1, y1, x2, y2, ...]`` lists), an uncompressed RLE (``counts`` a list) or a compressed RLE
(``counts`` a string). Categories map to classes by name, so their ids need not be contiguous.

In the canonical model an annotation with several polygons becomes several polygon shapes with
the annotation's id as their group (one instance); an RLE becomes a ``mask`` shape cropped to
its bounding box. Crowd annotations (``iscrowd: 1``) are burned as their category, as
``annToMask`` does, or as the ignore index with ``--crowd ignore``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Union

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    model_validator,
)

from polymask.errors import AnnotationError, Problem
from polymask.formats.common import JsonReporter, parse_problems, read_text, resolve_image
from polymask.formats.detect import sniff_json
from polymask.formats.options import FormatOptions, image_key
from polymask.formats.rle import RleError, counts_to_mask, string_to_counts
from polymask.labels import IGNORE
from polymask.limits import MAX_COORD, MAX_SIDE, MAX_STEPS, SCALE, check_size, polygon_steps
from polymask.model import ImageAnnotation, Shape

Coord = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORD, le=MAX_COORD)]
Side = Annotated[int, Field(gt=0, le=MAX_SIDE)]
Id = Union[int, str]  # noqa: UP007 (pydantic reads the union at runtime)

BBOX_TOLERANCE = 2.0
"""Pixels a bbox side may differ from the segmentation's bounds before a warning."""
AREA_TOLERANCE = 0.1
"""Relative difference of ``area`` from the segmentation's area before a warning."""


class CocoImage(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: Id
    file_name: str = Field(min_length=1)
    width: Side
    height: Side

    @model_validator(mode="after")
    def _area(self) -> CocoImage:
        reason = check_size(self.width, self.height)
        if reason:
            raise ValueError(reason)
        return self


class CocoCategory(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    name: str = Field(min_length=1)
    supercategory: str | None = None


class CocoRle(BaseModel):
    """Run-length encoded mask: ``size`` is [height, width]; ``counts`` list or string."""

    model_config = ConfigDict(extra="allow")

    size: tuple[Side, Side]
    counts: list[Annotated[int, Field(ge=0, lt=1 << 32)]] | str


def _pairs(polygon: list[float]) -> list[float]:
    if len(polygon) % 2:
        raise ValueError(f"a polygon is a flat list of x, y pairs, got {len(polygon)} numbers")
    return polygon


Polygon = Annotated[list[Coord], Field(min_length=6), AfterValidator(_pairs)]


def _segmentation_kind(value: Any) -> str | None:
    if isinstance(value, (list, CocoRle)):
        return "polygon-list" if isinstance(value, list) else "rle-object"
    if isinstance(value, dict):
        return "rle-object"
    return None


Segmentation = Annotated[
    Union[Annotated[list[Polygon], Tag("polygon-list")], Annotated[CocoRle, Tag("rle-object")]],  # noqa: UP007
    Discriminator(
        _segmentation_kind,
        custom_error_type="segmentation_type",
        custom_error_message="segmentation must be a list of polygons or an RLE object",
    ),
]
_HIDDEN_TAGS = frozenset({"polygon-list", "rle-object"})


class CocoAnnotation(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: Id | None = None
    image_id: Id
    category_id: int
    segmentation: Segmentation | None = None
    area: Annotated[float, Field(allow_inf_nan=False, ge=0)] | None = None
    bbox: Annotated[list[Coord], Field(min_length=4, max_length=4)] | None = None
    iscrowd: int = Field(default=0, ge=0, le=1)


class CocoFile(BaseModel):
    """A COCO instances file (``instances_*.json``): images, annotations, categories."""

    model_config = ConfigDict(extra="allow", title="COCO instances")

    images: list[CocoImage]
    annotations: list[CocoAnnotation]
    categories: list[CocoCategory]


def looks_like(head: str) -> bool:
    """Whether the start of a file reads as COCO JSON (for format detection)."""
    return sniff_json(head) == "coco"


def parse(text: str, file: str, strict: bool = False) -> CocoFile:
    try:
        return CocoFile.model_validate_json(text, strict=strict)
    except ValidationError as exc:
        raise AnnotationError(parse_problems(text, file, exc, hidden=_HIDDEN_TAGS)) from None


def load(
    path: Path, key: str, root: Path, strict: bool = False, options: FormatOptions | None = None
) -> list[ImageAnnotation]:
    """Read a COCO file into one :class:`ImageAnnotation` per image, in the file's image order.

    Raises :class:`AnnotationError` with every error found; warnings (bbox or area that do not
    match the segmentation, annotations without segmentation) ride on the annotations.
    """
    file = str(path)
    text = read_text(path)
    doc = parse(text, file, strict)
    report = JsonReporter(text, file)

    categories: dict[int, str] = {}
    for i, cat in enumerate(doc.categories):
        if cat.id in categories:
            report.add(("categories", i, "id"), f"category id {cat.id} is used twice", "PM040")
        categories.setdefault(cat.id, cat.name)

    images: dict[Id, int] = {}
    keys: dict[str, int] = {}
    for i, img in enumerate(doc.images):
        if img.id in images:
            report.add(("images", i, "id"), f"image id {img.id!r} is used twice", "PM041")
            continue
        images[img.id] = i
        try:
            k = image_key(key, img.file_name)
        except ValueError as exc:
            report.add(("images", i, "file_name"), f"file_name {img.file_name!r} {exc}", "PM042")
            continue
        if k in keys:
            report.add(
                ("images", i, "file_name"),
                f"file_name gives the output name {k!r}, as images[{keys[k]}] does",
                "PM043",
            )
        else:
            keys[k] = i

    shapes: list[list[Shape]] = [[] for _ in doc.images]
    warnings: list[list[Problem]] = [[] for _ in doc.images]
    for i, ann in enumerate(doc.annotations):
        where = ("annotations", i)
        n = len(report.problems)
        img_index = images.get(ann.image_id)
        if img_index is None:
            report.add((*where, "image_id"), f"image_id {ann.image_id!r} is not in images", "PM044")
        if ann.category_id not in categories:
            report.add(
                (*where, "category_id"),
                f"category_id {ann.category_id} is not in categories",
                "PM045",
            )
        if len(report.problems) > n:
            continue
        img = doc.images[img_index]
        label = categories[ann.category_id]
        if ann.iscrowd and options is not None and options.crowd == "ignore":
            label = IGNORE
        group = ann.id if ann.id is not None else f"annotations[{i}]"
        made = _shapes(ann, where, label, group, img.width, img.height, report)
        shapes[img_index].extend(made)
        _check_box(ann, where, made, report)
        warnings[img_index].extend(report.problems[n:])

    if report.errors:
        raise AnnotationError(report.problems)
    out = []
    for k, i in keys.items():
        img = doc.images[i]
        image_file = resolve_image(path, img.file_name, root)
        out.append(
            ImageAnnotation(
                format="coco",
                source=file,
                key=k,
                width=img.width,
                height=img.height,
                image_path=str(image_file) if image_file is not None else None,
                shapes=tuple(shapes[i]),
                warnings=tuple(warnings[i]),
            )
        )
    return out


def _shapes(
    ann: CocoAnnotation,
    where: tuple,
    label: str,
    group,
    width: int,
    height: int,
    report: JsonReporter,
) -> list[Shape]:
    seg = ann.segmentation
    if seg is None or (isinstance(seg, list) and not seg):
        report.add(where, "annotation has no segmentation: nothing to draw", "PM046", "warning")
        return []
    if isinstance(seg, list):
        shapes = []
        for j, flat in enumerate(seg):
            xs, ys = flat[0::2], flat[1::2]
            extent = max(max(xs) - min(xs), max(ys) - min(ys))
            bound = len(xs) * (SCALE * extent + 2)  # no edge walks more steps than this
            if bound > MAX_STEPS and polygon_steps(np.column_stack([xs, ys])) > MAX_STEPS:
                report.add(
                    (*where, "segmentation", j),
                    f"polygon outline is too long to rasterize (over {MAX_STEPS // 5} px)",
                    "PM047",
                )
                continue
            # the schema has checked every coordinate: no second validation as a Shape
            shapes.append(
                Shape.from_validated(
                    label,
                    "polygon",
                    tuple(zip(xs, ys, strict=True)),
                    group=group,
                    where=f"annotations[{where[1]}].segmentation[{j}]",
                )
            )
        return shapes
    h, w = seg.size
    if (h, w) != (height, width):
        report.add(
            (*where, "segmentation", "size"),
            f"RLE size is {h}x{w} (height x width) but the image is {height}x{width}",
            "PM048",
        )
        return []
    try:
        counts = string_to_counts(seg.counts) if isinstance(seg.counts, str) else seg.counts
        mask = counts_to_mask(counts, h, w)
    except RleError as exc:
        report.add((*where, "segmentation", "counts"), f"bad RLE: {exc}", "PM049")
        return []
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size:
        patch = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
        corner = (float(cols[0]), float(rows[0]))
    else:
        patch, corner = np.zeros((0, 0), dtype=bool), (0.0, 0.0)
    return [
        Shape(
            label=label,
            kind="mask",
            points=(corner,),
            mask=patch,
            group=group,
            where=f"annotations[{where[1]}].segmentation",
        )
    ]


def _check_box(
    ann: CocoAnnotation, where: tuple, shapes: list[Shape], report: JsonReporter
) -> None:
    """Warn when ``bbox`` or ``area`` disagree with the segmentation (COCO derives both from it)."""
    if not shapes:
        return
    if shapes[0].kind == "mask":
        (x0, y0), patch = shapes[0].points[0], shapes[0].mask
        bounds = (x0, y0, x0 + patch.shape[1], y0 + patch.shape[0]) if patch.size else None
        area = float(np.count_nonzero(patch))
    else:
        xs = [x for s in shapes for x, _ in s.points]
        ys = [y for s in shapes for _, y in s.points]
        bounds = (min(xs), min(ys), max(xs), max(ys))
        area = sum(_shoelace(np.asarray(s.points)) for s in shapes) if ann.area is not None else 0
    if ann.bbox is not None and bounds is not None:
        x, y, bw, bh = ann.bbox
        box = (x, y, x + bw, y + bh)
        off = max(abs(a - b) for a, b in zip(box, bounds, strict=True))
        if bw < 0 or bh < 0 or off > BBOX_TOLERANCE:
            shown = (
                "["
                + ", ".join(
                    f"{v:g}"
                    for v in (bounds[0], bounds[1], bounds[2] - bounds[0], bounds[3] - bounds[1])
                )
                + "]"
            )
            report.add(
                (*where, "bbox"),
                f"bbox {ann.bbox} does not match the segmentation's bounds {shown}",
                "PM050",
                "warning",
            )
    if ann.area is not None and abs(ann.area - area) > max(AREA_TOLERANCE * area, 2.0):
        report.add(
            (*where, "area"),
            f"area {ann.area:g} does not match the segmentation's area {area:g}",
            "PM051",
            "warning",
        )


def _shoelace(xy: np.ndarray) -> float:
    x, y = xy[:, 0], xy[:, 1]
    twice = x[:-1] @ y[1:] - y[:-1] @ x[1:] + x[-1] * y[0] - y[-1] * x[0]
    return abs(float(twice)) / 2
