"""Where the parts of a COCO file are, found in one pass that keeps no parsed annotation.

A COCO file of 100,000 images is one JSON object of three arrays, and ``annotations`` holds
nearly all of its bytes. :func:`scan` finds the byte span of every element of ``images`` and
``annotations`` and of the ``categories`` array, the line and column where each starts, and the
image id each element names. Readers then validate the elements one by one, or only those of
one image (:func:`polymask.formats.coco.load_part`), and :class:`Piece` reports a problem found
in an element read alone with the JSON path, line and column it has in the whole file.

An image read alone is read from the file as it is then, by offsets found in the file as it
was: :func:`stamp` and :func:`checksum` tell that it changed in between, so that it is named
rather than read wrong.

With msgspec installed, its decoder checks the file's syntax and hands each element of the two
arrays over as a view into the file's bytes, in the same pass, without building any (the first
view's address is its offset, the lengths place the others after it); without msgspec, or for
JSON it refuses (``NaN``), the standard library's decoder parses each element and drops it,
several times slower.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import zlib
from dataclasses import dataclass, replace
from functools import cached_property
from json.decoder import scanstring

import numpy as np

from polymask.errors import AnnotationError, Problem
from polymask.formats.common import JsonLocator, json_path
from polymask.io.storage import is_local

try:
    import msgspec
except ImportError:  # optional (the ``fast`` extra): the standard library scans instead
    msgspec = None

SECTIONS = ("images", "annotations", "categories")
ID_KEYS = {"images": "id", "annotations": "image_id"}
"""The key of each array's elements that names an image."""
_WS = re.compile(r"[ \t\n\r]*")
_BETWEEN = re.compile(rb"[ \t\n\r]*,?[ \t\n\r]*")
_BOM = codecs.BOM_UTF8
_SEPARATORS = np.frombuffer(b" \t\n\r,", dtype=np.uint8)


@dataclass
class Elements:
    """The elements of one array of the file."""

    spans: np.ndarray
    """(n, 4) int64: byte offset of each element's start and end, 1-based line and column of
    its start (columns in characters, lines as universal newlines count them)."""
    ids: list
    """The value each element gives its id key, as JSON decodes it (None: absent, or the
    element is not an object)."""


@dataclass
class Layout:
    """Where the three arrays of a COCO file and their elements are."""

    images: Elements
    annotations: Elements
    categories: np.ndarray
    """The ``categories`` array's span, as one row of :attr:`Elements.spans`."""


def read_bytes(path, file: str) -> bytes:
    """The file's bytes, refused as ``read_text`` refuses text: unreadable, or not UTF-8
    (checked in pieces, so that a large file is never held twice)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem = Problem(file, f"cannot read: {exc.strerror}", code="PM002")
        raise AnnotationError([problem]) from None
    if not data.isascii():
        decoder = codecs.getincrementaldecoder("utf-8")()
        view = memoryview(data)
        try:
            for start in range(0, len(data), 1 << 20):
                decoder.decode(view[start : start + (1 << 20)])
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            problem = Problem(file, f"not UTF-8 text: {exc.reason}", code="PM002")
            raise AnnotationError([problem]) from None
    return data


def stamp(path) -> tuple[int, int] | None:
    """Size and modification time (ns) of a local file, taken before its bytes are read; None
    for a remote one (then :func:`checksum` alone tells a change) or one that cannot be read
    (reading it says why). Taken again where an image is read, it tells a change anywhere in
    the file, which the checksum of the image's own bytes would miss: its record, an
    annotation that now names it."""
    if not is_local(path):
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns


def stamp_of(f) -> tuple[int, int]:
    """:func:`stamp` of an open local file."""
    info = os.fstat(f.fileno())
    return info.st_size, info.st_mtime_ns


def checksum(pieces) -> int:
    """CRC-32 of the bytes of ``pieces`` (bytes or memoryviews) one after the other."""
    crc = 0
    for piece_ in pieces:
        crc = zlib.crc32(piece_, crc)
    return crc


SEEK_BYTES = 4096
"""Bytes between an image's spans that are read rather than skipped by a seek."""


def _together(first, last, total):
    """Whether spans from byte ``first`` to ``last`` holding ``total`` bytes are read as one
    range (numbers or arrays of them): when they lie close together, as one image's annotations
    usually do, the bytes between them cost less than a read each."""
    return last - first <= 2 * total + SEEK_BYTES


def block(rows: list) -> tuple[int, int] | None:
    """The range (start, end) to read the spans of ``rows`` (rows of (start, end, ...), in file
    order) in one read; None when each is read alone (or there are none)."""
    if not rows:
        return None
    first, last = rows[0][0], rows[-1][1]
    total = sum(end - start for start, end, *_ in rows)
    return (first, last) if _together(first, last, total) else None


def blocks(table: np.ndarray, begins: np.ndarray, ends: np.ndarray) -> list:
    """:func:`block` of the rows ``table[begins[i]:ends[i]]`` of every image at once."""
    if not len(table):
        return [None] * len(begins)
    sizes = np.concatenate([[0], np.cumsum(table[:, 1] - table[:, 0])])
    first = table[np.minimum(begins, len(table) - 1), 0]
    last = table[np.maximum(ends - 1, 0), 1]
    together = (ends > begins) & _together(first, last, sizes[ends] - sizes[begins])
    return [
        (a, b) if t else None
        for a, b, t in zip(first.tolist(), last.tolist(), together.tolist(), strict=True)
    ]


def as_text(raw: bytes) -> str:
    """Bytes of the file (or of a piece of it) as ``read_text`` gives them: without a byte
    order mark, with universal newlines (lines and columns are counted in this text)."""
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def scan(data: bytes) -> Layout | None:
    """The layout of a COCO file's bytes; None when the file as a whole is not a COCO object
    (not JSON, not an object, a section missing or ``images``/``annotations`` not an array):
    validating the whole text then says why."""
    try:
        found = _scan_msgspec(data) if msgspec is not None else None
        if found is None:
            found = _scan_python(data)
    except (ValueError, IndexError, RecursionError):
        return None
    if found is None:
        return None
    spans, ids = found
    starts = np.concatenate([spans[s][:, 0] for s in SECTIONS])
    order = np.argsort(starts, kind="stable")
    lines, columns = _positions(data, starts[order])
    placed = np.empty((len(starts), 2), dtype=np.int64)
    placed[order, 0], placed[order, 1] = lines, columns
    rows, at = {}, 0
    for s in SECTIONS:
        n = len(spans[s])
        rows[s] = np.column_stack([spans[s], placed[at : at + n]]) if n else np.empty((0, 4), int)
        at += n
    return Layout(
        Elements(rows["images"], ids["images"]),
        Elements(rows["annotations"], ids["annotations"]),
        rows["categories"][0],
    )


def _scan_msgspec(data: bytes):
    """(spans, ids) per section by msgspec; None when msgspec cannot say (the standard library
    scans then), a ValueError when the structure is wrong."""
    try:
        top = msgspec.json.decode(data, type=_Top)
    except msgspec.ValidationError:
        raise ValueError("not a COCO object") from None
    except msgspec.DecodeError:
        return None  # JSON msgspec refuses (NaN, nesting): the standard library decides
    if top.images is None or top.annotations is None or len(top.categories) == 0:
        raise ValueError("a section is missing")
    ids = {}
    for section in ("images", "annotations"):
        decoder = msgspec.json.Decoder(_REFS[section])
        ids[section] = [_ref(decoder, e) for e in getattr(top, section)]
    base = _address(data)
    views = [top.categories, *top.images[:1], *top.images[-1:]]
    views += [*top.annotations[:1], *top.annotations[-1:]]
    if any(not 0 <= _address(v) - base <= len(data) - len(v) for v in views):
        return None  # views that are copies, not into the file: scan another way
    at = _address(top.categories) - base
    spans = {"categories": np.array([[at, at + len(top.categories)]])}
    for section in ("images", "annotations"):
        elements = getattr(top, section)
        first = _address(elements[0]) - base if elements else 0
        spans[section] = _chain(data, first, [len(e) for e in elements])
    return spans, ids


def _chain(data: bytes, first: int, lengths: list[int]) -> np.ndarray:
    """(n, 2) spans of the elements of a (valid) JSON array whose first element starts at byte
    ``first``, given their lengths: each starts past the blanks and the comma that end the one
    before. Writers put the same between all elements (``,\\n``, ``, ``): that is tried first,
    for all at once, and holds when the bytes after each element are those after the first and
    are followed by no other blank or comma; else the elements are chained one by one."""
    n = len(lengths)
    spans = np.empty((n, 2), dtype=np.int64)
    pos = first
    if n > 1:
        sizes = np.array(lengths, dtype=np.int64)
        gap = data[pos + lengths[0] : _BETWEEN.match(data, pos + lengths[0]).end()]
        spans[:, 0] = pos + np.concatenate([[0], np.cumsum(sizes[:-1] + len(gap))])
        spans[:, 1] = spans[:, 0] + sizes
        view, after = np.frombuffer(data, dtype=np.uint8), spans[:-1, 1]
        if (
            spans[-1, 1] <= len(data)  # else it guessed gaps wider than they are
            and all((view[after + i] == byte).all() for i, byte in enumerate(gap))
            and not np.isin(view[spans[1:, 0]], _SEPARATORS).any()
        ):
            return spans
    for k, length in enumerate(lengths):
        spans[k] = pos, pos + length
        pos = _BETWEEN.match(data, pos + length).end()
    return spans


def _address(buffer) -> int:
    return np.frombuffer(buffer, dtype=np.uint8).ctypes.data


def _ref(decoder, element):
    try:
        return decoder.decode(element).id
    except msgspec.ValidationError:  # not an object: it names no image
        return None


if msgspec is not None:

    class _Top(msgspec.Struct):
        images: list[msgspec.Raw] | None = None
        annotations: list[msgspec.Raw] | None = None
        categories: msgspec.Raw = msgspec.Raw()

    class _ImageRef(msgspec.Struct):
        id: object = None

    class _AnnotationRef(msgspec.Struct, rename={"id": "image_id"}):
        id: object = None

    _REFS = {"images": _ImageRef, "annotations": _AnnotationRef}


def _scan_python(data: bytes):
    """(spans, ids) per section by the standard library's decoder. The bytes are read as
    Latin-1, one character a byte, so that offsets are byte offsets: JSON's structure is
    ASCII, which UTF-8 never uses inside a multi-byte character."""
    text = data.decode("latin-1")
    decoder = json.JSONDecoder()
    i = _WS.match(text, len(_BOM) if data.startswith(_BOM) else 0).end()
    if text[i] != "{":
        raise ValueError("not an object")
    spans: dict[str, np.ndarray] = {}
    ids: dict[str, list] = {}
    i = _WS.match(text, i + 1).end()
    while text[i] != "}":
        if text[i] != '"':
            raise ValueError("expected a key")
        key, i = scanstring(text, i + 1)
        i = _WS.match(text, i).end()
        if text[i] != ":":
            raise ValueError("expected ':'")
        i = _WS.match(text, i + 1).end()
        if key in ID_KEYS:
            found, ids[key], i = _elements(text, data, decoder, i, ID_KEYS[key])
            spans[key] = np.array(found, dtype=np.int64).reshape(-1, 2)
        else:
            _, end = decoder.raw_decode(text, i)
            if key == "categories":
                spans[key] = np.array([[i, end]], dtype=np.int64)
            i = end
        i = _WS.match(text, i).end()
        if text[i] == ",":
            i = _WS.match(text, i + 1).end()
        elif text[i] != "}":
            raise ValueError("expected ',' or '}'")
    if _WS.match(text, i + 1).end() != len(text) or spans.keys() != set(SECTIONS):
        raise ValueError("not a COCO object")
    return spans, ids


def _elements(text: str, data: bytes, decoder, i: int, id_key: str):
    """([(start, end)], ids, end of the array) of the array at ``i``, each element parsed and
    dropped."""
    if text[i] != "[":
        raise ValueError("not an array")
    spans, ids = [], []
    i = _WS.match(text, i + 1).end()
    while text[i] != "]":
        value, end = decoder.raw_decode(text, i)
        found = value.get(id_key) if isinstance(value, dict) else None
        if isinstance(found, str) and not found.isascii():  # Latin-1 garbled it: decode again
            found = json.loads(data[i:end].decode("utf-8"))[id_key]
        spans.append((i, end))
        ids.append(found)
        i = _WS.match(text, end).end()
        if text[i] == ",":
            i = _WS.match(text, i + 1).end()
        elif text[i] != "]":
            raise ValueError("expected ',' or ']'")
    return spans, ids, i + 1


def _positions(data: bytes, starts: np.ndarray) -> tuple[list[int], list[int]]:
    """1-based line and column of each of the sorted byte offsets ``starts``, as the file's
    text counts them (:func:`as_text`)."""
    ascii_only, crs = data.isascii(), b"\r" in data
    if ascii_only and not crs and data.count(b"\n") <= 4 * len(starts):
        return _positions_by_breaks(data, starts)
    return _positions_by_steps(data, starts, ascii_only, crs)


def _positions_by_breaks(data: bytes, starts: np.ndarray) -> tuple[list[int], list[int]]:
    """:func:`_positions` of a file of ASCII lines ended by ``\\n`` and not many more of them
    than elements (as compact writers put them): from the offsets of its line breaks, found
    by numpy a slice of the file at a time."""
    view, size = np.frombuffer(data, dtype=np.uint8), 1 << 20
    breaks = [np.flatnonzero(view[at : at + size] == 10) + at for at in range(0, len(data), size)]
    marks = np.concatenate([[-1], *breaks])  # -1: where the first line would have its break
    before = np.searchsorted(marks, starts)  # the breaks before each offset, and the -1
    return before.tolist(), (starts - marks[before - 1]).tolist()


def _positions_by_steps(
    data: bytes, starts: np.ndarray, ascii_only: bool, crs: bool
) -> tuple[list[int], list[int]]:
    """:func:`_positions` of any file, in one pass: each step counts only the bytes since the
    previous offset, so a file on one line costs no more than a pretty-printed one."""
    pos = line_start = len(_BOM) if data.startswith(_BOM) else 0
    line, column = 1, 0  # column: characters from the line's start to pos
    lines, columns = [], []
    for cur in starts.tolist():
        breaks = data.count(b"\n", pos, cur)
        if crs:
            breaks += data.count(b"\r", pos, cur) - data.count(b"\r\n", pos, cur)
        if breaks:
            line += breaks
            line_start = max(data.rfind(b"\n", pos, cur), data.rfind(b"\r", pos, cur)) + 1
            pos, column = line_start, 0
        column += cur - pos if ascii_only else len(data[pos:cur].decode("utf-8"))
        pos = cur
        lines.append(line)
        columns.append(column + 1)
    return lines, columns


class Piece:
    """Problems in one piece of a file read alone (an element of an array, the categories
    array), reported as the whole file reports them: JSON paths from the file's top, lines and
    columns counted from where the piece starts in it. Its bytes become text, and the text is
    located, only when pydantic reads it or a problem is reported, so that the many pieces
    msgspec reads without a problem cost nothing more."""

    def __init__(self, raw: bytes, file: str, loc: tuple, line: int, column: int):
        self.raw, self.file = raw, file
        self.loc, self.line, self.column = loc, line, column

    @cached_property
    def text(self) -> str:
        return as_text(self.raw)

    @cached_property
    def locator(self) -> JsonLocator:
        return JsonLocator(self.text)

    def problem(
        self, loc: tuple, message: str, code: str = "PM012", severity: str = "error"
    ) -> Problem:
        line, column = self.locator.line_column(loc[len(self.loc) :])
        line, column = self._shift(line, column)
        return Problem(self.file, message, json_path(loc), code, line, column, severity)

    def shifted(self, problems: list[Problem]) -> list[Problem]:
        """Problems found in the piece's text alone (its validation), placed in the file."""
        prefix = json_path(self.loc)
        out = []
        for p in problems:
            path = prefix + ("." if p.path and not p.path.startswith("[") else "") + p.path
            line, column = self._shift(p.line, p.column) if p.line is not None else (None, None)
            out.append(replace(p, path=path, line=line, column=column))
        return out

    def _shift(self, line: int, column: int) -> tuple[int, int]:
        return self.line + line - 1, column + self.column - 1 if line == 1 else column


def piece(data: bytes, row, file: str, loc: tuple) -> Piece:
    """The :class:`Piece` of one row of :attr:`Elements.spans` (or the categories span)."""
    start, end, line, column = (int(v) for v in row)
    return Piece(data[start:end], file, loc, line, column)
