"""A quick decoder for the files LabelMe 4 and 5 write, used when msgspec is installed.

msgspec parses and type-checks a typical file (a hundred kilobytes of coordinates) in half the
time pydantic takes. It says yes only to files :class:`polymask.formats.labelme.LabelMeFile`
accepts, and then gives the same values: its types are strict where pydantic would coerce ("1.5"
for a number), it refuses NaN and Infinity, and it refuses keys LabelMe does not write (their
values it would skip without pydantic's limit on nesting). For anything else :func:`decode`
returns None and the pydantic model decides, with its precise problems: the answer for a file
is always pydantic's, only sooner.
"""

# no `from __future__ import annotations`: msgspec reads the annotations of structs defined in
# a function, which it could not resolve from strings.
import functools
from typing import Annotated, ClassVar, Union

from polymask.limits import MAX_COORD, MAX_SIDE, check_size

try:
    import msgspec
except ImportError:  # an optional speed-up (the "fast" extra)
    msgspec = None


def decode(text: str, strict: bool = False, point_counts: tuple = ()):
    """The file as msgspec structs with LabelMe's attribute names, or None: not sure, ask pydantic.

    ``strict`` needs no handling: what this accepts is accepted by strict validation too.
    ``point_counts``: ((shape_type, (fewest, most points)), ...), the shape kinds of
    :class:`polymask.formats.labelme.LabelMeFile`, which hands them in (so this module needs no
    import of that one).
    """
    if msgspec is None:
        return None
    try:
        doc = _decoder(point_counts).decode(text)
    except msgspec.DecodeError:  # ValidationError is a DecodeError
        return None
    if doc.imageWidth and doc.imageHeight and check_size(doc.imageWidth, doc.imageHeight):
        return None
    for shape in doc.shapes:
        n, (lo, hi) = len(shape.points), shape.point_count
        if n < lo or (hi is not None and n > hi):
            return None
        if shape.mask is None and shape.shape_type == "mask":
            return None  # the PNG is required (other kinds may have any "mask", or none)
    return doc


@functools.cache
def _decoder(point_counts: tuple):
    """Structs mirroring :class:`polymask.formats.labelme.LabelMeFile`, built on first use."""

    Coord = Annotated[float, msgspec.Meta(ge=-MAX_COORD, le=MAX_COORD)]
    Side = Annotated[int, msgspec.Meta(gt=0, le=MAX_SIDE)]

    class Shape(msgspec.Struct, tag_field="shape_type", forbid_unknown_fields=True):
        label: Annotated[str, msgspec.Meta(min_length=1)]
        points: list[tuple[Coord, Coord]]
        group_id: int | None = None
        description: str | None = None
        flags: dict[str, bool] | None = None
        mask: str | None = None
        line_color: list[int] | None = None  # LabelMe 4
        fill_color: list[int] | None = None

    def kind(tag: str, point_count: tuple[int, int | None]) -> type:
        namespace = {
            "__annotations__": {"shape_type": ClassVar[str], "point_count": ClassVar[tuple]},
            "shape_type": tag,
            "point_count": point_count,
        }
        return type(f"{tag}_shape", (Shape,), namespace, tag=tag)

    kinds = tuple(kind(tag, count) for tag, count in point_counts)

    class LabelMeFile(msgspec.Struct, forbid_unknown_fields=True):
        shapes: list[Union[kinds]]  # noqa: UP007
        imagePath: str
        version: str | None = None
        flags: dict[str, bool] | None = None
        imageData: str | None = None
        imageHeight: Side | None = None
        imageWidth: Side | None = None
        lineColor: list[int] | None = None  # LabelMe 4
        fillColor: list[int] | None = None

    return msgspec.json.Decoder(LabelMeFile)
