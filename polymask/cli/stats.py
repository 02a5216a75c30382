"""``polymask stats``: class frequencies, imbalance, class weights and advice for a dataset."""

from __future__ import annotations

import sys

import click

from polymask.cli.format_options import format_opts
from polymask.cli.options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    INPUT_PATH,
    config_opt,
    convention_opt,
    ignore_index_opt,
    labels_opt,
    max_pixels_opt,
    not_nan,
    order_opt,
    progress,
    refuse_reports_among_inputs,
    scheduler_opt,
    settings_from,
    unknown_opt,
    usage_errors,
    workers_opt,
)

ANNOTATION_SUFFIXES = {".json", ".xml", ".geojson"}


def _output(flag: str, dest: str, what: str):
    return click.option(
        flag,
        dest,
        type=click.Path(dir_okay=False, allow_dash=True),
        help=f"Write the report as {what} to this file ('-': stdout, no table).",
    )


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=INPUT_PATH)
@click.option(
    "--masks",
    "source",
    flag_value="masks",
    help="Read INPUTS as class-index mask PNGs (default: judged from the files).",
)
@click.option(
    "--annotations",
    "source",
    flag_value="annotations",
    help="Read INPUTS as annotation files (rasterized in memory, nothing written).",
)
@labels_opt
@ignore_index_opt
@unknown_opt
@convention_opt
@order_opt
@format_opts
@click.option(
    "--beta",
    type=click.FloatRange(0, 1, max_open=True),
    callback=not_nan,
    metavar="BETA",
    default=0.9999,
    show_default=True,
    help="Beta of the effective-number weights (Cui et al. 2019).",
)
@_output("--json", "json_out", "JSON (schemas/stats-report.schema.json)")
@_output("--csv", "csv_out", "CSV, one row per class")
@_output("--markdown", "markdown_out", "Markdown")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write a PNG bar chart of pixels per class on a log scale ('-': stdout, no table; "
    "needs matplotlib: polymask[plot]).",
)
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write one self-contained HTML page to look at: the chart, a sortable class table, "
    "the advice and the rarest classes drawn ('-': stdout, no table).",
)
@click.option(
    "--max-imbalance",
    type=click.FloatRange(min=1),
    callback=not_nan,
    metavar="R",
    default=None,
    help="Gate: exit 1 when largest/smallest class pixels (all classes) exceeds R.",
)
@click.option(
    "--max-foreground-imbalance",
    type=click.FloatRange(min=1),
    callback=not_nan,
    metavar="R",
    default=None,
    help="Gate: the same ratio without background (class 0).",
)
@click.option(
    "--min-images-per-class",
    type=click.IntRange(min=1),
    metavar="N",
    default=None,
    help="Gate: exit 1 when a class appears in fewer than N images.",
)
@click.option(
    "--require-all-classes",
    is_flag=True,
    help="Gate: exit 1 when a class of the label map never appears.",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Exit 0 when the inputs hold no image (default: exit 2, no gate passes on nothing).",
)
@max_pixels_opt
@workers_opt
@scheduler_opt
@config_opt
def stats(
    inputs,
    source,
    beta,
    json_out,
    csv_out,
    markdown_out,
    plot,
    html_out,
    max_imbalance,
    max_foreground_imbalance,
    min_images_per_class,
    require_all_classes,
    allow_empty,
    **params,
):
    """Class frequencies and imbalance of a dataset, with class weights and advice.

    INPUTS are folders of class-index mask PNGs (MASKS_DIR, e.g. what rasterize wrote), or
    annotation files and folders, which add object counts and sizes. Class names come from
    --labels, else from labels.txt in MASKS_DIR; annotations without --labels get the labels
    they use, numbered in sorted order as rasterize does. Ignore pixels are counted apart and
    left out of every fraction and weight.
    """
    from rich.console import Console

    from polymask.dataset import dataset_label_map, read_dataset
    from polymask.io.reports import write_report
    from polymask.report.problems import render_text
    from polymask.report.stats import print_rich, render_csv, render_json, render_markdown
    from polymask.settings import resolve_label_map
    from polymask.stats.compute import collect, summarize
    from polymask.stats.report import Gates, check_gates

    outputs = [o for o in (json_out, csv_out, markdown_out, plot, html_out) if o]
    if outputs.count("-") > 1:
        raise click.UsageError(
            "only one of --json, --csv, --markdown, --plot, --html can go to stdout ('-')"
        )
    reports = {"--json": json_out, "--csv": csv_out, "--markdown": markdown_out}
    reports.update({"--plot": plot, "--html": html_out})
    refuse_reports_among_inputs(reports, [("input", i) for i in inputs])
    if plot:
        _check_plotting()
    settings = settings_from(params, inputs)
    with usage_errors():
        source = source or _judge_source(inputs)
        files = _find(inputs, source)
        work, found = files, []
        if source == "masks":
            label_map = resolve_label_map(settings, masks=[i for i in inputs if _is_dir(i)])
        else:
            dataset = read_dataset(files, settings)
            label_map, note = dataset_label_map(settings, dataset)
            work, found = dataset.items, dataset.problems + dataset.labels.problems
            if note:
                click.echo(f"note: {note}", err=True)
        if require_all_classes and label_map is None:
            raise click.UsageError(
                "--require-all-classes needs a label map: pass --labels or "
                "put labels.txt in MASKS_DIR"
            )
        with progress() as bar:
            task = bar.add_task(f"stats ({source})", total=len(work))
            acc, problems, _ = collect(
                work, source, settings, label_map, on_file=lambda: bar.advance(task)
            )
        problems = sorted(found + problems, key=lambda p: (p.file, p.line or 0, p.path))
        failed = len({p.file for p in problems if p.severity == "error"})
    click.echo(render_text(problems, full_list="--json"), err=True, nl=False)
    report = summarize(acc, label_map, source, beta, problems, failed)
    if not report.images and not failed and not allow_empty:
        raise click.UsageError(
            f"no images in {', '.join(inputs)}: nothing to measure (--allow-empty accepts that)"
        )
    report.gates = check_gates(
        report,
        Gates(max_imbalance, max_foreground_imbalance, min_images_per_class, require_all_classes),
    )

    renderers = ((json_out, render_json), (csv_out, render_csv), (markdown_out, render_markdown))
    for target, render in renderers:
        if target:
            write_report(target, render(report).encode("utf-8"))
    if plot:
        from polymask.io.masks import voc_palette
        from polymask.report.html.charts import frequency_chart

        palette = voc_palette()  # the bars in the colours the mask PNGs show
        write_report(
            plot,
            frequency_chart(
                [c.id for c in report.classes],
                [c.name or "" for c in report.classes],
                [c.pixels for c in report.classes],
                [palette[3 * (c.id & 255) : 3 * (c.id & 255) + 3] for c in report.classes],
            ),
        )
    if html_out:
        _write_html(html_out, report, acc, work, source, settings, label_map)
    if "-" not in outputs:
        # a pipe or a CI log has no width: give tables room rather than cut names short
        print_rich(report, Console(width=None if sys.stdout.isatty() else 200))
    else:  # stdout holds the machine report; a failed gate must still show in the log
        for g in report.gates:
            if not g.passed:
                click.echo(f"FAILED {g.gate}: {g.message}", err=True)
    click.echo(f"{len(files)} files, {report.images} images; {failed} files with errors", err=True)
    gate_failed = any(not g.passed for g in report.gates)
    # a file that could not be read is an input error, as in score; a gate is a failed check
    sys.exit(EXIT_USAGE if failed else EXIT_FAILED if gate_failed else EXIT_OK)


def _check_plotting() -> None:
    """Refuse --plot before the counting when matplotlib is missing, not after."""
    from polymask.report.html.charts import PLOT_HINT, have_matplotlib

    if not have_matplotlib():
        raise click.UsageError(
            f"--plot draws its chart with matplotlib, which is not installed: {PLOT_HINT}"
        )


def _write_html(target, report, acc, work, source, settings, label_map) -> None:
    """The page, with the rarest classes drawn from the images the count found richest in them."""
    from polymask.io.reports import write_report
    from polymask.report.html.gallery import rare_class_cards
    from polymask.report.html.stats_page import stats_page

    examples = rare_class_cards(work, source, settings, label_map, report, acc.richest())
    write_report(target, stats_page(report, examples).encode("utf-8"))


def _judge_source(inputs) -> str:
    """Masks when every input is a PNG file or a folder with PNGs and no annotation files."""
    from polymask.errors import UsageError
    from polymask.io.storage import as_path
    from polymask.io.walk import walk_files

    kinds = set()
    for item in inputs:
        p = as_path(item)
        if p.is_file():
            kinds.add("masks" if p.suffix.lower() == ".png" else "annotations")
            continue
        suffixes = {f.suffix.lower() for f in walk_files(p, None, [])}  # links followed
        if suffixes & ANNOTATION_SUFFIXES:
            kinds.add("annotations")
        elif ".png" in suffixes:
            kinds.add("masks")
        else:
            raise UsageError(f"{item}: neither mask PNGs nor annotation files found")
    if len(kinds) > 1:
        raise UsageError("inputs mix mask PNGs and annotation files: pass --masks or --annotations")
    return kinds.pop()


def _find(inputs, source: str):
    """The input files; the special files and looping links skipped are named on stderr."""
    from polymask.errors import UsageError
    from polymask.formats import find_inputs
    from polymask.stats.compute import find_masks

    skipped = []
    try:
        if source == "masks":
            return find_masks(inputs, skipped)
        files = find_inputs(inputs, skipped)
    finally:
        for p in skipped:
            click.echo(str(p), err=True)
    if not files:
        raise UsageError(f"no annotation files found in {', '.join(map(str, inputs))}")
    return files


def _is_dir(item) -> bool:
    from polymask.io.storage import as_path

    return as_path(item).is_dir()
