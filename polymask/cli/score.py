"""``polymask score``: Dice per class and per image of predicted masks, with CI gates."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from polymask.cli.format_options import format_opts
from polymask.cli.options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PathOrURL,
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


def _class_gates(ctx, param, value: str | None) -> str | None:
    """The per-class gates checked before the scoring they judge; their class names are
    resolved once the classes are known."""
    from polymask.errors import UsageError
    from polymask.score.summary import parse_threshold_spec

    if value is not None:
        try:
            parse_threshold_spec(value)
        except UsageError as exc:
            raise click.BadParameter(str(exc), param=param) from None
    return value


def _boundary(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        width = float(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a number", param_hint="--boundary") from None
    if not width > 0 or (width > 1 and width != int(width)):
        raise click.BadParameter(
            f"{value}: give a pixel width (an integer >= 1) or a fraction of the image diagonal "
            "in (0, 1)",
            param_hint="--boundary",
        )
    return width


@click.command()
@click.argument("preds", type=PathOrURL(exists=True))
@click.argument("gt", type=PathOrURL(exists=True))
@click.option(
    "--output-format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="stdout: tables (text), the JSON report (json), or tables plus GitHub Actions "
    "annotations for bad files and failed gates (github).",
)
@labels_opt
@ignore_index_opt
@click.option(
    "--missing",
    type=click.Choice(["error", "zero", "skip"]),
    default="error",
    show_default=True,
    help="Ground truth without a prediction: an error (exit 2), scored as all false "
    "negatives, or left out (listed either way).",
)
@click.option(
    "--pred-ignore",
    type=click.Choice(["error", "exclude"]),
    default="error",
    show_default=True,
    help="Prediction pixels holding the ignore index (predictions drawn from annotations with "
    "__ignore__ regions): an error, or left out of scoring like the ground truth's.",
)
@click.option(
    "--empty",
    type=click.Choice(["nan", "one", "zero"]),
    default="nan",
    show_default=True,
    help="Value of a class absent from both masks: undefined (null, left out of means), 1 or 0.",
)
@click.option("--include-background", is_flag=True, help="Count class 0 in the means over classes.")
@click.option(
    "--device",
    default="auto",
    show_default=True,
    help="auto (CUDA when available), cpu or cuda[:N]; numpy when torch is missing.",
)
@click.option(
    "--boundary",
    metavar="D",
    help="Also Boundary Dice/IoU on the inner band of D pixels of each class (or, "
    "below 1, that fraction of the image diagonal, e.g. 0.02).",
)
@click.option(
    "--aggregate",
    type=click.Choice(["global", "mean-per-image"]),
    default="global",
    show_default=True,
    help="Which aggregate the gates check.",
)
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 1),
    callback=not_nan,
    metavar="DICE",
    help="Exit 1 when mean Dice is below this.",
)
@click.option(
    "--fail-under-class",
    callback=_class_gates,
    metavar="CLASS=DICE,...",
    help="Exit 1 when a class's Dice is below its threshold (names or ids).",
)
@click.option(
    "--baseline",
    type=PathOrURL(exists=True),
    metavar="REPORT.json|PREDS",
    help="Compare with a baseline: a report of an earlier `score --json`, or baseline "
    "predictions (a folder, or a COCO results file; scored against GT with the same options). "
    "Dice per class and mean, current - baseline, on the images scored in both runs, with "
    "paired bootstrap 95% intervals.",
)
@click.option(
    "--bootstrap",
    type=click.IntRange(min=0),
    default=1000,
    show_default=True,
    metavar="N",
    help="--baseline: bootstrap resamples of the images for the intervals (0: none).",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    metavar="S",
    help="--baseline: seed of the resampling; the same seed gives the same intervals.",
)
@click.option(
    "--fail-on-regression",
    type=click.FloatRange(0, 1),
    callback=not_nan,
    metavar="D",
    help="--baseline: exit 1 when the mean Dice or a class's drops by more than D and its 95% "
    "interval lies below zero (with --bootstrap 0, the drop alone).",
)
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Exit 0 when no prediction pairs with a ground-truth mask (default: exit 2, a "
    "wrong folder must not pass a gate).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the report as strict JSON (schemas/score-report.schema.json); '-': stdout "
    "(tables go to stderr).",
)
@click.option(
    "--csv",
    "csv_out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write one row per image and class ('-': stdout).",
)
@click.option(
    "--markdown",
    "md_out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write a Markdown summary for a pull-request comment ('-': stdout).",
)
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write one self-contained HTML page to look at ('-': stdout): Dice per class (chart "
    "and sortable table), the confusion matrix, the baseline's deltas, and the --worst images "
    "with ground truth, prediction and error map (over --images when given).",
)
@click.option(
    "--worst",
    type=click.IntRange(min=0),
    default=10,
    show_default=True,
    help="How many of the worst images to list (and draw with --errors).",
)
@click.option(
    "--errors",
    "errors_dir",
    type=click.Path(file_okay=False),
    help="Write error maps (TP green, FP magenta, FN blue, wrong class amber) of the worst "
    "images here; not the PREDS or GT folder, and files there that are not error maps are "
    "never replaced.",
)
@click.option(
    "--images",
    "images_dir",
    type=click.Path(exists=True, file_okay=False),
    help="Images to draw the error maps and the --html page's worst images over (found by "
    "the same relative path).",
)
@click.option(
    "--preds-as",
    type=click.Choice(["auto", "masks", "annotations"]),
    default="auto",
    show_default=True,
    help="Read PREDS as masks or annotations (auto: annotations where the folder holds "
    "annotation files).",
)
@click.option(
    "--gt-as",
    type=click.Choice(["auto", "masks", "annotations"]),
    default="auto",
    show_default=True,
    help="Read GT as masks or annotations, as --preds-as.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    callback=not_nan,
    metavar="S",
    help="COCO results PREDS: leave out detections scored below S.",
)
@click.option(
    "--confusion",
    "confusion_out",
    type=click.Path(dir_okay=False, allow_dash=True),
    help="Write the class-by-class pixel confusion matrix (rows: true class): CSV, or a "
    "heatmap when the name ends in .png (needs matplotlib: polymask[plot]).",
)
@click.option(
    "--normalize",
    is_flag=True,
    help="--confusion: each row as fractions of its true class's pixels.",
)
@click.option(
    "--surface",
    is_flag=True,
    help="Also surface distances per class (HD, HD95, ASSD, surface Dice), on 2-D masks or "
    "3-D volumes, in the units of the voxel spacing (a NIfTI header's, or --spacing).",
)
@click.option(
    "--spacing",
    metavar="S,S[,S]",
    help="--surface: the pixel or voxel size along each array axis, for masks and volumes "
    "whose files store none (an error where a header says otherwise).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0),
    callback=not_nan,
    default=1.0,
    show_default=True,
    help="--surface: the surface Dice tolerance, in spacing units.",
)
@click.option(
    "--percentile",
    type=click.FloatRange(0, 100),
    callback=not_nan,
    default=95.0,
    show_default=True,
    help="--surface: the percentile of the robust Hausdorff distance (hd95).",
)
@unknown_opt
@convention_opt
@order_opt
@format_opts
@max_pixels_opt
@workers_opt
@scheduler_opt
@config_opt
def score(
    preds,
    gt,
    output_format,
    missing,
    pred_ignore,
    empty,
    include_background,
    device,
    boundary,
    aggregate,
    fail_under,
    fail_under_class,
    allow_empty,
    json_out,
    csv_out,
    md_out,
    html_out,
    worst,
    errors_dir,
    images_dir,
    preds_as,
    gt_as,
    min_score,
    confusion_out,
    normalize,
    baseline,
    bootstrap,
    seed,
    fail_on_regression,
    surface,
    spacing,
    tolerance,
    percentile,
    **params,
):
    """Score the predicted class-index masks in PREDS against the ground truth in GT.

    Files pair by relative path without extension. Classes come from --labels (or the
    configuration), else GT/labels.txt, else 0..the largest value found. Exit codes: 0 ok,
    1 a gate failed, 2 bad input (unreadable file, sizes differ, a value outside the label map,
    a missing prediction under --missing error).
    """
    from polymask.errors import UsageError
    from polymask.io.reports import write_report
    from polymask.report.score import (
        print_table,
        render_csv,
        render_github,
        render_json,
        render_markdown,
    )
    from polymask.score.run import ScoreOptions, score_folders
    from polymask.score.summary import apply_gates, parse_class_thresholds

    width = _boundary(boundary)
    to_stdout = [o for o in (json_out, csv_out, md_out, html_out) if o == "-"]
    if len(to_stdout) > 1:
        raise click.UsageError(
            "only one of --json, --csv, --markdown, --html can go to stdout ('-')"
        )
    if to_stdout and output_format == "json":
        raise click.UsageError("--output-format json writes to stdout: give the report a file")
    settings = settings_from(params, [gt, preds])
    if errors_dir:
        _check_errors_folder(Path(errors_dir), preds, gt)
    refuse_reports_among_inputs(
        {
            "--json": json_out,
            "--csv": csv_out,
            "--markdown": md_out,
            "--html": html_out,
            "--confusion": confusion_out,
        },
        [("PREDS", preds), ("GT", gt)],
    )
    if confusion_out and confusion_out.lower().endswith(".png"):
        _check_plotting()
    earlier = _read_baseline(baseline, fail_on_regression)  # --baseline, before the scoring
    with usage_errors():
        options = ScoreOptions(
            settings=settings,
            ignore_index=settings.ignore_index,
            missing=missing,
            pred_ignore=pred_ignore,
            empty=empty,
            include_background=include_background,
            device=device,
            workers=settings.workers,
            scheduler=settings.scheduler,
            boundary=width,
            worst=worst,
            preds_as=preds_as,
            gt_as=gt_as,
            min_score=min_score,
            confusion=bool(confusion_out or html_out),
            surface=_surface_options(
                surface, spacing, tolerance, percentile
            ),  # the page shows the matrix
        )
        with progress() as bar:
            task = bar.add_task("score", total=None)
            result = score_folders(
                preds,
                gt,
                options,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        if result.label_note:
            click.echo(result.label_note, err=True)
        # with problems (a missing prediction...) it exits 2 below, listing them
        nothing = not result.report.images_scored and not result.report.problems
        if nothing and not allow_empty:
            others = result.report.not_masks
            why = ""
            if others:
                first = others[0]
                why = f"; {len(others)} files are not masks, e.g. {first.file}: {first.reason}"
            raise click.UsageError(
                f"nothing scored: no prediction in {preds} pairs with a ground-truth image in "
                f"{gt}{why} (--allow-empty accepts that)"
            )
        try:
            thresholds = (
                parse_class_thresholds(fail_under_class, result.class_names)
                if fail_under_class
                else None
            )
        except UsageError as exc:  # a class the masks do not have
            raise click.BadParameter(str(exc), param_hint="--fail-under-class") from None
    result.report = apply_gates(result.report, fail_under, thresholds, aggregate)
    if baseline is not None:  # --baseline, --bootstrap, --seed, --fail-on-regression
        result.report = _against_baseline(
            result, earlier, baseline, gt, options, aggregate, bootstrap, seed, fail_on_regression
        )
    if output_format == "json":
        click.echo(render_json(result), nl=False)
    elif to_stdout:  # stdout holds the report: the tables go to the log
        from rich.console import Console

        width = None if sys.stderr.isatty() else 160
        print_table(result, Console(stderr=True, highlight=False, width=width))
    else:
        print_table(result)
    if output_format == "github":
        click.echo(render_github(result), nl=False, err=bool(to_stdout))
    for path, render in ((json_out, render_json), (csv_out, render_csv), (md_out, render_markdown)):
        if path:
            write_report(path, render(result).encode("utf-8"))
    if confusion_out:
        _write_confusion(result, confusion_out, normalize)
    if errors_dir:
        _write_error_maps(result, Path(errors_dir), Path(images_dir) if images_dir else None)
    if html_out:
        from polymask.report.html.score_page import score_page

        page = score_page(result, Path(images_dir) if images_dir else None)
        write_report(html_out, page.encode("utf-8"))
    report = result.report
    if report.problems:
        click.echo(f"{len(report.problems)} problems with input files (listed above)", err=True)
        sys.exit(EXIT_USAGE)
    for g in report.gates:
        if not g.passed:
            click.echo(
                f"gate failed: {g.name} ({g.aggregate}) is "
                f"{'undefined' if g.value is None else f'{g.value:.4f}'}, "
                f"below {g.threshold}",
                err=True,
            )
    sys.exit(EXIT_OK if report.passed else EXIT_FAILED)


def _check_errors_folder(errors: Path, preds: str, gt: str) -> None:
    """Refuse, before scoring, an --errors folder whose error maps would replace masks.

    Which images are the worst is known only after scoring, so every ground-truth key counts:
    ``ERRORS/<key>.png`` must be free or an earlier error map. The PREDS and GT folders (or a
    folder inside them, whose maps the next run would read as masks) are refused outright.
    """
    from polymask.errors import UsageError
    from polymask.io.ownership import is_free_or_ours
    from polymask.io.storage import as_path, is_local
    from polymask.score.pairing import mask_files

    for name, folder in (("PREDS", preds), ("GT", gt)):
        folder = as_path(folder)
        if is_local(folder) and errors.resolve().is_relative_to(folder.resolve()):
            raise UsageError(
                f"--errors {errors}: inside the {name} folder {folder}; error maps would "
                "replace or mix with its masks"
            )
    if not errors.is_dir() or not as_path(gt).is_dir():
        return  # annotation files as GT: checked image by image when the maps are written
    keys, _ = mask_files(as_path(gt))
    for key in keys:
        target = errors / f"{key}.png"
        if not is_free_or_ours(target, "error-map"):
            raise UsageError(
                f"{target}: exists and is not a polymask error map; refusing to replace it"
            )


def _write_error_maps(result, out: Path, images: Path | None) -> None:
    """Error maps of the worst images, their masks read (or drawn) again: a few images, where
    keeping every pair's masks through the run would hold them all. A file in the way that
    is not an earlier error map (annotations as GT are not checked before scoring) is named
    and the run exits 2."""
    from polymask.io.ownership import ForeignFile
    from polymask.score.sources import picture_slices, read_source
    from polymask.visualize import write_error_map

    ignore = result.report.settings.ignore_index
    for w in result.report.worst:
        pair = result.pairs[w.key]
        gt = read_source(pair.gt, result.drawing)
        pred = read_source(pair.pred, result.drawing) if pair.pred is not None else None
        gt, pred = picture_slices(gt, pred)  # a volume: its worst slice
        try:
            write_error_map(out, w.key, gt, pred, ignore, images)
        except ForeignFile as exc:
            click.echo(f"{exc.path}: {exc.reason}", err=True)
            sys.exit(EXIT_USAGE)


def _surface_options(surface: bool, spacing: str | None, tolerance: float, percentile: float):
    """The surface options of --surface, None without it; --spacing parsed."""
    if not surface:
        if spacing is not None:
            raise click.UsageError("--spacing is for --surface")
        return None
    from polymask.score.volume_pairs import SurfaceOptions

    sizes = None
    if spacing is not None:
        hint = "two or three positive sizes, one per axis: 0.8,0.8,2.5"
        try:
            sizes = tuple(float(v) for v in spacing.split(","))
        except ValueError:
            raise click.BadParameter(f"{spacing!r}: {hint}", param_hint="--spacing") from None
        if len(sizes) not in (2, 3) or not all(0 < v < float("inf") for v in sizes):
            raise click.BadParameter(f"{spacing!r}: {hint}", param_hint="--spacing")
    return SurfaceOptions(spacing=sizes, tolerance=tolerance, percentile=percentile)


def _check_plotting() -> None:
    """Refuse a heatmap before scoring when matplotlib is missing, not after."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise click.UsageError(
            "--confusion FILE.png draws a heatmap with matplotlib, which is not installed: "
            "pip install 'polymask[plot]', or give a .csv name"
        )


def _write_confusion(result, path: str, normalize: bool) -> None:
    from polymask.io.reports import write_report
    from polymask.report.confusion import confusion_csv, confusion_png

    names = result.class_names
    if path.lower().endswith(".png"):
        data = confusion_png(result.confusion, names, normalize)
    else:
        data = confusion_csv(result.confusion, names, normalize).encode("utf-8")
    write_report(path, data)


def _read_baseline(given: str | None, tolerance: float | None):
    """A baseline report, read and checked before the scoring it is to judge; None without
    --baseline or for baseline predictions (a folder, or a COCO results file), scored after
    this run's."""
    if given is None:
        if tolerance is not None:
            raise click.UsageError("--fail-on-regression needs --baseline")
        return None
    from polymask.io.storage import as_path
    from polymask.score.baseline import read_baseline_report
    from polymask.score.inputs import is_results_file

    with usage_errors():
        path = as_path(given)
        if path.is_dir() or is_results_file(path):
            return None
        return read_baseline_report(given)


def _against_baseline(result, earlier, given, gt, options, aggregate, bootstrap, seed, tolerance):
    """The report with its comparison to the baseline and its regression gates; a folder of
    baseline predictions is scored here, against the same GT with the same options."""
    from polymask.score.baseline import apply_regression, baseline_from_result, compare
    from polymask.score.run import score_folders

    with usage_errors():
        if earlier is None:
            with progress() as bar:
                task = bar.add_task("baseline", total=None)
                scored = score_folders(
                    given,
                    gt,
                    options,
                    on_progress=lambda done, total: bar.update(task, completed=done, total=total),
                )
            earlier = baseline_from_result(given, scored)
        regression = compare(result, earlier, aggregate, bootstrap, seed, tolerance)
    return apply_regression(result.report, regression)
