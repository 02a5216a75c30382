"""The click group; each command lives in a module of its own."""

from __future__ import annotations

import click

from polymask import __version__
from polymask.cli.rasterize import rasterize
from polymask.cli.schema import schema
from polymask.cli.score import score
from polymask.cli.stats import stats
from polymask.cli.validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="polymask")
def cli() -> None:
    """Polygon annotations to class-index masks, label statistics and Dice scoring.

    Exit codes: 0 ok, 1 a check failed (bad annotations, a gate not met), 2 usage or input error.
    """


cli.add_command(validate)
cli.add_command(rasterize)
cli.add_command(schema)
cli.add_command(stats)
cli.add_command(score)
