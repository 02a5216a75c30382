"""What the COCO and Label Studio readers share: JSON paths and lines for their problems.

Both report pydantic errors with union tags removed from the paths, and problems found after
parsing (a reference to a missing image, an RLE of the wrong length) at the path and line of
the offending value.
"""

from __future__ import annotations

from polymask.errors import Problem
from polymask.formats.common import json_path, locate


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
