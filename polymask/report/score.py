"""Renderers of a score: a rich table for people, strict JSON, CSV per image and class, Markdown.

Every renderer reads the same :class:`~polymask.score.run.ScoreResult`; none computes a metric.
Numbers are printed with four decimals in tables; JSON and CSV keep full precision so a rerun
on the same inputs gives the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable

import numpy as np

from polymask.report.problems import _escape_data, _escape_property
from polymask.report.problems import render_github as render_problems_github
from polymask.report.regression import markdown_section, print_regression, verdict
from polymask.score.report import AGGREGATES, ClassScore, GateResult, ScoreReport
from polymask.score.run import ScoreResult
from polymask.score.surface import SURFACE_METRICS


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def render_json(result: ScoreResult) -> str:
    """Strict JSON (undefined values are null, never NaN), as ``score-report.schema.json``."""
    doc = result.report.model_dump(mode="json", by_alias=True)
    return _indented(doc, "") + "\n"


def _indented(value, pad: str) -> str:
    """``json.dumps(value, indent=2, allow_nan=False)``, except that a list of numbers stays
    on one line: every image carries its counts per class, and one number a line would make the
    report of 10,000 images of 20 classes 2.2 times larger. The report's lists hold one kind
    each, objects or numbers, the numbers possibly with nulls (per-image surface distances), so
    the first item tells a list of numbers."""
    inner = pad + "  "
    if isinstance(value, dict) and value:
        items = (f"{inner}{json.dumps(k)}: {_indented(v, inner)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value and type(value[0]) not in (int, float, type(None)):
        return "[\n" + ",\n".join(inner + _indented(v, inner) for v in value) + f"\n{pad}]"
    return json.dumps(value, allow_nan=False)


CSV_METRICS = ("dice", "iou", "precision", "recall", "boundary_dice", "boundary_iou")


def render_csv(result: ScoreResult) -> str:
    """One row per image and class: counts and per-image metrics (empty cell when undefined),
    then with ``--surface`` that image's surface distances of the class, ``inf`` where only one
    mask holds it (what ``float()`` and pandas read back as infinity)."""
    per = result.per_image
    values = per.metrics(result.report.settings.empty)
    metric_names = [m for m in CSV_METRICS if m in values]
    surface_names = list(SURFACE_METRICS) if per.surface is not None else []
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        ["image", "class_id", "class", *metric_names, "tp", "fp", "fn", "gt_pixels", "pred_pixels"]
        + surface_names
    )
    for n, key in enumerate(per.keys):
        for c, name in enumerate(result.class_names):
            tp, fp, fn = int(per.tp[n, c]), int(per.fp[n, c]), int(per.fn[n, c])
            cells = [_csv_value(values[m][n, c]) for m in metric_names]
            distances = [_csv_value(x) for x in per.surface[n, :, c]] if surface_names else []
            writer.writerow([key, c, name, *cells, tp, fp, fn, tp + fn, tp + fp, *distances])
    return buf.getvalue()


def _csv_value(x: float) -> str:
    """Full precision; empty when undefined; ``inf`` as Python writes it."""
    return "" if np.isnan(x) else repr(float(x))


def render_github(result: ScoreResult) -> str:
    """GitHub Actions workflow commands: an error per bad input file and per failed gate, and a
    notice with the means, so a pull request shows why the check failed."""
    r = result.report
    problems = [p.problem() for p in r.problems]
    lines = [render_problems_github(problems)]
    title = _escape_property("polymask score")
    for g in r.gates:
        if not g.passed:
            lines.append(f"::error title={title}::{_escape_data(_gate_line(g))}\n")
    means = ", ".join(f"{agg} {_fmt(r.summary.get(agg).dice)}" for agg in AGGREGATES)
    note = f"mean Dice over {r.images_scored} images: {means}"
    lines.append(f"::notice title={title}::{_escape_data(note)}\n")
    if r.regression is not None:
        lines.append(f"::notice title={title}::{_escape_data(verdict(r.regression))}\n")
    return "".join(lines)


def _gate_line(g: GateResult) -> str:
    outcome = "passed" if g.passed else "FAILED"
    if g.kind == "regression":
        change = "—" if g.value is None else f"{g.value:+.4f}"
        if g.ci_low is not None and g.ci_high is not None:
            change += f" [{g.ci_low:+.4f}, {g.ci_high:+.4f}]"
        return f"{g.name} ({g.aggregate}) {change}, drop tolerated {0.0 - g.threshold:g}: {outcome}"
    return f"{g.name} ({g.aggregate}) {_fmt(g.value)} >= {g.threshold}: {outcome}"


def _means_note(report: ScoreReport) -> str:
    s = report.settings
    which = "all classes" if s.include_background else "foreground classes (background excluded)"
    empty = {"nan": "left out", "one": "counted as 1", "zero": "counted as 0"}[s.empty]
    return f"Means over {which}; classes absent from both masks {empty}."


def render_markdown(result: ScoreResult) -> str:
    """A pull-request comment: summary, per-class table, worst images, gates."""
    r = result.report
    boundary = r.settings.boundary is not None
    out = ["## Segmentation score", ""]
    out.append(
        f"{r.images_scored} images scored"
        + (f", {len(r.missing_predictions)} predictions missing" if r.missing_predictions else "")
        + (f", {len(r.extra_predictions)} extra" if r.extra_predictions else "")
        + (f", {len(r.not_masks)} files not masks" if r.not_masks else "")
        + (f", {len(r.problems)} problems" if r.problems else "")
        + "."
    )
    out += [
        "",
        "| aggregate | mean Dice | mean IoU |" + (" Boundary Dice |" if boundary else ""),
        "|---|---:|---:|" + ("---:|" if boundary else ""),
    ]
    for agg in AGGREGATES:
        m = r.summary.get(agg)
        out.append(
            f"| {agg} | {_fmt(m.dice)} | {_fmt(m.iou)} |"
            + (f" {_fmt(m.boundary_dice)} |" if boundary else "")
        )
    surface = r.settings.surface_percentile is not None
    out += [
        "",
        _means_note(r),
        "",
        "| class | Dice (global) | Dice (mean-per-image) | IoU (global) | precision | recall "
        "| GT pixels |" + (_surface_head(r) if surface else ""),
        "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" * 5 if surface else ""),
    ]
    for c in r.classes:
        g, m = c.metrics.global_, c.metrics.mean_per_image
        out.append(
            f"| {_md(c.name)}{'' if c.foreground else ' (bg)'} | {_fmt(g.dice)} | "
            f"{_fmt(m.dice)} | {_fmt(g.iou)} | {_fmt(g.precision)} | {_fmt(g.recall)} | "
            f"{c.gt_pixels} |" + ("".join(f" {v} |" for v in _surface_cells(c)) if surface else "")
        )
    if surface:
        out += ["", _surface_note(r)]
    if r.worst:
        out += [
            "",
            "<details><summary>Worst images</summary>",
            "",
            "| image | mean Dice | mean IoU |",
            "|---|---:|---:|",
        ]
        out += [f"| {_md(w.key)} | {_fmt(w.mean_dice)} | {_fmt(w.mean_iou)} |" for w in r.worst]
        out += ["", "</details>"]
    if r.regression is not None:
        out += markdown_section(r.regression)
    if r.gates:
        out += ["", "**Gates**", ""]
        out += [f"- {'✅' if g.passed else '❌'} {_gate_line(g)}" for g in r.gates]
    if r.not_masks:
        out += ["", "**Not masks**", ""]
        out += [f"- `{n.file}`: {n.reason}" for n in r.not_masks]
    if r.problems:
        out += ["", "**Problems**", ""]
        out += [f"- `{p.file}`{f' `{p.path}`' if p.path else ''}: {p.message}" for p in r.problems]
    return "\n".join(out) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def _surface_head(r: ScoreReport) -> str:
    return f" HD | HD{r.settings.surface_percentile:g} | ASSD | surface Dice | one-sided |"


def _surface_cells(c: ClassScore) -> list[str]:
    """HD, HD95, ASSD, surface Dice and one-sided images of a class; dashes where it has no
    surface distances (background, a class in no image)."""
    s = c.surface
    if s is None:
        return ["—"] * 5
    return [_fmt(s.hd), _fmt(s.hd95), _fmt(s.assd), _fmt(s.surface_dice), str(s.one_sided)]


def _surface_note(r: ScoreReport) -> str:
    return (
        "Surface distances in spacing units (surface Dice at tolerance "
        f"{r.settings.surface_tolerance:g}): the mean over the images where both masks hold "
        "the class; one-sided: images where only one does (infinite distances, left out of "
        "those means; their surface Dice 0 enters its mean)."
    )


def _surface_table(r: ScoreReport):
    """Surface distances per class: means over the images where both masks hold the class."""
    from rich.table import Table

    tol, pct = r.settings.surface_tolerance, r.settings.surface_percentile
    table = Table(
        title=f"Surface distances per class, mean per image (spacing units; surface Dice at "
        f"{tol:g}, hd{pct:g})",
        title_justify="left",
    )
    for col in ("id", "class", "HD", f"HD{pct:g}", "ASSD", "surface Dice", "images", "one-sided"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for c in r.classes:
        s = c.surface
        if s is None:
            continue
        table.add_row(
            str(c.id),
            c.name,
            _fmt(s.hd),
            _fmt(s.hd95),
            _fmt(s.assd),
            _fmt(s.surface_dice),
            str(s.images),
            str(s.one_sided),
        )
    return table


def print_table(result: ScoreResult, console=None) -> None:
    """Rich tables on stdout: per class under both aggregates, the worst images, the gates."""
    from rich.console import Console
    from rich.table import Table

    # a wide fixed width when piped (CI logs), so columns are not cut to 80 characters
    console = console or Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    r = result.report
    boundary = r.settings.boundary is not None
    table = Table(
        title=f"Per class, global over {r.images_scored} images (Dice also mean-per-image)",
        title_justify="left",
    )
    cols = [
        "id",
        "class",
        "Dice",
        "IoU",
        "precision",
        "recall",
        "Dice mean/img",
        "GT px",
        "pred px",
    ] + (["BDice", "BIoU"] if boundary else [])
    for col in cols:
        table.add_column(col, justify="left" if col == "class" else "right")
    for c in r.classes:
        g, m = c.metrics.global_, c.metrics.mean_per_image
        row = [
            str(c.id),
            c.name + ("" if c.foreground else " (bg)"),
            _fmt(g.dice),
            _fmt(g.iou),
            _fmt(g.precision),
            _fmt(g.recall),
            _fmt(m.dice),
            str(c.gt_pixels),
            str(c.pred_pixels),
        ]
        if boundary:
            row += [_fmt(g.boundary_dice), _fmt(g.boundary_iou)]
        table.add_row(*row)
    console.print(table)
    summary = Table(title="Means", title_justify="left")
    for col in ["aggregate", "Dice", "IoU", "precision", "recall"] + (
        ["BDice", "BIoU"] if boundary else []
    ):
        summary.add_column(col, justify="left" if col == "aggregate" else "right")
    for agg in AGGREGATES:
        m = r.summary.get(agg)
        row = [agg, _fmt(m.dice), _fmt(m.iou), _fmt(m.precision), _fmt(m.recall)]
        if boundary:
            row += [_fmt(m.boundary_dice), _fmt(m.boundary_iou)]
        summary.add_row(*row)
    console.print(summary)
    console.print(_means_note(r))
    if any(c.surface is not None for c in r.classes):
        console.print(_surface_table(r))
    if r.worst:
        worst = Table(title="Worst images", title_justify="left")
        worst.add_column("image")
        worst.add_column("mean Dice", justify="right")
        worst.add_column("mean IoU", justify="right")
        for w in r.worst:
            worst.add_row(w.key, _fmt(w.mean_dice), _fmt(w.mean_iou))
        console.print(worst)
    if r.regression is not None:
        print_regression(r.regression, console)
    for line in _listing(r):
        console.print(line, markup=False)


def _listing(r: ScoreReport) -> Iterable[str]:
    for p in r.problems:
        yield str(p.problem())
    for key in r.missing_predictions:
        yield f"missing prediction: {key}"
    for key in r.extra_predictions:
        yield f"extra prediction: {key}"
    for n in r.not_masks:
        yield f"not a mask: {n.file}: {n.reason}"
    for g in r.gates:
        yield f"gate: {_gate_line(g)}"
