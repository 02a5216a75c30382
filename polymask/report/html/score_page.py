"""The score as one HTML page (``polymask score --html``): means and gates, Dice and IoU per
class (chart and sortable table; with ``--surface`` the surface distances too), the confusion
matrix, the comparison with a baseline, and the worst images drawn with their error maps.

Every number comes from the :class:`~polymask.score.report.ScoreReport` that ``--json`` writes,
printed with four decimals as the tables on the terminal are; the sortable columns sort by the
full value. Only the worst images are drawn, so the page stays a few hundred kilobytes for any
number of images.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from polymask.report.confusion import MAX_ANNOTATED, normalized_rows
from polymask.report.html import charts
from polymask.report.html.gallery import cards_html, worst_cards
from polymask.report.html.page import (
    Cell,
    Column,
    badge,
    bullets,
    chart,
    class_label,
    data_uri,
    document,
    esc,
    image,
    legend,
    note,
    num,
    paragraph,
    section,
    signed,
    table,
)
from polymask.report.regression import WORSE, image_notes, interval, method, verdict
from polymask.score.report import AGGREGATES, ClassScore, ScoreReport
from polymask.visualize import ERROR_KINDS

LISTED = 50
"""File names listed per kind (missing, extra, problems); the JSON report lists them all."""


def score_page(result, images: Path | None = None) -> str:
    """The page of a :class:`~polymask.score.run.ScoreResult`; ``images``: the folder of the
    images to draw the worst ones over (found by key, as ``--errors`` finds them)."""
    r = result.report
    boundary = r.settings.boundary is not None
    sections = [
        ("summary", "Summary", _summary(r, boundary)),
        ("classes", "Per class", _classes(r, boundary)),
    ]
    if result.confusion is not None:
        sections.append(("confusion", "Confusion matrix", _confusion(result)))
    if r.regression is not None:
        sections.append(("baseline", "Against the baseline", _regression(r)))
    if r.worst:
        sections.append(("worst", "Worst images", _worst(result, images)))
    listing = _listing(r)
    if listing:
        sections.append(("inputs", "Inputs left out", listing))
    lines = [
        f"{r.preds} scored against {r.gt}",
        f"{r.images_scored:,} images, {len(r.classes)} classes; polymask {r.polymask_version}",
    ]
    verdict_badge = ""
    if r.gates:
        failed = sum(not g.passed for g in r.gates)
        verdict_badge = badge(r.passed, "gates passed" if r.passed else f"{failed} gates failed")
    body = "".join(section(anchor, title, html) for anchor, title, html in sections)
    nav = [(anchor, title) for anchor, title, _ in sections]
    return document("polymask score", lines, nav, body, verdict_badge)


def _means_note(r: ScoreReport) -> str:
    s = r.settings
    which = (
        "all classes" if s.include_background else "the foreground classes (background left out)"
    )
    empty = {"nan": "left out", "one": "counted as 1", "zero": "counted as 0"}[s.empty]
    return (
        f"Means over {which}; a class absent from both masks of an image is {empty}. "
        "global: the metrics of the confusion summed over all images; mean-per-image: each "
        "class's per-image values averaged over the images where they are defined."
    )


def _summary(r: ScoreReport, boundary: bool) -> str:
    columns = [Column("aggregate")] + [
        Column(t, numeric=True) for t in ("Dice", "IoU", "precision", "recall")
    ]
    if boundary:
        columns += [Column("Boundary Dice", True), Column("Boundary IoU", True)]
    rows = []
    for agg in AGGREGATES:
        m = r.summary.get(agg)
        row = [agg, num(m.dice), num(m.iou), num(m.precision), num(m.recall)]
        if boundary:
            row += [num(m.boundary_dice), num(m.boundary_iou)]
        rows.append(row)
    parts = [table(columns, rows, caption="Means"), paragraph(_means_note(r), "muted")]
    counts = [
        f"{len(r.missing_predictions):,} ground-truth images without a prediction",
        f"{len(r.extra_predictions):,} predictions without ground truth",
        f"{len(r.problems):,} problems with input files",
    ]
    parts.append(bullets(counts))
    if r.gates:
        gate_rows = [
            [
                g.name,
                g.aggregate,
                num(g.value, signed(g.value) if g.kind == "regression" else None),
                num(g.threshold, f"{g.threshold:g}"),
                _result_cell(g.passed),
            ]
            for g in r.gates
        ]
        parts.append(
            table(
                [
                    Column("gate"),
                    Column("aggregate"),
                    Column("value", True),
                    Column("threshold", True),
                    Column("result"),
                ],
                gate_rows,
                caption="Gates (a regression gate's value is the change of Dice)",
            )
        )
    return "".join(parts)


def _result_cell(passed: bool) -> Cell:
    return Cell("passed" if passed else "FAILED", cls="good" if passed else "bad")


CLASS_COLUMNS = [
    Column("id", True),
    Column("class"),
    Column("Dice", True, "2TP / (2TP + FP + FN), confusion summed over all images"),
    Column("IoU", True, "TP / (TP + FP + FN), global"),
    Column("precision", True, "TP / (TP + FP), global"),
    Column("recall", True, "TP / (TP + FN), global"),
    Column("Dice mean/img", True, "per-image Dice averaged over the images where it is defined"),
    Column("GT px", True, "ground-truth pixels (TP + FN)"),
    Column("pred px", True, "predicted pixels (TP + FP)"),
    Column("images", True, "images whose ground truth holds the class"),
]


def _surface_columns(r: ScoreReport) -> list[Column]:
    s = r.settings
    each = "mean over the images where both masks hold the class, in spacing units"
    return [
        Column("HD", True, f"Hausdorff distance: {each}"),
        Column(f"HD{s.surface_percentile:g}", True, f"robust Hausdorff distance: {each}"),
        Column("ASSD", True, f"average symmetric surface distance: {each}"),
        Column(
            "surface Dice",
            True,
            f"surface Dice at tolerance {s.surface_tolerance:g}, mean over the images where "
            "either mask holds the class",
        ),
        Column(
            "one-sided",
            True,
            "images where only one mask holds the class: infinite distances, left out of the "
            "distance means",
        ),
    ]


def _surface_cells(c: ClassScore) -> list[Cell]:
    s = c.surface
    if s is None:
        return [num(None)] * 5
    return [num(s.hd), num(s.hd95), num(s.assd), num(s.surface_dice), num(s.one_sided)]


def _classes(r: ScoreReport, boundary: bool) -> str:
    surface = r.settings.surface_percentile is not None
    columns = CLASS_COLUMNS + (
        [Column("Boundary Dice", True), Column("Boundary IoU", True)] if boundary else []
    )
    if surface:
        columns += _surface_columns(r)
    rows = []
    for c in r.classes:
        g, m = c.metrics.global_, c.metrics.mean_per_image
        row = [
            num(c.id),
            c.name + ("" if c.foreground else " (not in the means)"),
            num(g.dice),
            num(g.iou),
            num(g.precision),
            num(g.recall),
            num(m.dice),
            num(c.gt_pixels),
            num(c.pred_pixels),
            num(c.images_with_class),
        ]
        if boundary:
            row += [num(g.boundary_dice), num(g.boundary_iou)]
        if surface:
            row += _surface_cells(c)
        rows.append(row)
    shown = [c for c in r.classes if c.foreground]
    if not charts.have_matplotlib():
        drawn = note(f"Charts need matplotlib: {charts.PLOT_HINT}")
    elif shown:
        labels = [class_label(c.id, c.name) for c in shown]
        drawn = chart(
            charts.scores_chart(
                labels,
                [c.metrics.global_.dice for c in shown],
                [c.metrics.global_.iou for c in shown],
            )
        )
        measured = [
            (label, c.surface)
            for label, c in zip(labels, shown, strict=True)
            if c.surface is not None
        ]
        if measured:
            drawn += chart(
                charts.distances_chart(
                    [label for label, _ in measured],
                    [s.hd95 for _, s in measured],
                    [s.assd for _, s in measured],
                    [s.one_sided for _, s in measured],
                    r.settings.surface_percentile,
                )
            )
    else:
        drawn = ""
    tip = paragraph(
        "Click a column's title to sort by it; undefined values (—) stay last.", "muted"
    )
    caption = "Per class, global" + (
        "; surface distances: means over the images (point at a title)" if surface else ""
    )
    return drawn + tip + table(columns, rows, sortable=True, caption=caption)


def _confusion(result) -> str:
    """A table coloured as a heatmap up to :data:`MAX_ANNOTATED` classes (exact, searchable,
    and drawn at once, where matplotlib takes seconds over hundreds of cell labels), beyond
    that a picture without cell labels."""
    text = (
        "Rows: true class; columns: predicted class; each row as fractions of its true "
        "class's pixels (the diagonal is the recall), over the images with a prediction. "
    )
    names, matrix = result.class_names, result.confusion
    if len(names) <= MAX_ANNOTATED:
        hint = "Point at a cell for its pixels."
        return paragraph(text + hint, "muted") + _heatmap(matrix, names)
    if not charts.have_matplotlib():
        return note(f"The heatmap of {len(names)} classes needs matplotlib: {charts.PLOT_HINT}")
    png = charts.confusion_heatmap(matrix, names)
    with Image.open(io.BytesIO(png)) as img:
        width, height = img.size
    return paragraph(text, "muted") + chart(
        image(data_uri("image/png", png), "confusion matrix", width, height)
    )


LOW, HIGH = np.array([247, 251, 255]), np.array([8, 48, 107])
"""The ends of the heatmap's colour ramp (matplotlib's Blues)."""


def _heatmap(matrix: np.ndarray, names: list[str]) -> str:
    fractions = normalized_rows(matrix)
    head = "".join(f'<th class="vertical"><span>{esc(n)}</span></th>' for n in names)
    rows = []
    for i, true in enumerate(names):
        cells = []
        for j, predicted in enumerate(names):
            v, pixels = fractions[i, j], int(matrix[i, j])
            if np.isnan(v):
                cells.append(f'<td title="no {esc(true)} pixels"></td>')
                continue
            r, g, b = np.rint(LOW + v * (HIGH - LOW)).astype(int)
            ink = "#fff" if v > 0.5 else "#1d2330"
            tip = f"true {true}, predicted {predicted}: {pixels:,} px ({100 * v:.2f}%)"
            cells.append(
                f'<td class="num" style="background:rgb({r},{g},{b});color:{ink}" '
                f'data-v="{float(v)!r}" title="{esc(tip)}">{f"{v:.2f}" if pixels else ""}</td>'
            )
        rows.append(f'<tr><th scope="row">{esc(true)}</th>{"".join(cells)}</tr>')
    return (
        '<div class="wrap"><table class="heatmap"><thead><tr><th>true \\ predicted</th>'
        f"{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _regression(r: ScoreReport) -> str:
    reg = r.regression
    columns = [
        Column("class"),
        Column("baseline", True),
        Column("current", True),
        Column("delta", True, "current - baseline"),
        Column("95% CI", True, "paired bootstrap interval of the delta"),
        Column(""),
    ]
    rows = []
    for row in [*reg.classes, reg.mean]:
        label = row.name + ("" if row.foreground or row.id is None else " (not in the mean)")
        rows.append(
            [
                label,
                num(row.baseline),
                num(row.current),
                num(row.delta, signed(row.delta)),
                interval(row),
                _worse_cell(row.worse),
            ]
        )
    worse = any(row.worse for row in [*reg.classes, reg.mean] if row.foreground)
    parts = [
        paragraph(method(reg), "muted"),
        table(columns, rows),
        bullets(image_notes(reg)) if image_notes(reg) else "",
        f'<p class="{"bad" if worse else "good"}">{esc(verdict(reg))}</p>',
    ]
    return "".join(parts)


def _worse_cell(worse: bool) -> Cell:
    return Cell(WORSE if worse else "", cls="bad" if worse else "")


def _worst(result, images: Path | None) -> str:
    meaning = legend((color, f"{short}: {what}") for _, short, what, color in ERROR_KINDS)
    intro = paragraph(
        f"The {len(result.report.worst)} images of lowest mean Dice, worst first. Ground truth "
        "and prediction are drawn in class colours (outlined, over the image when there is "
        "one); the error map colours each pixel by what went wrong there:",
        "muted",
    )
    return intro + meaning + cards_html(worst_cards(result, images))


def _listing(r: ScoreReport) -> str:
    parts = []
    for title, items in (
        ("Problems", [str(p.problem()) for p in r.problems]),
        ("Ground truth without a prediction", r.missing_predictions),
        ("Predictions without ground truth", r.extra_predictions),
    ):
        if items:
            parts.append(f"<h3>{esc(title)} ({len(items):,})</h3>" + bullets(items, LISTED))
    return "".join(parts)
