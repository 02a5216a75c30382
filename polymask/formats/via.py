"""VGG Image Annotator (VIA) 2.x JSON: its pydantic schema and conversion to the canonical model.

Two exports are read: the project file (``_via_img_metadata`` inside, with settings and the
attribute definitions) and the plain annotations export (an object keyed by file name + size).
Regions are ``polygon``, ``rect``, ``circle``, ``ellipse`` (``theta`` in radians), ``polyline``
and ``point``; VIA 1.x region objects keyed "0", "1", ... are read too. The label is the value of
one region attribute. VIA files do not record image sizes: they come from ``--image-size`` or
from the image file's header.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    ValidationError,
    model_validator,
)

from polymask.errors import AnnotationError, Problem
from polymask.formats.common import MAX_COORD, image_size, read_text, resolve_image
from polymask.formats.options import FormatOptions, image_key, label_key, validation_problems
from polymask.model import ImageAnnotation, Shape

Coord = Annotated[float, Field(allow_inf_nan=False, ge=-MAX_COORD, le=MAX_COORD)]
Length = Annotated[float, Field(allow_inf_nan=False, ge=0, le=MAX_COORD)]


class _Region(BaseModel):
    model_config = ConfigDict(extra="allow")


class PolygonRegion(_Region):
    name: Literal["polygon"]
    all_points_x: list[Coord]
    all_points_y: list[Coord]

    @model_validator(mode="after")
    def _points(self):
        _check_points(self.all_points_x, self.all_points_y, 3, self.name)
        return self


class PolylineRegion(_Region):
    name: Literal["polyline"]
    all_points_x: list[Coord]
    all_points_y: list[Coord]

    @model_validator(mode="after")
    def _points(self):
        _check_points(self.all_points_x, self.all_points_y, 2, self.name)
        return self


class RectRegion(_Region):
    name: Literal["rect"]
    x: Coord
    y: Coord
    width: Length
    height: Length


class CircleRegion(_Region):
    name: Literal["circle"]
    cx: Coord
    cy: Coord
    r: Length


class EllipseRegion(_Region):
    name: Literal["ellipse"]
    cx: Coord
    cy: Coord
    rx: Length
    ry: Length
    theta: Annotated[float, Field(allow_inf_nan=False)] = Field(
        default=0.0, description="rotation in radians, clockwise on screen (VIA 2.0.x)"
    )


class PointRegion(_Region):
    name: Literal["point"]
    cx: Coord
    cy: Coord


def _check_points(xs: list[float], ys: list[float], least: int, name: str) -> None:
    if len(xs) != len(ys):
        raise ValueError(f"all_points_x has {len(xs)} values but all_points_y has {len(ys)}")
    if len(xs) < least:
        raise ValueError(f"a {name} needs at least {least} points, got {len(xs)}")


REGION_TYPES = {
    cls.model_fields["name"].annotation.__args__[0]: cls
    for cls in (PolygonRegion, PolylineRegion, RectRegion, CircleRegion, EllipseRegion, PointRegion)
}
_TAGS = frozenset(REGION_TYPES)


def _region_tag(value: Any) -> str | None:
    name = value.get("name") if isinstance(value, dict) else getattr(value, "name", None)
    return name if isinstance(name, str) else None


ShapeAttributes = Annotated[
    Union[tuple(Annotated[cls, Tag(tag)] for tag, cls in REGION_TYPES.items())],  # noqa: UP007
    Discriminator(_region_tag),
]


class Region(BaseModel):
    model_config = ConfigDict(extra="allow")

    shape_attributes: ShapeAttributes
    region_attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="text/radio/dropdown values are strings; checkbox values are {option: true}",
    )


class ViaImage(BaseModel):
    """One image's entry: VIA keys it by file name + file size."""

    model_config = ConfigDict(extra="allow")

    filename: str = Field(min_length=1)
    size: int | str | None = None
    regions: list[Region] | dict[str, Region] = Field(
        default_factory=list, description="a list (VIA 2) or an object keyed '0', '1', ... (VIA 1)"
    )
    file_attributes: dict[str, Any] = Field(default_factory=dict)


class ViaProject(BaseModel):
    """A VIA 2.x project file."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    via_settings: dict[str, Any] | None = Field(default=None, alias="_via_settings")
    via_img_metadata: dict[str, ViaImage] = Field(alias="_via_img_metadata")
    via_attributes: dict[str, Any] | None = Field(default=None, alias="_via_attributes")


ViaImages = RootModel[dict[str, ViaImage]]


class ViaFile(RootModel[Union[ViaProject, dict[str, ViaImage]]]):  # noqa: UP007
    """A VIA 2.x project file or annotations export (the JSON Schema of both)."""

    model_config = ConfigDict(title="VIA annotation")


def looks_like(head: str) -> bool:
    """Whether the start of a file reads as VIA JSON (for format detection)."""
    if "_via_img_metadata" in head or "_via_settings" in head:
        return True
    return '"filename"' in head and '"regions"' in head


def parse(
    text: str, file: str, strict: bool = False
) -> tuple[dict[str, ViaImage], ViaProject | None]:
    """The images of a VIA file (keyed as in the file) and the project around them, if any."""
    try:
        if '"_via_img_metadata"' in text:
            project = ViaProject.model_validate_json(text, strict=strict)
            return project.via_img_metadata, project
        return ViaImages.model_validate_json(text, strict=strict).root, None
    except ValidationError as exc:
        problems = validation_problems(text, file, exc, _TAGS, frozenset({"shape_attributes"}))
        raise AnnotationError(problems) from None


def load(
    path: Path, key: str, root: Path, strict: bool = False, options: FormatOptions | None = None
) -> list[ImageAnnotation]:
    """Read a VIA file into one :class:`ImageAnnotation` per image it lists."""
    options = options or FormatOptions()
    file = str(path)
    images, project = parse(read_text(path), file, strict)
    prefix = "_via_img_metadata." if project is not None else ""
    attribute = label_key(options.label_attribute, _attribute_names(images, project))
    image_dir = _image_folder(project)

    problems: list[Problem] = []
    out: list[ImageAnnotation] = []
    seen: dict[str, str] = {}
    for entry_key, image in images.items():
        where = f"{prefix}{entry_key}"
        try:
            out.append(_image(image, where, file, key, root, image_dir, attribute, options, seen))
        except AnnotationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise AnnotationError(problems)
    return out


def _attribute_names(images: dict[str, ViaImage], project: ViaProject | None):
    if project is not None and isinstance((project.via_attributes or {}).get("region"), dict):
        yield project.via_attributes["region"].keys()
    for image in images.values():
        for region in _regions(image):
            yield region.region_attributes.keys()


def _regions(image: ViaImage) -> list[Region]:
    if isinstance(image.regions, dict):
        return list(image.regions.values())
    return image.regions


def _image_folder(project: ViaProject | None) -> str:
    """Images sit next to the JSON, or in the project's relative ``default_filepath``: the
    prefix, relative to the JSON's folder, that image names are read under."""
    settings = (project.via_settings or {}) if project is not None else {}
    core = settings.get("core") if isinstance(settings.get("core"), dict) else {}
    folder = core.get("default_filepath")
    if isinstance(folder, str) and folder and "://" not in folder:
        return folder.rstrip("/\\") + "/"
    return ""


def _image(image: ViaImage, where, file, file_key, root, image_dir, attribute, options, seen):
    """One image entry; ``file_key`` is the JSON's own output name, ``seen`` the keys so far."""
    name = image.filename
    key = image_key(file_key, name)
    if key is None:
        raise AnnotationError(
            [
                Problem(
                    file,
                    f"image name {name!r} leads outside the output folder",
                    f"{where}.filename",
                    code="PM024",
                )
            ]
        )
    if key in seen:
        raise AnnotationError(
            [
                Problem(
                    file,
                    f"image {name!r} is listed twice (also at {seen[key]})",
                    f"{where}.filename",
                    code="PM025",
                )
            ]
        )
    seen[key] = where
    image_file = None
    if "://" not in name:
        image_file = resolve_image(Path(file), image_dir + name, root)
    if options.image_size is not None:
        width, height = options.image_size
    elif image_file is None:
        msg = (
            f"the image size is needed and {name!r} is not a file inside the dataset folder; "
            "give --image-size"
        )
        raise AnnotationError([Problem(file, msg, f"{where}.filename", code="PM024")])
    else:
        try:
            width, height = image_size(image_file, file, f"{where}.filename")
        except AnnotationError as exc:
            hint = "; give --image-size WxH when the images are elsewhere"
            raise AnnotationError(
                [Problem(p.file, p.message + hint, p.path, p.code) for p in exc.problems]
            ) from None

    shapes, problems = [], []
    items = image.regions.items() if isinstance(image.regions, dict) else enumerate(image.regions)
    for index, region in items:
        rwhere = f"{where}.regions" + (f"[{index}]" if isinstance(index, int) else f".{index}")
        try:
            label = _label(region, attribute, file, rwhere)
            shapes.extend(_to_shapes(region.shape_attributes, label, rwhere))
        except AnnotationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise AnnotationError(problems)
    return ImageAnnotation(
        source=file,
        key=key,
        width=width,
        height=height,
        image_path=str(image_file) if image_file is not None and image_file.is_file() else None,
        shapes=tuple(shapes),
    )


def _label(region: Region, attribute: str, file: str, where: str) -> str:
    attrs = region.region_attributes
    if attribute not in attrs:
        known = ", ".join(sorted(attrs)) or "none"
        msg = (
            f"no region attribute {attribute!r} to take the label from (attributes: {known}); "
            "choose one with --label-attribute"
        )
        raise AnnotationError([Problem(file, msg, f"{where}.region_attributes", code="PM026")])
    value = attrs[attribute]
    if isinstance(value, dict):  # a checkbox: the one option ticked
        ticked = [k for k, v in value.items() if v is True]
        if len(ticked) == 1:
            return ticked[0]
        msg = (
            f"checkbox attribute {attribute!r} has {len(ticked)} options ticked; "
            "a label needs exactly one"
        )
    elif isinstance(value, str) and value.strip():
        return value
    elif isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    else:
        msg = f"region attribute {attribute!r} is {value!r}, not a label"
    raise AnnotationError(
        [Problem(file, msg, f"{where}.region_attributes.{attribute}", code="PM026")]
    )


def _to_shapes(attrs, label: str, where: str) -> list[Shape]:
    common = dict(label=label, where=f"{where}.shape_attributes")
    name = attrs.name
    if name in ("polygon", "polyline"):
        points = tuple(zip(attrs.all_points_x, attrs.all_points_y, strict=True))
        return [
            Shape(kind="polygon" if name == "polygon" else "linestrip", points=points, **common)
        ]
    if name == "rect":
        corners = ((attrs.x, attrs.y), (attrs.x + attrs.width, attrs.y + attrs.height))
        return [Shape(kind="rectangle", points=corners, **common)]
    if name == "circle":
        return [
            Shape(
                kind="circle",
                points=((attrs.cx, attrs.cy), (attrs.cx + attrs.r, attrs.cy)),
                **common,
            )
        ]
    if name == "ellipse":
        rotation = math.degrees(attrs.theta)
        return [
            Shape(
                kind="ellipse",
                points=((attrs.cx, attrs.cy), (attrs.rx, attrs.ry)),
                rotation=rotation,
                **common,
            )
        ]
    return [Shape(kind="point", points=((attrs.cx, attrs.cy),), **common)]
