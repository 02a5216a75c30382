"""``polymask validate``: check annotation files, report every problem, exit 1 if any."""

from __future__ import annotations

import sys

import click

from polymask.cli.format_options import format_opts
from polymask.cli.options import (
    EXIT_FAILED,
    EXIT_OK,
    INPUT_PATH,
    annotation_files,
    config_opt,
    ignore_index_opt,
    labels_opt,
    max_pixels_opt,
    output_format_opt,
    scheduler_opt,
    settings_from,
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
@click.option(
    "--allow-empty",
    is_flag=True,
    help="Exit 0 when the inputs hold no annotation files (default: exit 2, a wrong path "
    "must not pass a check).",
)
@format_opts
@max_pixels_opt
@workers_opt
@scheduler_opt
@config_opt
def validate(inputs, output_format, strict, exit_zero, allow_empty, **params):
    """Check annotation files (or folders of them) against their format's schema.

    Each problem names the file, the JSON path in it (shapes[3].points), the line when known,
    and what is wrong.
    """
    from polymask.labels import given_label_map
    from polymask.report.problems import render
    from polymask.validate import validate_files

    settings = settings_from(params, inputs)
    skipped = []
    with usage_errors():
        files = annotation_files(inputs, skipped, allow_empty)
        label_map = (
            given_label_map(settings.labels, settings.ignore_index)
            if settings.labels is not None
            else None
        )
        result = validate_files(files, settings, strict, label_map)
    result.problems[:0] = skipped
    sys.stdout.write(render(result.problems, output_format, result.files_checked))
    bad = len({p.file for p in result.problems if p.severity == "error"})
    if output_format == "text":
        click.echo(f"{result.files_checked} files checked, {bad} invalid", err=True)
    sys.exit(EXIT_OK if result.ok or exit_zero else EXIT_FAILED)
