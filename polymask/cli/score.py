"""``polymask score``: Dice per class and per image of predicted masks, with CI gates."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from polymask.cli.options import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    PathOrURL,
    config_opt,
    ignore_index_opt,
    labels_opt,
    max_pixels_opt,
    not_nan,
    progress,
    scheduler_opt,
    settings_from,
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
@click.argument("preds", type=PathOrURL(exists=True, file_okay=False))
@click.argument("gt", type=PathOrURL(exists=True, file_okay=False))
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
    help="Write error maps (TP green, FP red, FN blue) of the worst images here; not the "
    "PREDS or GT folder, and files there that are not error maps are never replaced.",
)
@click.option(
    "--images",
    "images_dir",
    type=click.Path(exists=True, file_okay=False),
    help="Images to draw the error maps over (found by the same relative path).",
)
@max_pixels_opt
@workers_opt
@scheduler_opt
@config_opt
def score(
    preds,
    gt,
    output_format,
    missing,
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
    worst,
    errors_dir,
    images_dir,
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
    from polymask.settings import resolve_label_map

    width = _boundary(boundary)
    to_stdout = [o for o in (json_out, csv_out, md_out) if o == "-"]
    if len(to_stdout) > 1:
        raise click.UsageError("only one of --json, --csv, --markdown can go to stdout ('-')")
    if to_stdout and output_format == "json":
        raise click.UsageError("--output-format json writes to stdout: give the report a file")
    settings = settings_from(params, [gt, preds])
    if errors_dir:
        _check_errors_folder(Path(errors_dir), preds, gt)
    with usage_errors():
        options = ScoreOptions(
            labels=resolve_label_map(settings, masks=[gt]),
            ignore_index=settings.ignore_index,
            missing=missing,
            empty=empty,
            include_background=include_background,
            device=device,
            workers=settings.workers,
            scheduler=settings.scheduler,
            boundary=width,
            worst=worst,
        )
        with progress() as bar:
            task = bar.add_task("score", total=None)
            result = score_folders(
                preds,
                gt,
                options,
                on_progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
        # with problems (a missing prediction...) it exits 2 below, listing them
        nothing = not result.report.images_scored and not result.report.problems
        if nothing and not allow_empty:
            raise click.UsageError(
                f"nothing scored: no mask in {preds} pairs with a mask in {gt} "
                "(--allow-empty accepts that)"
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
    if errors_dir:
        _write_error_maps(result, Path(errors_dir), Path(images_dir) if images_dir else None)
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
    if not errors.is_dir():
        return
    keys, _ = mask_files(as_path(gt))
    for key in keys:
        target = errors / f"{key}.png"
        if not is_free_or_ours(target, "error-map"):
            raise UsageError(
                f"{target}: exists and is not a polymask error map; refusing to replace it"
            )


def _write_error_maps(result, out: Path, images: Path | None) -> None:
    from polymask.visualize import write_error_map

    ignore = result.report.settings.ignore_index
    for w in result.report.worst:
        pair = result.pairs[w.key]
        write_error_map(out, w.key, pair.gt, pair.pred, ignore, images)
