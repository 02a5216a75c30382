"""Rendering a :class:`~polymask.stats.report.StatsReport`: rich tables, JSON, CSV and Markdown."""

from __future__ import annotations

import csv
import io
import json

from polymask.stats.advice import ratio_text
from polymask.stats.report import ClassStats, StatsReport
from polymask.stats.weights import SCHEMES

WEIGHT_TITLES = {
    "inverse_frequency": "inv. freq.",
    "median_frequency": "median freq.",
    "effective_number": "eff. number",
    "generalized_dice": "gen. Dice",
}
MAX_SIZES_SHOWN = 5


def render_json(report: StatsReport) -> str:
    """Strict JSON (no NaN tokens: undefined values are null), keys in model order."""
    return json.dumps(report.model_dump(mode="json"), indent=2, allow_nan=False) + "\n"


def _area(c: ClassStats) -> list[str]:
    if c.object_area is None:
        return ["", "", ""]
    a = c.object_area
    return [str(a.min), f"{a.median:g}", str(a.max)]


def render_csv(report: StatsReport) -> str:
    """One row per class: counts, fractions, objects and the four weights."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(
        [
            "id",
            "name",
            "in_label_map",
            "pixels",
            "fraction",
            "images",
            "mean_fraction_where_present",
            "instances",
            "area_min",
            "area_median",
            "area_max",
            *(f"weight_{s}" for s in SCHEMES),
        ]
    )
    for c in report.classes:
        writer.writerow(
            [
                c.id,
                c.name or "",
                int(c.in_label_map),
                c.pixels,
                repr(c.fraction),
                c.images,
                ""
                if c.mean_fraction_where_present is None
                else repr(c.mean_fraction_where_present),
                "" if c.instances is None else c.instances,
                *_area(c),
                *(repr(getattr(c.weights, s)) for s in SCHEMES),
            ]
        )
    return buf.getvalue()


def _fmt_ratio(r: float | None) -> str:
    return "n/a" if r is None else ratio_text(r)


def _sizes(report: StatsReport) -> str:
    shown = ", ".join(
        f"{s.width}x{s.height} ({s.images})" for s in report.image_sizes[:MAX_SIZES_SHOWN]
    )
    more = len(report.image_sizes) - MAX_SIZES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "") or "none"


def dataset_lines(report: StatsReport) -> list[tuple[str, str]]:
    """The dataset-level numbers as (what, value) pairs, shared by the text renderers."""
    ignore_share = report.ignore_pixels / max(report.ignore_pixels + report.pixels, 1)
    absent = report.classes_absent
    lines = [
        (
            "images",
            f"{report.images:,}"
            + (f" ({report.files_failed} files failed)" if report.files_failed else ""),
        ),
        ("image sizes", _sizes(report)),
        ("pixels (non-ignore)", f"{report.pixels:,}"),
        (
            f"ignore pixels ({report.ignore_index})",
            f"{report.ignore_pixels:,} ({100 * ignore_share:.2f}%, in {report.ignore_images} of "
            f"{report.images} images)",
        ),
        (
            "classes never present",
            "unknown (no label map)"
            if absent is None
            else ", ".join(report.class_name(i) for i in absent) or "none",
        ),
        ("imbalance (all classes)", _fmt_ratio(report.imbalance_ratio)),
        ("imbalance (without background)", _fmt_ratio(report.imbalance_ratio_foreground)),
        (
            "normalized entropy",
            "n/a" if report.normalized_entropy is None else f"{report.normalized_entropy:.3f}",
        ),
    ]
    return lines


def _class_row(report: StatsReport, c: ClassStats) -> list[str]:
    mean = c.mean_fraction_where_present
    row = [
        str(c.id),
        c.name or "",
        f"{c.pixels:,}",
        f"{100 * c.fraction:.3f}%",
        str(c.images),
        "" if mean is None else f"{100 * mean:.2f}%",
    ]
    if report.source == "annotations":
        row += ["" if c.instances is None else str(c.instances), *_area(c)]
    return row


def _class_header(report: StatsReport) -> list[str]:
    head = ["id", "name", "pixels", "fraction", "images", "mean where present"]
    if report.source == "annotations":
        head += ["objects", "area min", "area median", "area max"]
    return head


def _weight_rows(report: StatsReport) -> list[list[str]]:
    return [
        [str(c.id), c.name or "", *(f"{getattr(c.weights, s):.4g}" for s in SCHEMES)]
        for c in report.classes
    ]


def weight_vector_lines(report: StatsReport) -> list[str]:
    """``scheme = [w0, w1, ...]``: indexed by class id, ready for ``CrossEntropyLoss(weight=)``."""
    return [f"{s} = [{', '.join(f'{w:.6g}' for w in report.weight_vectors[s])}]" for s in SCHEMES]


def render_markdown(report: StatsReport) -> str:
    def table(head: list[str], rows: list[list[str]]) -> list[str]:
        def esc(cell: str) -> str:
            return cell.replace("|", "\\|")

        right = {
            "id",
            "pixels",
            "fraction",
            "images",
            "mean where present",
            "objects",
            "area min",
            "area median",
            "area max",
            *WEIGHT_TITLES.values(),
        }
        return [
            "| " + " | ".join(head) + " |",
            "|" + "|".join("---:" if h in right else "---" for h in head) + "|",
            *("| " + " | ".join(esc(x) for x in r) + " |" for r in rows),
        ]

    out = [f"# Label statistics ({report.source})", ""]
    out += [f"- {what}: {value}" for what, value in dataset_lines(report)]
    out += ["", "## Classes", ""]
    out += table(_class_header(report), [_class_row(report, c) for c in report.classes])
    out += [
        "",
        f"## Class weights (mean 1 over present classes; effective number beta = "
        f"{report.effective_number_beta:g})",
        "",
    ]
    out += table(["id", "name", *WEIGHT_TITLES.values()], _weight_rows(report))
    out += ["", "Indexed by class id:", "", "```python", *weight_vector_lines(report), "```"]
    if report.advice:
        out += ["", "## Advice", ""] + [f"- {a}" for a in report.advice]
    if report.gates:
        out += ["", "## Gates", ""]
        out += [
            f"- {'passed' if g.passed else 'FAILED'} `{g.gate}`: {g.message}" for g in report.gates
        ]
    return "\n".join(out) + "\n"


def print_rich(report: StatsReport, console) -> None:
    """The terminal report: dataset summary, class table, weights, advice, gates."""
    from rich.markup import escape
    from rich.table import Table

    summary = Table(show_header=False, box=None, pad_edge=False)
    for what, value in dataset_lines(report):
        summary.add_row(f"[bold]{escape(what)}[/]", escape(value))
    console.print(summary)

    classes = Table(title=f"classes ({report.source})", title_justify="left")
    for h in _class_header(report):
        classes.add_column(h, justify="left" if h == "name" else "right")
    for c in report.classes:
        classes.add_row(*map(escape, _class_row(report, c)), style="dim" if c.pixels == 0 else None)
    console.print(classes)

    weights = Table(
        title=f"class weights (mean 1 over present classes, beta {report.effective_number_beta:g})",
        title_justify="left",
    )
    for h in ["id", "name", *WEIGHT_TITLES.values()]:
        weights.add_column(h, justify="left" if h == "name" else "right")
    for row in _weight_rows(report):
        weights.add_row(*map(escape, row))
    console.print(weights)
    for line in weight_vector_lines(report):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if report.advice:
        console.print("\n[bold]advice[/]")
        for a in report.advice:
            console.print(f"- {a}", highlight=False, markup=False)
    for g in report.gates:
        status = "[green]passed[/]" if g.passed else "[bold red]FAILED[/]"
        console.print(f"{status} {g.gate}: ", end="")
        console.print(g.message, highlight=False, markup=False)
