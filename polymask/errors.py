"""Problems found in inputs, collected rather than raised one by one.

Every command gathers problems for all files and reports them together, so one bad file never
hides the state of the others. A problem always says which file, where in it and what is wrong.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input.

    ``path`` is a JSON path into the file (``shapes[3].points``), empty when the problem is the
    file as a whole. ``line``/``column`` are 1-based positions in the file's text when known.
    """

    file: str
    message: str
    path: str = ""
    code: str = "PM000"
    line: int | None = None
    column: int | None = None
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}" + (f":{self.column}" if self.column is not None else "")
        place = f" {self.path}:" if self.path else ""
        kind = "warning: " if self.severity == "warning" else ""
        return f"{where}:{place} {kind}{self.message}"

    def to_dict(self) -> dict:
        return asdict(self)


class AnnotationError(Exception):
    """An input that cannot be used; carries every problem found in it."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class UsageError(Exception):
    """A bad option or configuration value (exit code 2), as opposed to bad input data."""
