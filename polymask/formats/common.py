"""What every format reader shares: size limits, error paths and positions, image headers.

pydantic reports an error at a ``loc`` tuple; users want the JSON path they can find in their
file (``shapes[3].points``) and, in CI, the line it is on. Both are derived here once.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import io
import json
import os
import re
from functools import lru_cache
from json.decoder import scanstring
from pathlib import Path, PurePosixPath, PureWindowsPath

from pydantic import ValidationError

from polymask.errors import AnnotationError, Problem
from polymask.io.masks import quiet_bomb_warning
from polymask.io.storage import is_local
from polymask.io.walk import special_kind
from polymask.limits import check_size


def json_path(loc: tuple) -> str:
    """``('shapes', 3, 'points')`` -> ``shapes[3].points``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def document_loc(
    loc: tuple,
    tags: frozenset[str] = frozenset(),
    parents: frozenset[str] = frozenset(),
    hidden: frozenset[str] = frozenset(),
) -> tuple:
    """pydantic's ``loc`` without the discriminated-union tags, which are not keys of the file.

    pydantic puts a member's tag right after the list index or the field holding the union:
    ``tags`` are dropped after a list index or after a field named in ``parents``
    (``('shapes', 3, 'polygon', 'points')`` -> ``('shapes', 3, 'points')``), ``hidden`` ones
    wherever they appear.
    """
    out: list = []
    for part in loc:
        after = out[-1] if out else None
        if part in hidden or (part in tags and (isinstance(after, int) or after in parents)):
            continue
        out.append(part)
    return tuple(out)


class JsonLocator:
    """Where values sit in one JSON text, found by their ``loc`` path.

    Each container's members are scanned once and remembered, and line starts are indexed once,
    so locating every problem of a large file (a warning per COCO annotation, say) costs about
    one pass over the text rather than one pass per problem.
    """

    def __init__(self, text: str):
        self.text = text
        self._decoder = json.JSONDecoder()
        self._members: dict[int, dict[str, int] | list[int]] = {}
        self._line_starts: list[int] | None = None

    def line_column(self, loc: tuple) -> tuple[int, int]:
        """1-based (line, column) of the value at ``loc``; for a path that leaves the document
        (a missing key, an index past the end), the deepest container found."""
        pos = self.position(loc)
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self._line_starts, pos)
        return line, pos - self._line_starts[line - 1] + 1

    def position(self, loc: tuple) -> int:
        pos = self._ws(0)
        for part in loc:
            members = self._scan(pos)
            if isinstance(members, dict) and isinstance(part, str):
                if part not in members:
                    break
                pos = members[part]
            elif isinstance(members, list) and isinstance(part, int):
                if not 0 <= part < len(members):
                    break
                pos = members[part]
            elif isinstance(part, str):
                continue  # a key inside a scalar (a union tag left in): stay where we are
            else:
                break
        return pos

    def _ws(self, i: int) -> int:
        text, n = self.text, len(self.text)
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    def _scan(self, pos: int) -> dict[str, int] | list[int] | None:
        if pos in self._members:
            return self._members[pos]
        text, n = self.text, len(self.text)
        if pos >= n or text[pos] not in "{[":
            return None
        members: dict[str, int] | list[int] = {} if text[pos] == "{" else []
        i = self._ws(pos + 1)
        try:
            while i < n and text[i] not in "}]":
                if isinstance(members, dict):
                    key, i = scanstring(text, i + 1)
                    i = self._ws(self._ws(i) + 1)  # past ':'
                    members.setdefault(key, i)
                else:
                    members.append(i)
                _, i = self._decoder.raw_decode(text, i)
                i = self._ws(i)
                i = self._ws(i + 1) if i < n and text[i] == "," else i
        except (ValueError, IndexError):
            pass  # malformed beyond here: what was found so far still locates
        self._members[pos] = members
        return members


class JsonReporter:
    """Problems found at places in one JSON file, each with its JSON path and line.

    ``unwrap`` drops the first step of every location: a file holding one item where a list is
    usual (a single Label Studio task) is reported with paths into that item.
    """

    def __init__(self, text: str, file: str, unwrap: bool = False):
        self.text, self.file, self.unwrap = text, file, unwrap
        self.locator = JsonLocator(text)
        self.problems: list[Problem] = []

    def path(self, loc: tuple) -> str:
        return json_path(loc[1:] if self.unwrap else loc)

    def problem(
        self, loc: tuple, message: str, code: str = "PM012", severity: str = "error"
    ) -> Problem:
        doc_loc = loc[1:] if self.unwrap else loc
        line, column = self.locator.line_column(doc_loc)
        return Problem(self.file, message, json_path(doc_loc), code, line, column, severity)

    def error(self, loc: tuple, message: str, code: str = "PM012") -> AnnotationError:
        """An exception for a problem that stops the file."""
        return AnnotationError([self.problem(loc, message, code)])

    def add(
        self,
        loc: tuple,
        message: str,
        code: str,
        severity: str = "error",
        into: list[Problem] | None = None,
    ) -> None:
        """Record a problem in ``problems``, or in ``into`` (a list kept for one image)."""
        (self.problems if into is None else into).append(self.problem(loc, message, code, severity))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]


def parse_problems(
    text: str,
    file: str,
    exc: ValidationError,
    tags: frozenset[str] = frozenset(),
    parents: frozenset[str] = frozenset(),
    hidden: frozenset[str] = frozenset(),
    tag_field: str = "type",
) -> list[Problem]:
    """pydantic errors as problems with the JSON path a user finds in the file, its line and a
    plain message. ``tags``, ``parents``, ``hidden``: see :func:`document_loc`; ``tag_field``
    names the key that selects a union member (``shape_type``), for messages."""
    problems = []
    locator = JsonLocator(text)
    for err in exc.errors(include_url=False):
        if err["type"] == "json_invalid":
            problems.append(invalid_json_problem(text, file))
            continue
        loc = document_loc(tuple(err["loc"]), tags, parents, hidden)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        elif err["type"] == "union_tag_invalid":
            ctx = err.get("ctx", {})
            expected = ctx.get("expected_tags")
            msg = f"unknown {tag_field} {ctx.get('tag')!r}; expected one of {expected}"
        elif err["type"] == "union_tag_not_found":
            msg = f"{tag_field!r} is missing or not a string"
        line, column = locator.line_column(loc)
        problems.append(
            Problem(
                file, msg, json_path(loc), code=error_code(err["type"]), line=line, column=column
            )
        )
    return problems


def invalid_json_problem(text: str, file: str) -> Problem:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return Problem(
            file, f"invalid JSON: {exc.msg}", code="PM001", line=exc.lineno, column=exc.colno
        )
    except RecursionError:
        return Problem(file, "invalid JSON: nested too deeply", code="PM001")
    return Problem(file, "invalid JSON", code="PM001")


def error_code(error_type: str) -> str:
    """Stable short codes so CI annotations can be filtered by kind."""
    return {
        "missing": "PM010",
        "union_tag_invalid": "PM011",
        "value_error": "PM012",
        "too_short": "PM013",
        "too_long": "PM013",
        "finite_number": "PM014",
    }.get(error_type, "PM019")


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(
            [Problem(str(path), f"not UTF-8 text: {exc.reason}", code="PM002")]
        ) from None
    except OSError as exc:
        raise AnnotationError(
            [Problem(str(path), f"cannot read: {exc.strerror}", code="PM002")]
        ) from None


def decode_base64_image(data: str, file: str, where: str, max_pixels: int | None = None):
    """Decode base64 image data into (Pillow image, encoded bytes), refusing junk and
    decompression bombs: images over ``max_pixels`` or the memory budget.

    The header gives the size before any pixel is decoded, so a bomb is refused for free.
    """
    from PIL import Image, UnidentifiedImageError

    from polymask.io.png import header_size

    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AnnotationError(
            [Problem(file, f"not valid base64: {exc}", where, code="PM020")]
        ) from None
    too_large = "embedded image is too large (decompression bomb?)"
    size = header_size(raw)
    reason = size and check_size(*size)
    if reason:  # before Pillow, whose own limit would refuse it without saying why
        raise AnnotationError([Problem(file, f"{too_large}: {reason}", where, code="PM021")])
    try:
        with quiet_bomb_warning():  # the size is checked below, against the budget
            img = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError:
        raise AnnotationError([Problem(file, too_large, where, code="PM021")]) from None
    except (UnidentifiedImageError, OSError) as exc:
        msg = f"base64 data is not an image ({exc.__class__.__name__})"
        raise AnnotationError([Problem(file, msg, where, code="PM020")]) from None
    w, h = img.size
    reason = check_size(w, h)
    if not reason and max_pixels is not None and w * h > max_pixels:
        reason = f"{w}x{h} px"
    if reason:
        raise AnnotationError([Problem(file, f"{too_large}: {reason}", where, code="PM021")])
    return img, raw


def resolve_image(source: Path, image_path: str, root: Path) -> Path | None:
    """The image an annotation refers to, or None when it lies outside ``root``.

    Paths written on Windows (``..\\img\\a.jpg``) are read as such on every system.
    """
    rel = PureWindowsPath(image_path).as_posix() if "\\" in image_path else image_path
    if not is_local(source):  # no symlinks in a store: refusing '..' keeps it inside
        parts = PurePosixPath(rel).parts
        return None if rel.startswith("/") or ".." in parts else source.parent.joinpath(*parts)
    joined = os.path.join(os.path.dirname(source), rel)
    folder, name = os.path.split(joined)
    candidate = os.path.join(_real_folder(folder), name)  # the folder is shared by many images
    if os.path.islink(candidate):
        candidate = os.path.realpath(candidate)
    inside, below = _inside(os.fspath(root))
    if candidate != inside and not candidate.startswith(below):
        return None
    return Path(candidate)


@lru_cache(maxsize=256)
def _real_folder(folder: str) -> str:
    """A folder with its symbolic links resolved: the dataset's, or one of images, the same for
    many files of a run, while resolving a path costs a system call per component."""
    return os.path.realpath(folder)


@lru_cache(maxsize=16)
def _inside(root: str) -> tuple[str, str]:
    """The root resolved, and how the paths below it start (one root serves a whole run)."""
    inside = _real_folder(root)
    return inside, inside.rstrip(os.sep) + os.sep


def image_size(path: Path, file: str, where: str) -> tuple[int, int]:
    """Width and height from the image file's header (no pixels decoded), upright: swapped
    for an EXIF orientation that turns the picture, since annotation tools show it turned and
    polygons are drawn in that frame (:mod:`polymask.io.images`). Within the memory budget. A
    special file is refused unopened: reading a FIFO waits for a writer forever."""
    from PIL import ExifTags, Image, UnidentifiedImageError

    from polymask.io.images import TURNED

    kind = special_kind(path)
    if kind is not None:
        msg = f"image {path} is {kind}, not a regular file"
        raise AnnotationError([Problem(file, msg, where, code="PM022")])
    try:
        with path.open("rb") as f, quiet_bomb_warning(), Image.open(f) as img:
            size = img.size
            if img.getexif().get(ExifTags.Base.Orientation, 1) in TURNED:
                size = size[::-1]
    except FileNotFoundError:
        raise AnnotationError(
            [Problem(file, f"image not found: {path}", where, code="PM022")]
        ) from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise AnnotationError(
            [Problem(file, f"cannot read image {path}: {exc}", where, code="PM022")]
        ) from None
    reason = check_size(*size)
    if reason:
        raise AnnotationError([Problem(file, f"image {path}: {reason}", where, code="PM021")])
    return size
