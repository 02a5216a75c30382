"""GeoJSON FeatureCollections of Polygon and MultiPolygon features, in pixels or in a CRS.

Coordinates are pixels (x right, y down) unless ``--reference`` names a georeferenced raster:
then they are world coordinates in the reference's CRS (or in the CRS a legacy ``crs`` member
names, reprojected), mapped to the reference's pixels by the inverse of its affine transform,
and the mask takes the reference's size. Interior rings are holes; the polygons of one
MultiPolygon are one instance. Features without geometry are skipped; other geometry types
(points, lines, collections) are refused, as they have no area.

The label property holds names, or class ids: whole numbers (``"class": 3``, as land-cover
exports write them), which the file declares as its categories so that 3 is the pixel value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from polymask.errors import AnnotationError, Problem
from polymask.formats.common import JsonReporter, image_size, json_path, parse_problems, read_text
from polymask.formats.options import FormatOptions, label_key
from polymask.limits import MAX_COORD, check_size
from polymask.model import ImageAnnotation, Shape

MAX_WORLD = 1e12
"""Largest world coordinate accepted: beyond any projected CRS, but finite."""
WorldCoord = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_WORLD, le=MAX_WORLD)]
Position = Annotated[
    list[WorldCoord], Field(min_length=2, description="x, y (and an altitude, ignored)")
]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MAX_CLASS_ID = 65535
"""Largest numeric class: a 16-bit mask's largest pixel value (0 is the background)."""


def _ring(ring: list) -> list:
    if tuple(ring[0][:2]) != tuple(ring[-1][:2]):
        raise ValueError("a linear ring must end where it starts")
    return ring


Ring = Annotated[
    list[Position], Field(min_length=4, description="closed: the last position equals the first")
]


class PolygonGeometry(BaseModel):
    type: Literal["Polygon"]
    coordinates: list[Ring] = Field(min_length=1, description="exterior ring, then holes")
    bbox: list[float] | None = None

    @field_validator("coordinates")
    @classmethod
    def _rings(cls, rings):
        return [_ring(r) for r in rings]


class MultiPolygonGeometry(BaseModel):
    type: Literal["MultiPolygon"]
    coordinates: list[Annotated[list[Ring], Field(min_length=1)]]
    bbox: list[float] | None = None

    @field_validator("coordinates")
    @classmethod
    def _rings(cls, polygons):
        return [[_ring(r) for r in rings] for rings in polygons]


_TAGS = frozenset({"Polygon", "MultiPolygon"})


def _geometry_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) else None


Geometry = Annotated[
    Annotated[PolygonGeometry, Tag("Polygon")]
    | Annotated[MultiPolygonGeometry, Tag("MultiPolygon")],
    Discriminator(_geometry_tag),
]


class Feature(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["Feature"]
    geometry: Geometry | None
    properties: dict[str, Any] | None = None
    id: str | int | None = None


class FeatureCollection(BaseModel):
    """A GeoJSON FeatureCollection (RFC 7946), with the legacy ``crs`` member read if present."""

    model_config = ConfigDict(extra="allow", title="GeoJSON annotation")

    type: Literal["FeatureCollection"]
    features: list[Feature]
    crs: dict[str, Any] | None = Field(default=None, description="legacy (2008) CRS member")
    bbox: list[float] | None = None

    @model_validator(mode="before")
    @classmethod
    def _collection(cls, value: Any) -> Any:
        kind = value.get("type") if isinstance(value, dict) else None
        if kind in ("Feature", "Polygon", "MultiPolygon"):
            raise ValueError(f"a bare {kind} is not read: wrap it in a FeatureCollection")
        return value


def looks_like(head: str) -> bool:
    """Whether the start of a file reads as GeoJSON (for format detection)."""
    import re

    return re.search(r'"type"\s*:\s*"(FeatureCollection|Feature)"', head) is not None


def parse(
    text: str, file: str, strict: bool = False, partial: bool = False
) -> tuple[FeatureCollection, list[Problem]]:
    """The collection, and the validation errors of its features that failed.

    Without ``partial`` any error raises :class:`AnnotationError`. With it, a feature that
    fails validation is kept as its raw JSON value and its errors are returned; only errors
    outside every feature (the text is not JSON, not a FeatureCollection) still raise.
    """
    try:
        return FeatureCollection.model_validate_json(text, strict=strict), []
    except ValidationError as exc:
        problems = parse_problems(text, file, exc, _TAGS, frozenset({"geometry"}))
        if not partial or not all(_in_a_feature(tuple(e["loc"])) for e in exc.errors()):
            raise AnnotationError(problems) from None
    return _TolerantCollection.model_validate_json(text, strict=strict), problems


def _in_a_feature(loc: tuple) -> bool:
    return len(loc) > 1 and loc[0] == "features" and isinstance(loc[1], int)


class _TolerantCollection(FeatureCollection):
    """A collection whose features that fail validation are kept as their raw JSON values."""

    features: list[Annotated[Feature | Any, Field(union_mode="left_to_right")]]


def load(
    path: Path,
    key: str,
    root: Path,
    strict: bool = False,
    options: FormatOptions | None = None,
    problems: list[Problem] | None = None,
) -> list[ImageAnnotation]:
    """Read a FeatureCollection into one :class:`ImageAnnotation`.

    The file is one image, so with ``problems`` (a list) an error of a feature, or of the
    image's size or reference, is an error of that image: it is returned with the error on
    its ``errors`` (at size 0x0 when its size is not known) instead of raised. Only a file
    that cannot be read at all (not JSON, not a FeatureCollection) still raises.
    """
    options = options or FormatOptions()
    file = str(path)
    text = read_text(path)
    partial = problems is not None
    doc, errors = parse(text, file, strict, partial)
    site = JsonReporter(text, file)

    def image(width, height, image_path=None, shapes=(), categories=None) -> ImageAnnotation:
        return ImageAnnotation(
            format="geojson",
            source=file,
            key=key,
            width=width,
            height=height,
            image_path=image_path,
            shapes=tuple(shapes),
            errors=tuple(errors),
            categories=categories,
        )

    try:
        to_pixels, (width, height), image_path = _frame(doc, path, site, options)
    except AnnotationError as exc:
        if not partial:
            raise
        errors.extend(exc.problems)
        return [image(0, 0)]
    features = [f for f in doc.features if isinstance(f, Feature)]  # the rest failed validation
    prop = label_key(options.label_property, ((f.properties or {}).keys() for f in features))
    drawn = [
        (i, f)
        for i, f in enumerate(doc.features)
        if isinstance(f, Feature) and f.geometry is not None
    ]
    labels, categories = _labels(drawn, prop, site)
    shapes = []
    for i, feature in drawn:
        label = labels[i]
        if isinstance(label, Problem):
            errors.append(label)
            continue
        try:
            shapes.extend(_to_shapes(feature, label, ("features", i), to_pixels, site))
        except AnnotationError as exc:
            errors.extend(exc.problems)
    if not errors and options.reference and shapes and not _any_inside(shapes, width, height):
        msg = (
            f"no feature overlaps the reference {options.reference} "
            "(are the coordinates in its CRS?)"
        )
        errors.append(site.problem(("features",), msg, "PM027"))
    if errors and not partial:
        raise AnnotationError(errors)
    return [image(width, height, image_path, shapes, categories)]


def _frame(doc: FeatureCollection, path: Path, site: JsonReporter, options: FormatOptions):
    """(coordinate mapping to pixels, image size, image path) for this file and options."""
    if options.reference:
        from polymask.io.geotiff import reference_frame

        try:
            frame = reference_frame(options.reference)
        except ValueError as exc:
            raise AnnotationError([Problem(site.file, str(exc), code="PM028")]) from None
        src_crs = _legacy_crs(doc, site)

        def to_pixels(rings):
            try:
                return frame.to_pixels(rings, src_crs)
            except ValueError as exc:
                raise site.error(("crs",), str(exc), "PM028") from None

        return to_pixels, (frame.width, frame.height), options.reference
    if options.image_size is not None:
        return _identity, options.image_size, None
    for suffix in IMAGE_SUFFIXES:
        candidate = path.with_suffix(suffix)
        if candidate.is_file():
            width, height = image_size(candidate, site.file, "")
            reason = check_size(width, height)
            if reason:
                raise AnnotationError([Problem(site.file, f"{candidate}: {reason}", code="PM021")])
            return _identity, (width, height), str(candidate)
    msg = (
        "the image size is unknown: give --image-size WxH (pixel coordinates), --reference "
        "image.tif (world coordinates), or put the image next to the file with the same name"
    )
    raise AnnotationError([Problem(site.file, msg, code="PM024")])


def _identity(rings: list[np.ndarray]) -> list[np.ndarray]:
    return rings


def _legacy_crs(doc: FeatureCollection, site: JsonReporter) -> str | None:
    """The CRS named by a 2008-style ``crs`` member, or None (then the reference's CRS)."""
    if doc.crs is None:
        return None
    props = doc.crs.get("properties")
    name = props.get("name") if isinstance(props, dict) else None
    if doc.crs.get("type") != "name" or not isinstance(name, str):
        msg = 'only {"type": "name", "properties": {"name": ...}} is understood'
        raise site.error(("crs",), msg, "PM028")
    return name


def _labels(
    features: list[tuple[int, Feature]], prop: str, site: JsonReporter
) -> tuple[dict[int, str | Problem], tuple[tuple[int, str], ...] | None]:
    """Each feature's label, or the problem that keeps it from having one, by index; and the
    class ids when the labels are numbers.

    A file's labels are all names or all numbers, as its first label is. Numbers are class
    ids, as land-cover exports give them (``"class": 3``): whole numbers in 1..65535, whose
    label is the number as text and whose pixel value is the number itself, through the
    categories returned ((id, name) pairs, sorted; None for names).
    """
    labels: dict[int, str | Problem] = {}
    ids: set[int] = set()
    first: tuple[int, bool] | None = None  # the first label's feature, and whether a number
    for i, feature in features:
        loc = ("features", i, "properties", prop)
        props = feature.properties or {}
        if prop not in props:
            known = ", ".join(sorted(props)) or "none"
            msg = (
                f"no property {prop!r} to take the label from (properties: {known}); "
                "choose one with --label-property"
            )
            labels[i] = site.problem(loc[:-1], msg, "PM026")
            continue
        value = props[prop]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number and not (isinstance(value, str) and value.strip()):
            labels[i] = site.problem(loc, f"property {prop!r} is {value!r}, not a label", "PM026")
            continue
        if first is None:
            first = (i, number)
        if number != first[1]:
            kinds = ("a number", "a name") if number else ("a name", "a number")
            msg = (
                f"property {prop!r} is {value!r}, {kinds[0]} where features[{first[0]}] has "
                f"{kinds[1]}: the labels of a file are all class ids or all names"
            )
            labels[i] = site.problem(loc, msg, "PM026")
        elif not number:
            labels[i] = value
        elif isinstance(value, float) and not value.is_integer():
            msg = f"property {prop!r} is {value!r}: a numeric label is a class id, a whole number"
            labels[i] = site.problem(loc, msg, "PM026")
        elif not 1 <= value <= MAX_CLASS_ID:
            msg = f"property {prop!r} is {value!r}: a class id is in 1..{MAX_CLASS_ID}"
            labels[i] = site.problem(loc, msg, "PM026")
        else:
            labels[i] = str(int(value))
            ids.add(int(value))
    if first is None or not first[1]:
        return labels, None
    return labels, tuple((c, str(c)) for c in sorted(ids))


def _to_shapes(
    feature: Feature, label: str, loc: tuple, to_pixels, site: JsonReporter
) -> list[Shape]:
    """One polygon shape per polygon; the polygons of a feature share its instance."""
    geom = feature.geometry
    polygons = [geom.coordinates] if geom.type == "Polygon" else geom.coordinates
    group = feature.id if feature.id is not None else json_path(loc)
    shapes = []
    for p, rings in enumerate(polygons):
        ploc = (*loc, "geometry", "coordinates") + ((p,) if geom.type == "MultiPolygon" else ())
        arrays = to_pixels([np.asarray([pos[:2] for pos in ring], dtype=float) for ring in rings])
        if any(not np.all(np.isfinite(a)) or np.abs(a).max() > MAX_COORD for a in arrays):
            msg = f"coordinates fall far outside the image (beyond {MAX_COORD:.0f} px)"
            raise site.error(ploc, msg, "PM014")
        exterior, *holes = (tuple(map(tuple, a[:-1].tolist())) for a in arrays)
        shape = Shape(
            kind="polygon",
            label=label,
            points=exterior,
            holes=tuple(holes),
            group=group,
            where=json_path(ploc),
        )
        shapes.append(shape)
    return shapes


def _any_inside(shapes: list[Shape], width: int, height: int) -> bool:
    for s in shapes:
        a = np.asarray(s.points)
        if (
            a[:, 0].max() > 0
            and a[:, 0].min() < width
            and a[:, 1].max() > 0
            and a[:, 1].min() < height
        ):
            return True
    return False
