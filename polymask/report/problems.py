"""Rendering lists of problems (``validate``, and bad inputs of every other command)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel

from polymask.errors import Problem


class ProblemEntry(BaseModel):
    file: str
    message: str
    path: str = ""
    code: str
    line: int | None = None
    column: int | None = None
    severity: Literal["error", "warning"]


class ValidationReport(BaseModel):
    """``polymask validate --output-format json``."""

    files_checked: int
    errors: int
    warnings: int
    problems: list[ProblemEntry]


SHOWN_ALIKE = 3
"""Warnings of one kind printed in text output before the rest are counted in one line."""


def render_text(
    problems: Iterable[Problem],
    shown: int = SHOWN_ALIKE,
    full_list: str = "--output-format json",
) -> str:
    """One line per problem, except warnings of a kind seen ``shown`` times already: those are
    counted in one line at the end (a COCO file with wrong ``area`` fields would otherwise
    print a line per annotation). Errors are all shown; ``full_list`` names the output that
    keeps every problem."""
    lines, extra, first = [], Counter(), {}
    for p in problems:
        kind = _kind(p)
        if p.severity == "warning" and kind in first and first[kind][1] >= shown:
            extra[kind] += 1
            continue
        count = first.get(kind, (p, 0))[1]
        first[kind] = (first.get(kind, (p, 0))[0], count + 1)
        lines.append(f"{p}\n")
    for kind, n in extra.items():
        example = first[kind][0]
        lines.append(
            f"... and {n:,} more warnings like {example.message!r} ({example.code}); "
            f"{full_list} lists every one\n"
        )
    return "".join(lines)


def _kind(p: Problem) -> tuple[str, str, str]:
    """Problems alike but for their numbers and quoted names are one kind."""
    return p.severity, p.code, _ALIKE.sub("#", p.message)


_ALIKE = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?|'[^']*'|\"[^\"]*\"")


def render_json(problems: Iterable[Problem], files_checked: int) -> str:
    problems = list(problems)
    report = ValidationReport(
        files_checked=files_checked,
        errors=sum(p.severity == "error" for p in problems),
        warnings=sum(p.severity == "warning" for p in problems),
        problems=[ProblemEntry(**p.to_dict()) for p in problems],
    )
    return report.model_dump_json(indent=2) + "\n"


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def render_github(problems: Iterable[Problem]) -> str:
    """GitHub Actions workflow commands: each problem becomes an annotation on its file/line."""
    lines = []
    for p in problems:
        props = [f"file={_escape_property(p.file)}"]
        if p.line is not None:
            props.append(f"line={p.line}")
            if p.column is not None:
                props.append(f"col={p.column}")
        props.append(f"title={_escape_property(f'polymask ({p.code})')}")
        message = f"{p.path}: {p.message}" if p.path else p.message
        lines.append(f"::{p.severity} {','.join(props)}::{_escape_data(message)}\n")
    return "".join(lines)


def render(problems: list[Problem], output_format: str, files_checked: int) -> str:
    if output_format == "json":
        return render_json(problems, files_checked)
    if output_format == "github":
        return render_github(problems)
    return render_text(problems)
