"""``polymask validate``: check annotation files, report every problem, exit 1 if any."""

from __future__ import annotations

import sys

import click

from polymask.cli.format_options import format_opts
from polymask.cli.options import (
    EXIT_FAILED,
    EXIT_OK,
    INPUT_PATH,
    apply_config,
    ignore_index_opt,
    labels_opt,
    output_format_opt,
    scheduler_opt,
    usage_errors,
    workers_opt,
)


@click.command()
@click.argument("inputs", nargs=-1, required=True, type=INPUT_PATH)
@output_format_opt
@labels_opt
@ignore_index_opt
@click.option("--strict", is_flag=True, help='No type coercion: "3" is not a number.')
@click.option("--exit-zero", is_flag=True, help="Report problems but exit 0.")
@format_opts
@workers_opt
@scheduler_opt
@click.pass_context
def validate(
    ctx,
    inputs,
    output_format,
    labels_file,
    ignore_index,
    strict,
    exit_zero,
    fmt,
    format_options,
    workers,
    scheduler,
):
    """Check annotation files (or folders of them) against their format's schema.

    Each problem names the file, the JSON path in it (shapes[3].points), the line when known,
    and what is wrong.
    """
    from polymask.formats import find_inputs
    from polymask.labels import LabelMap
    from polymask.report.problems import render
    from polymask.validate import validate_files

    keys = {"labels_file": "labels", "ignore_index": "ignore_index", "workers": "workers"}
    p = apply_config(ctx, inputs, dict(ctx.params), keys)
    with usage_errors():
        files = find_inputs(inputs)
        label_map = (
            LabelMap.from_spec(p["labels_file"], p["ignore_index"]) if p["labels_file"] else None
        )
        workers = p["workers"]
    with usage_errors():
        result = validate_files(files, fmt, strict, label_map, workers, scheduler, format_options)
    sys.stdout.write(render(result.problems, output_format, result.files_checked))
    bad = len({p.file for p in result.problems if p.severity == "error"})
    if output_format == "text":
        click.echo(f"{result.files_checked} files checked, {bad} invalid", err=True)
    sys.exit(EXIT_OK if result.ok or exit_zero else EXIT_FAILED)
