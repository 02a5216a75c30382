"""Rendering lists of problems (``validate``, and bad inputs of every other command)."""

from __future__ import annotations

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


def render_text(problems: Iterable[Problem]) -> str:
    return "".join(f"{p}\n" for p in problems)


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
