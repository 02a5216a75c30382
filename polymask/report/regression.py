"""A score against its baseline, rendered: a rich table, a Markdown section and a one-line
verdict, all read from the report's :class:`~polymask.score.report.Regression`.

Deltas carry their sign (``-0.0410``) so a drop reads as one at a glance; a row whose change is
a regression (its drop beyond the tolerance, its interval below zero) is marked ``▼ worse``.
"""

from __future__ import annotations

from polymask.score.report import Regression, RegressionRow

SHOWN_KEYS = 5
"""Images named in a line about images outside the comparison; the JSON lists them all."""
WORSE = "▼ worse"


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def _signed(x: float | None) -> str:
    return "—" if x is None else f"{x:+.4f}"


def interval(row: RegressionRow) -> str:
    if row.ci_low is None or row.ci_high is None:
        return "—"
    return f"[{row.ci_low:+.4f}, {row.ci_high:+.4f}]"


def _label(row: RegressionRow) -> str:
    return row.name + ("" if row.foreground else " (bg)")


def _change(row: RegressionRow) -> str:
    return _signed(row.delta) + ("" if row.ci_low is None else f" {interval(row)}")


def verdict(reg: Regression) -> str:
    """One line: which classes (of those in the mean) and whether the mean got worse."""
    beyond = f" by more than {reg.tolerance:g}" if reg.tolerance else ""
    classes = [r for r in reg.classes if r.worse and r.foreground]
    parts = []
    if classes:
        plural = "class" if len(classes) == 1 else "classes"
        shown = ", ".join(f"{r.name} {_change(r)}" for r in classes)
        parts.append(f"{len(classes)} {plural} worse{beyond}: {shown}")
    if reg.mean.worse:
        parts.append(f"mean Dice worse{beyond}: {_change(reg.mean)}")
    if not parts:
        return f"No class and not the mean Dice worse than the baseline{beyond}."
    return "; ".join(parts) + "."


def method(reg: Regression) -> str:
    """How the numbers were made, for the line above the table."""
    how = (
        f"95% paired bootstrap interval over images ({reg.bootstrap} resamples, seed {reg.seed})"
        if reg.bootstrap
        else "no interval (--bootstrap 0): a drop alone counts"
    )
    return (
        f"Dice ({reg.aggregate}) against the baseline {reg.baseline} on the "
        f"{reg.images_compared} images scored in both runs; delta = current - baseline; {how}."
    )


def image_notes(reg: Regression) -> list[str]:
    """Lines about images outside a like-for-like comparison (empty when there are none)."""
    out = []
    for keys, what in (
        (reg.only_in_baseline, "scored only in the baseline (left out)"),
        (reg.only_in_current, "scored only in this run (left out)"),
        (reg.ground_truth_changed, "whose ground truth changed since the baseline (compared)"),
    ):
        if keys:
            more = f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else ""
            out.append(f"{len(keys)} images {what}: {', '.join(keys[:SHOWN_KEYS])}{more}")
    return out


def _rows(reg: Regression) -> list[RegressionRow]:
    return [*reg.classes, reg.mean]


def print_regression(reg: Regression, console) -> None:
    """The comparison as a rich table, then the image notes and the verdict."""
    from rich.table import Table

    table = Table(title=method(reg), title_justify="left")
    for col in ("class", "baseline", "current", "delta", "95% CI", ""):
        table.add_column(col, justify="left" if col in ("class", "") else "right")
    for row in _rows(reg):
        table.add_row(
            _label(row),
            _fmt(row.baseline),
            _fmt(row.current),
            _signed(row.delta),
            interval(row),
            f"[bold red]{WORSE}[/]" if row.worse else "",
            end_section=row is reg.classes[-1],
        )
    console.print(table)
    for line in [*image_notes(reg), verdict(reg)]:
        console.print(line, markup=False)


def markdown_section(reg: Regression) -> list[str]:
    """Lines of a Markdown section: the deltas table and the verdict."""

    def md(text: str) -> str:
        return text.replace("|", "\\|")

    out = ["", "### Against the baseline", "", md(method(reg)), ""]
    out += ["| class | baseline | current | delta | 95% CI | |", "|---|---:|---:|---:|---:|---|"]
    for row in _rows(reg):
        name = f"**{row.name}**" if row.id is None else md(_label(row))
        out.append(
            f"| {name} | {_fmt(row.baseline)} | {_fmt(row.current)} | {_signed(row.delta)} | "
            f"{interval(row)} | {WORSE if row.worse else ''} |"
        )
    notes = image_notes(reg)
    if notes:
        out += ["", *(f"- {md(n)}" for n in notes)]
    worse = any(r.worse for r in _rows(reg) if r.foreground)
    out += ["", f"{'❌' if worse else '✅'} {md(verdict(reg))}"]
    return out
