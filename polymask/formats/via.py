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
from polymask.formats.common import (
    JsonReporter,
    image_size,
    json_path,
    parse_problems,
    read_text,
    resolve_image,
)
from polymask.formats.options import (
    FormatOptions,
    image_key,
    label_key,
)
from polymask.limits import MAX_COORD
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
_TAGS = frozenset(REGION_TYPES) | {"list", "object"}


def _region_tag(value: Any) -> str | None:
    name = value.get("name") if isinstance(value, dict) else getattr(value, "name", None)
    return name if isinstance(name, str) else None


ShapeAttributes = Annotated[
    Union[tuple(Annotated[cls, Tag(tag)] for tag, cls in REGION_TYPES.items())],  # noqa: UP007
    Discriminator(_region_tag),
]


def _container_tag(value: Any) -> str | None:
    return "object" if isinstance(value, dict) else "list" if isinstance(value, list) else None


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
    regions: Annotated[
        Annotated[list[Region], Tag("list")] | Annotated[dict[str, Region], Tag("object")],
        Discriminator(_container_tag),
    ] = Field(
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
        parents = frozenset({"shape_attributes", "regions"})
        problems = parse_problems(text, file, exc, _TAGS, parents, tag_field="name")
        raise AnnotationError(problems) from None


def load(
    path: Path, key: str, root: Path, strict: bool = False, options: FormatOptions | None = None
) -> list[ImageAnnotation]:
    """Read a VIA file into one :class:`ImageAnnotation` per image it lists."""
    options = options or FormatOptions()
    file = str(path)
    text = read_text(path)
    images, project = parse(text, file, strict)
    site = JsonReporter(text, file)
    prefix = ("_via_img_metadata",) if project is not None else ()
    attribute = label_key(options.label_attribute, _attribute_names(images, project))
    image_dir = _image_folder(project)

    problems: list[Problem] = []
    out: list[ImageAnnotation] = []
    seen: dict[str, str] = {}
    for entry_key, image in images.items():
        loc = (*prefix, entry_key)
        try:
            key_here = _key(image.filename, key, seen, site, loc)
            size, image_file = _size(image.filename, image_dir, path, root, options, site, loc)
            out.append(_image(image, key_here, size, image_file, attribute, site, loc))
        except AnnotationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise AnnotationError(problems)
    return out


def _attribute_names(images: dict[str, ViaImage], project: ViaProject | None):
    if project is not None and isinstance((project.via_attributes or {}).get("region"), dict):
        yield project.via_attributes["region"].keys()
    for image in images.values():
        for _, region in _regions(image):
            yield region.region_attributes.keys()


def _regions(image: ViaImage):
    """(index or key, region) in file order, for VIA 2 lists and VIA 1 objects alike."""
    if isinstance(image.regions, dict):
        return list(image.regions.items())
    return list(enumerate(image.regions))


def _image_folder(project: ViaProject | None) -> str:
    """Images sit next to the JSON, or in the project's relative ``default_filepath``: the
    prefix, relative to the JSON's folder, that image names are read under."""
    settings = (project.via_settings or {}) if project is not None else {}
    core = settings.get("core") if isinstance(settings.get("core"), dict) else {}
    folder = core.get("default_filepath")
    if isinstance(folder, str) and folder and "://" not in folder:
        return folder.rstrip("/\\") + "/"
    return ""


def _key(name: str, file_key: str, seen: dict, site: JsonReporter, loc: tuple) -> str:
    """The output name of one image, unique in the file and inside the output folder."""
    try:
        key = image_key(file_key, name)
    except ValueError as exc:
        raise site.error((*loc, "filename"), f"image name {name!r} {exc}", "PM024") from None
    if key in seen:
        msg = f"image {name!r} is listed twice (also at {seen[key]})"
        raise site.error((*loc, "filename"), msg, "PM025")
    seen[key] = json_path(loc)
    return key


def _size(name, image_dir, path, root, options, site: JsonReporter, loc: tuple):
    """((width, height), image file or None): ``--image-size`` wins, else the image header."""
    image_file = resolve_image(path, image_dir + name, root) if "://" not in name else None
    if options.image_size is not None:
        return options.image_size, image_file
    if image_file is None:
        msg = (
            f"the image size is needed and {name!r} is not a file inside the dataset folder; "
            "give --image-size"
        )
        raise site.error((*loc, "filename"), msg, "PM024")
    try:
        return image_size(image_file, site.file, ""), image_file
    except AnnotationError as exc:
        hint = "; give --image-size WxH when the images are elsewhere"
        msg = exc.problems[0].message + hint
        raise site.error((*loc, "filename"), msg, "PM022") from None


def _image(image: ViaImage, key, size, image_file, attribute, site: JsonReporter, loc: tuple):
    shapes, problems = [], []
    for index, region in _regions(image):
        rloc = (*loc, "regions", index)
        try:
            label = _label(region, attribute, site, rloc)
            shapes.extend(_to_shapes(region.shape_attributes, label, json_path(rloc)))
        except AnnotationError as exc:
            problems.extend(exc.problems)
    if problems:
        raise AnnotationError(problems)
    return ImageAnnotation(
        format="via",
        source=site.file,
        key=key,
        width=size[0],
        height=size[1],
        image_path=str(image_file) if image_file is not None and image_file.is_file() else None,
        shapes=tuple(shapes),
    )


def _label(region: Region, attribute: str, site: JsonReporter, loc: tuple) -> str:
    attrs = region.region_attributes
    if attribute not in attrs:
        known = ", ".join(sorted(attrs)) or "none"
        msg = (
            f"no region attribute {attribute!r} to take the label from (attributes: {known}); "
            "choose one with --label-attribute"
        )
        raise site.error((*loc, "region_attributes"), msg, "PM026")
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
    raise site.error((*loc, "region_attributes", attribute), msg, "PM026")


def _to_shapes(attrs, label: str, where: str) -> list[Shape]:
    common = dict(label=label, where=f"{where}.shape_attributes")
    name = attrs.name
    if name in ("polygon", "polyline"):
        points = tuple(zip(attrs.all_points_x, attrs.all_points_y, strict=True))
        kind = "polygon" if name == "polygon" else "linestrip"
        return [Shape(kind=kind, points=points, **common)]
    if name == "rect":
        corners = ((attrs.x, attrs.y), (attrs.x + attrs.width, attrs.y + attrs.height))
        return [Shape(kind="rectangle", points=corners, **common)]
    if name == "circle":
        rim = (attrs.cx + attrs.r, attrs.cy)
        return [Shape(kind="circle", points=((attrs.cx, attrs.cy), rim), **common)]
    if name == "ellipse":
        centre, radii = (attrs.cx, attrs.cy), (attrs.rx, attrs.ry)
        rotation = math.degrees(attrs.theta)
        return [Shape(kind="ellipse", points=(centre, radii), rotation=rotation, **common)]
    return [Shape(kind="point", points=((attrs.cx, attrs.cy),), **common)]
