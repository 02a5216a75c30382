"""What every format reader shares: size limits, error paths and positions, image headers.

pydantic reports an error at a ``loc`` tuple; users want the JSON path they can find in their
file (``shapes[3].points``) and, in CI, the line it is on. Both are derived here once.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
from json.decoder import scanstring
from pathlib import Path, PurePosixPath, PureWindowsPath

from pydantic import ValidationError

from polymask.errors import AnnotationError, Problem
from polymask.storage import is_local

MAX_SIDE = 1 << 17
"""Largest image side accepted (131072 px): larger declared sizes are refused before allocating."""
MAX_PIXELS = 1 << 30
"""Largest image area accepted (1 Gpx, 1 GiB as a uint8 mask)."""
MAX_COORD = float(1 << 24)
"""Coordinates beyond this are refused: no image is that large and drawing code would overflow."""


def check_size(width: int, height: int) -> str | None:
    """Why an image of this size cannot be rasterized, or None when it can."""
    if width <= 0 or height <= 0:
        return f"image size must be positive, got {width}x{height}"
    if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
        return f"image size {width}x{height} exceeds the limit ({MAX_SIDE} px a side, {MAX_PIXELS} px)"
    return None


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


def locate(text: str, loc: tuple) -> tuple[int, int] | None:
    """1-based (line, column) where the value at ``loc`` starts in JSON ``text``.

    When the path ends at a missing key, the enclosing object's position is returned. Only used
    on error paths, so clarity wins over speed here.
    """
    decoder = json.JSONDecoder()
    n = len(text)

    def ws(i: int) -> int:
        while i < n and text[i] in " \t\r\n":
            i += 1
        return i

    pos = ws(0)
    try:
        for part in loc:
            if pos >= n:
                break
            if text[pos] == "{" and isinstance(part, str):
                i = ws(pos + 1)
                found = None
                while i < n and text[i] == '"':
                    key, i = scanstring(text, i + 1)
                    i = ws(ws(i) + 1)  # past ':'
                    if key == part:
                        found = i
                        break
                    _, i = decoder.raw_decode(text, i)
                    i = ws(i)
                    i = ws(i + 1) if i < n and text[i] == "," else i
                if found is None:
                    break
                pos = found
            elif text[pos] == "[" and isinstance(part, int):
                i = ws(pos + 1)
                for _ in range(part):
                    _, i = decoder.raw_decode(text, i)
                    i = ws(i)
                    if i >= n or text[i] != ",":
                        raise ValueError
                    i = ws(i + 1)
                if i >= n or text[i] == "]":
                    break
                pos = i
            elif isinstance(part, str):
                continue  # a union tag or a key inside a scalar: stay where we are
            else:
                break
    except (ValueError, IndexError):
        pass
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, column


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
            msg = f"unknown {tag_field} {ctx.get('tag')!r}; expected one of {ctx.get('expected_tags')}"
        elif err["type"] == "union_tag_not_found":
            msg = f"{tag_field!r} is missing or not a string"
        line, column = locate(text, loc) or (None, None)
        problems.append(
            Problem(file, msg, json_path(loc), code=error_code(err["type"]), line=line, column=column)
        )
    return problems


def invalid_json_problem(text: str, file: str) -> Problem:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return Problem(file, f"invalid JSON: {exc.msg}", code="PM001", line=exc.lineno, column=exc.colno)
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
        raise AnnotationError([Problem(str(path), f"not UTF-8 text: {exc.reason}", code="PM002")]) from None
    except OSError as exc:
        raise AnnotationError([Problem(str(path), f"cannot read: {exc.strerror}", code="PM002")]) from None


def decode_base64_image(data: str, file: str, where: str, max_pixels: int = MAX_PIXELS):
    """Decode base64 image data into (Pillow image, encoded bytes), refusing junk and
    decompression bombs.

    The header gives the size before any pixel is decoded, so a bomb is refused for free.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AnnotationError([Problem(file, f"not valid base64: {exc}", where, code="PM020")]) from None
    too_large = "embedded image is too large (decompression bomb?)"
    try:
        img = Image.open(io.BytesIO(raw))
    except Image.DecompressionBombError:
        raise AnnotationError([Problem(file, too_large, where, code="PM021")]) from None
    except (UnidentifiedImageError, OSError) as exc:
        msg = f"base64 data is not an image ({exc.__class__.__name__})"
        raise AnnotationError([Problem(file, msg, where, code="PM020")]) from None
    w, h = img.size
    if w * h > max_pixels or check_size(w, h):
        raise AnnotationError([Problem(file, f"{too_large}: {w}x{h} px", where, code="PM021")]) from None
    return img, raw


def resolve_image(source: Path, image_path: str, root: Path) -> Path | None:
    """The image an annotation refers to, or None when it lies outside ``root``.

    Paths written on Windows (``..\\img\\a.jpg``) are read as such on every system.
    """
    rel = PureWindowsPath(image_path).as_posix() if "\\" in image_path else image_path
    if not is_local(source):  # no symlinks in a store: refusing '..' keeps it inside
        parts = PurePosixPath(rel).parts
        return None if rel.startswith("/") or ".." in parts else source.parent.joinpath(*parts)
    candidate = (source.parent / rel).resolve()
    root = root.resolve()
    if candidate != root and root not in candidate.parents:
        return None
    return candidate


def image_size(path: Path, file: str, where: str) -> tuple[int, int]:
    """Width and height from the image file's header (no pixels decoded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with path.open("rb") as f, Image.open(f) as img:
            return img.size
    except FileNotFoundError:
        raise AnnotationError([Problem(file, f"image not found: {path}", where, code="PM022")]) from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as exc:
        raise AnnotationError([Problem(file, f"cannot read image {path}: {exc}", where, code="PM022")]) from None
