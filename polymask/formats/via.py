"""VGG Image Annotator (VIA) 2.x JSON: its pydantic schema and conversion to the canonical model.

Two exports are read: the project file (``_via_img_metadata`` inside, with settings and the
attribute definitions) and the plain annotations export (an object keyed by file name + size).
Regions are ``polygon``, ``rect``, ``circle``, ``ellipse`` (``theta`` in radians), ``polyline``
and ``point``; VIA 1.x region objects keyed "0", "1", ... are read too. The label is the value of
one region attribute; a region without it (a single-class project leaves ``region_attributes``
empty) takes ``--default-label``, and is an error without it. VIA files do not record image
sizes: they come from ``--image-size`` or from the image file's header.

Each image entry is checked on its own, so with ``problems`` (see :mod:`polymask.formats`) an
image whose file is missing, or whose entry or regions are malformed, fails alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
    TypeAdapter,
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


class _Parsed(NamedTuple):
    images: dict[str, ViaImage | Any]
    """Each image entry, or the raw JSON value of one that failed validation."""
    project: ViaProject | _TolerantProject | None
    failed: dict[str, list[Problem]]
    """The validation errors of each entry that failed, by its key."""
    loose: list[Problem]
    """Validation errors outside every entry (a project's ``_via_settings``, say)."""


_MaybeImage = Annotated[Union[ViaImage, Any], Field(union_mode="left_to_right")]  # noqa: UP007


class _TolerantProject(BaseModel):
    """A project read entry by entry: an entry that fails validation is kept as its JSON value,
    and so are settings and attribute definitions of the wrong type."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    via_settings: Any = Field(default=None, alias="_via_settings")
    via_img_metadata: dict[str, _MaybeImage] = Field(alias="_via_img_metadata")
    via_attributes: Any = Field(default=None, alias="_via_attributes")


_TOLERANT_IMAGES = TypeAdapter(dict[str, _MaybeImage])


def parse(text: str, file: str, strict: bool = False, partial: bool = False) -> _Parsed:
    """The images of a VIA file (keyed as in the file) and the project around them, if any.

    Without ``partial`` any error raises :class:`AnnotationError`. With it, an image entry that
    fails validation is kept as its raw JSON value, its errors under its key; only a file that
    cannot be read at all (not JSON, no object of images) still raises.
    """
    is_project = '"_via_img_metadata"' in text
    try:
        if is_project:
            project = ViaProject.model_validate_json(text, strict=strict)
            return _Parsed(project.via_img_metadata, project, {}, [])
        return _Parsed(ViaImages.model_validate_json(text, strict=strict).root, None, {}, [])
    except ValidationError as exc:
        parents = frozenset({"shape_attributes", "regions"})
        problems = parse_problems(text, file, exc, _TAGS, parents, tag_field="name")
        if not partial:
            raise AnnotationError(problems) from None
        errors = exc.errors(include_url=False)
    try:
        if is_project:
            project = _TolerantProject.model_validate_json(text, strict=strict)
            images = project.via_img_metadata
        else:
            project, images = None, _TOLERANT_IMAGES.validate_json(text, strict=strict)
    except ValidationError:
        raise AnnotationError(problems) from None
    failed: dict[str, list[Problem]] = {}
    loose: list[Problem] = []
    # parse_problems gives one problem per pydantic error, in the same order
    for err, problem in zip(errors, problems, strict=True):
        loc = tuple(err["loc"])
        if is_project:
            loc = loc[1:] if loc[:1] == ("_via_img_metadata",) else ()
        if loc and loc[0] in images:
            failed.setdefault(loc[0], []).append(problem)
        else:
            loose.append(problem)
    return _Parsed(images, project, failed, loose)


@dataclass(frozen=True)
class _Context:
    """What every image of one file is read with."""

    path: Path
    root: Path
    file_key: str
    site: JsonReporter
    options: FormatOptions
    attribute: str
    image_dir: str


def load(
    path: Path,
    key: str,
    root: Path,
    strict: bool = False,
    options: FormatOptions | None = None,
    problems: list[Problem] | None = None,
) -> list[ImageAnnotation]:
    """Read a VIA file into one :class:`ImageAnnotation` per image it lists.

    With ``problems`` (a list), an image with an error (a malformed entry or region, a region
    without a label, an image file whose size cannot be read) is still returned, the error on
    its ``errors``: under the output name ``<file key>[<entry index>]`` when its file name gives
    none of its own, at size 0x0 when its size is not known. An entry that is not even an
    object, and an error outside every entry, are errors of no image, appended to ``problems``.
    """
    options = options or FormatOptions()
    file = str(path)
    text = read_text(path)
    images, project, failed, loose = parse(text, file, strict, partial=problems is not None)
    context = _Context(
        path,
        root,
        key,
        JsonReporter(text, file),
        options,
        label_key(options.label_attribute, _attribute_names(images, project)),
        _image_folder(project),
    )
    prefix = ("_via_img_metadata",) if project is not None else ()
    out: list[ImageAnnotation] = []
    seen: dict[str, str] = {}
    for index, (entry_key, image) in enumerate(images.items()):
        errors = failed.get(entry_key, [])
        if isinstance(image, (ViaImage, dict)):
            out.append(_image(image, index, (*prefix, entry_key), seen, context, errors))
        else:
            loose.extend(errors)
    if problems is None:
        found = [p for ann in out for p in ann.errors]
        if found:
            raise AnnotationError(found)
    else:
        problems.extend(loose)
    return out


def _attribute_names(images: dict[str, ViaImage | Any], project):
    attributes = project.via_attributes if project is not None else None
    if isinstance(attributes, dict) and isinstance(attributes.get("region"), dict):
        yield attributes["region"].keys()
    for image in images.values():
        if isinstance(image, ViaImage):
            for _, region in _regions(image):
                yield region.region_attributes.keys()


def _regions(image: ViaImage):
    """(index or key, region) in file order, for VIA 2 lists and VIA 1 objects alike."""
    if isinstance(image.regions, dict):
        return list(image.regions.items())
    return list(enumerate(image.regions))


def _image_folder(project) -> str:
    """Images sit next to the JSON, or in the project's relative ``default_filepath``: the
    prefix, relative to the JSON's folder, that image names are read under."""
    settings = project.via_settings if project is not None else None
    core = settings.get("core") if isinstance(settings, dict) else None
    folder = core.get("default_filepath") if isinstance(core, dict) else None
    if isinstance(folder, str) and folder and "://" not in folder:
        return folder.rstrip("/\\") + "/"
    return ""


def _image(
    image: ViaImage | dict,
    index: int,
    loc: tuple,
    seen: dict[str, str],
    context: _Context,
    errors: list[Problem],
) -> ImageAnnotation:
    """One image entry, its errors appended to ``errors`` (which holds its validation errors
    when it failed validation, then it is a raw ``dict``). Like VIA, each check waits for the
    one before it: the output name, the size, then the regions."""
    name = image.filename if isinstance(image, ViaImage) else image.get("filename")
    key = None
    if isinstance(name, str) and name:
        key = _key(name, context.file_key, seen, context.site, loc, errors)
    size, image_file, shapes = (0, 0), None, []
    if key is not None and not errors:
        found = _size(name, context, loc, errors)
        if found is not None:
            size, image_file = found
            shapes = _shapes(image, context, loc, errors)
    return ImageAnnotation(
        format="via",
        source=context.site.file,
        key=key or f"{context.file_key}[{index}]",
        width=size[0],
        height=size[1],
        image_path=str(image_file) if image_file is not None and image_file.is_file() else None,
        shapes=tuple(shapes),
        errors=tuple(errors),
    )


def _key(
    name: str, file_key: str, seen: dict, site: JsonReporter, loc: tuple, errors: list[Problem]
) -> str | None:
    """The output name of one image, unique in the file and inside the output folder; None,
    with an error, when it has none."""
    try:
        key = image_key(file_key, name)
    except ValueError as exc:
        site.add((*loc, "filename"), f"image name {name!r} {exc}", "PM024", into=errors)
        return None
    if key in seen:
        msg = f"image {name!r} is listed twice (also at {seen[key]})"
        site.add((*loc, "filename"), msg, "PM025", into=errors)
        return None
    seen[key] = json_path(loc)
    return key


def _size(name: str, context: _Context, loc: tuple, errors: list[Problem]):
    """((width, height), image file or None): ``--image-size`` wins, else the image header;
    None, with an error, when neither gives it."""
    site = context.site
    image_file = (
        resolve_image(context.path, context.image_dir + name, context.root)
        if "://" not in name
        else None
    )
    if context.options.image_size is not None:
        return context.options.image_size, image_file
    if image_file is None:
        msg = (
            f"the image size is needed and {name!r} is not a file inside the dataset folder; "
            "give --image-size"
        )
        site.add((*loc, "filename"), msg, "PM024", into=errors)
        return None
    try:
        return image_size(image_file, site.file, ""), image_file
    except AnnotationError as exc:
        hint = "; give --image-size WxH when the images are elsewhere"
        site.add((*loc, "filename"), exc.problems[0].message + hint, "PM022", into=errors)
        return None


def _shapes(image: ViaImage, context: _Context, loc: tuple, errors: list[Problem]) -> list[Shape]:
    shapes = []
    for index, region in _regions(image):
        rloc = (*loc, "regions", index)
        try:
            label = _label(region, context, rloc)
            shapes.extend(_to_shapes(region.shape_attributes, label, json_path(rloc)))
        except AnnotationError as exc:
            errors.extend(exc.problems)
    return shapes


def _label(region: Region, context: _Context, loc: tuple) -> str:
    """The label of a region: the value of the label attribute; ``--default-label`` when the
    region has no such attribute (a single-class project leaves ``region_attributes`` empty)."""
    attribute, site = context.attribute, context.site
    attrs = region.region_attributes
    if attribute not in attrs:
        if context.options.default_label:
            return context.options.default_label
        known = ", ".join(sorted(attrs)) or "none"
        msg = (
            f"no region attribute {attribute!r} to take the label from (attributes: {known}); "
            "choose one with --label-attribute, or give such regions one label with "
            "--default-label NAME"
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
