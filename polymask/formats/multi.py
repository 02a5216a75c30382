"""What formats that describe many images in one file share: output keys and error paths.

A COCO or Label Studio file yields one mask per image; each needs an output name that is
unique in the file and can never lead outside the output folder.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath, PureWindowsPath

from pydantic import ValidationError

from polymask.errors import Problem
from polymask.formats.common import json_path, locate, parse_problems

KEY_REFUSED = "cannot name a mask in the output folder (absolute, '..' or control characters)"
"""Why :func:`image_key` gave None, for the message that names the image."""


def image_key(file_key: str, image_name: str) -> str | None:
    """Output name of one image of a multi-image file, or None when the name would escape.

    The image's name without extension, below the folder of the annotation file (files in
    different folders cannot collide); subfolders in the name are kept. Absolute names, drive
    letters and ``..`` are refused: a mask must never be written outside the output. So are
    control characters, which no file system takes gladly.
    """
    name = PureWindowsPath(image_name).as_posix() if "\\" in image_name else image_name
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", name):
        return None
    if not name.isprintable():
        return None
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        return None
    rel = PurePosixPath(*parts)
    stem = rel.with_suffix("") if rel.suffix else rel
    folder = PurePosixPath(file_key).parent
    return (folder / stem).as_posix() if str(folder) != "." else stem.as_posix()


def validation_problems(
    text: str, file: str, exc: ValidationError, tags: frozenset[str], hidden: frozenset[str]
) -> list[Problem]:
    """pydantic errors as problems, located in the text.

    Union tags are not keys of the document: ``tags`` (member names that pydantic puts after a
    list index) and ``hidden`` (tags dropped wherever they appear) are removed from each
    location before it becomes a JSON path and a line.
    """
    problems = []
    errors = exc.errors(include_url=False)
    for p, err in zip(parse_problems(text, file, exc, tags), errors, strict=True):
        if err["type"] == "json_invalid":
            problems.append(p)
            continue
        loc = _document_loc(tuple(err["loc"]), tags, hidden)
        line, column = locate(text, loc) or (None, None)
        path = json_path(loc)
        problems.append(Problem(p.file, p.message, path, p.code, line, column, p.severity))
    return problems


def _document_loc(loc: tuple, tags: frozenset[str], hidden: frozenset[str]) -> tuple:
    out: list = []
    for part in loc:
        if part in hidden or (part in tags and out and isinstance(out[-1], int)):
            continue
        out.append(part)
    return tuple(out)


class Reporter:
    """Problems found after parsing, each with its JSON path and its line in the text.

    ``unwrap`` drops the first step of every location: a file holding one item where a list
    is usual (a single Label Studio task) is reported with paths into that item.
    """

    def __init__(self, text: str, file: str, unwrap: bool = False):
        self.text, self.file, self.unwrap = text, file, unwrap
        self.problems: list[Problem] = []

    def path(self, loc: tuple) -> str:
        return json_path(loc[1:] if self.unwrap else loc)

    def add(self, loc: tuple, message: str, code: str, severity: str = "error",
            into: list[Problem] | None = None) -> None:
        """Record a problem in ``problems``, or in ``into`` (a list kept for one image)."""
        doc_loc = loc[1:] if self.unwrap else loc
        line, column = locate(self.text, doc_loc) or (None, None)
        problem = Problem(self.file, message, json_path(doc_loc), code, line, column, severity)
        (self.problems if into is None else into).append(problem)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]
