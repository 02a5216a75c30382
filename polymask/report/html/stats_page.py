"""A dataset's label statistics as one HTML page (``polymask stats --html``): the dataset's
numbers and imbalance, pixels per class on a log scale, a sortable table of the classes with
their weights, the advice, and an example of each rarest class.

Every number comes from the :class:`~polymask.stats.report.StatsReport` that ``--json`` writes.
"""

from __future__ import annotations

from collections.abc import Sequence

from polymask.report.html import charts
from polymask.report.html.gallery import RARE_SHOWN, Card, cards_html
from polymask.report.html.page import (
    Cell,
    Column,
    badge,
    bullets,
    chart,
    document,
    esc,
    note,
    num,
    paragraph,
    section,
    table,
)
from polymask.report.stats import WEIGHT_TITLES, dataset_lines, weight_vector_lines
from polymask.stats.report import StatsReport
from polymask.stats.weights import SCHEMES
from polymask.visualize import class_color

LISTED = 50
"""Problems listed; the JSON report lists them all."""


def stats_page(report: StatsReport, examples: Sequence[Card] = ()) -> str:
    """The page of a report; ``examples``: the rarest classes drawn
    (:func:`polymask.report.html.gallery.rare_class_cards`)."""
    sections = [
        ("dataset", "Dataset", _dataset(report)),
        ("classes", "Classes", _classes(report)),
        ("weights", "Class weights", _weights(report)),
    ]
    if report.advice:
        sections.insert(1, ("advice", "Advice", bullets(report.advice)))
    if examples:
        sections.append(("rare", "Rarest classes", _rare(examples)))
    if report.problems:
        problems = [
            f"{p.file}{f' {p.path}' if p.path else ''}: {p.message}" for p in report.problems
        ]
        sections.append(("problems", "Problems", bullets(problems, LISTED)))
    lines = [
        f"{report.images:,} images ({report.source}), {len(report.classes)} classes"
        + (f", {report.files_failed} files failed" if report.files_failed else "")
    ]
    verdict = ""
    if report.gates:
        failed = sum(not g.passed for g in report.gates)
        verdict = badge(not failed, "gates passed" if not failed else f"{failed} gates failed")
    body = "".join(section(anchor, title, html) for anchor, title, html in sections)
    nav = [(anchor, title) for anchor, title, _ in sections]
    return document("polymask stats", lines, nav, body, verdict)


def _dataset(report: StatsReport) -> str:
    parts = [table([Column("measure"), Column("value")], dataset_lines(report))]
    parts.append(
        paragraph(
            "Imbalance: largest over smallest non-zero class pixel count. Normalized entropy: "
            "1 is perfectly balanced, 0 a single class.",
            "muted",
        )
    )
    if report.gates:
        rows = [
            [g.gate, Cell("passed" if g.passed else "FAILED", cls="good" if g.passed else "bad"),
             g.message]
            for g in report.gates
        ]  # fmt: skip
        parts.append(table([Column("gate"), Column("result"), Column("measured")], rows))
    return "".join(parts)


def _classes(report: StatsReport) -> str:
    annotations = report.source == "annotations"
    if not charts.have_matplotlib():
        drawn = note(f"Charts need matplotlib: {charts.PLOT_HINT}")
    elif report.classes:
        drawn = chart(
            charts.frequency_chart(
                [c.id for c in report.classes],
                [c.name or "" for c in report.classes],
                [c.pixels for c in report.classes],
                [class_color(c.id) for c in report.classes],
                fmt="svg",
            )
        )
    else:
        drawn = ""
    columns = [
        Column("id", True),
        Column("name"),
        Column("pixels", True),
        Column("fraction", True, "of all non-ignore pixels"),
        Column("images", True, "images with at least one pixel of the class"),
        Column("mean where present", True, "mean fraction of the image, where present"),
    ]
    if annotations:
        columns += [
            Column("objects", True),
            Column("area min", True, "pixels of an object"),
            Column("area median", True),
            Column("area max", True),
        ]
    columns += [Column(WEIGHT_TITLES[s], True, f"{s} weight") for s in SCHEMES]
    rows, styles = [], []
    for c in report.classes:
        mean = c.mean_fraction_where_present
        row = [
            num(c.id),
            Cell(c.name or "", cls="" if c.in_label_map else "muted"),
            num(c.pixels),
            num(c.fraction, f"{100 * c.fraction:.3f}%"),
            num(c.images),
            num(mean, None if mean is None else f"{100 * mean:.2f}%"),
        ]
        if annotations:
            a = c.object_area
            row += [
                num(c.instances),
                num(None if a is None else a.min),
                num(None if a is None else a.median, None if a is None else f"{a.median:g}"),
                num(None if a is None else a.max),
            ]
        row += [num(w := getattr(c.weights, s), f"{w:.4g}") for s in SCHEMES]
        rows.append(row)
        styles.append("" if c.pixels else "muted")
    tip = paragraph("Click a column's title to sort by it; absent classes are greyed.", "muted")
    return drawn + tip + table(columns, rows, sortable=True, row_class=styles)


def _weights(report: StatsReport) -> str:
    text = (
        "Each scheme scaled to mean 1 over the classes present; an absent class gets 0. "
        f"Effective number with beta = {report.effective_number_beta:g}. Indexed by class id, "
        "ready for torch.nn.CrossEntropyLoss(weight=torch.tensor(...)):"
    )
    return paragraph(text, "muted") + f"<pre>{esc(chr(10).join(weight_vector_lines(report)))}</pre>"


def _rare(examples: Sequence[Card]) -> str:
    text = (
        f"The {min(RARE_SHOWN, len(examples))} foreground classes with the fewest pixels, each in "
        "the image where it has the most: the mask whole, and cropped around the class, the "
        "class in its colour and the other classes dimmed."
    )
    return paragraph(text, "muted") + cards_html(examples)
