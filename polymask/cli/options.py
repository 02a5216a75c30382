"""Options shared by several commands, and the glue from library errors to exit codes."""

from __future__ import annotations

import math
import os
import sys
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from polymask.errors import UsageError

if TYPE_CHECKING:
    from polymask.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class PathOrURL(click.ParamType):
    """A local path, checked like ``click.Path``, or an fsspec URL, passed on as it is."""

    name = "path"

    def __init__(self, **path_kwargs):
        self.local = click.Path(**path_kwargs)

    def convert(self, value, param, ctx):
        from polymask.io.storage import is_url

        return value if is_url(value) else self.local.convert(value, param, ctx)


INPUT_PATH = PathOrURL(exists=True)
OUTPUT_DIR = PathOrURL(file_okay=False)

workers_opt = click.option(
    "--workers",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes (default: all cores); work shorter than their start runs in this "
    "process alone.",
)


def _check_scheduler(ctx, param, value):
    from polymask.runtime.parallel import check_scheduler

    if value is None:
        return None
    try:
        return check_scheduler(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


scheduler_opt = click.option(
    "--scheduler",
    default=None,
    callback=_check_scheduler,
    help="Where the work runs: processes (a local pool; the default), threads, serial, dask (a "
    "local Dask cluster) or the address of a running Dask scheduler (tcp://host:8786).",
)
labels_opt = click.option(
    "--labels",
    "labels",
    type=PathOrURL(exists=True, dir_okay=False),
    help="labels.txt: one class name a line (__ignore__ and _background_ as in LabelMe), or "
    "'id name' lines for ids that skip numbers.",
)
ignore_index_opt = click.option(
    "--ignore-index",
    type=click.IntRange(0, 65535),
    default=None,
    help="Mask value of ignored pixels (default 255): __ignore__ shapes, unknown labels under "
    "--unknown void; ground-truth pixels left out of every count.",
)
unknown_opt = click.option(
    "--unknown",
    type=click.Choice(["error", "ignore", "void"]),
    default=None,
    help="A label missing from --labels: an error (the default), left out, or painted as ignore.",
)
convention_opt = click.option(
    "--convention",
    type=click.Choice(["center", "labelme", "coco"]),
    default=None,
    help="Pixel rule: 'center' (pixel centre inside the shape, as GDAL), 'labelme' "
    "(LabelMe's own drawing) or 'coco' (pycocotools' annToMask). Default: the "
    "format's own (labelme for LabelMe, coco for COCO, center otherwise).",
)
order_opt = click.option(
    "--order",
    type=click.Choice(["file", "area", "z"]),
    default=None,
    help="Overlaps: later shapes on top (file), larger shapes first so small ones "
    "stay visible (area), or the format's stacking order (z). Default: z for "
    "CVAT, file for the others.",
)
max_pixels_opt = click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Memory budget: the most pixels one image may have (default 268435456, 16384x16384). "
    "Larger sizes, declared or in an image header, are refused before anything is allocated. "
    "Also POLYMASK_MAX_PIXELS, or max-pixels in [tool.polymask].",
)
config_opt = click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Configuration file (pyproject.toml with [tool.polymask], or polymask.toml) to use "
    "instead of the nearest one above the inputs.",
)
output_format_opt = click.option(
    "--output-format",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="How problems are reported on stdout: for people, machines, or GitHub Actions.",
)


def annotation_files(inputs, skipped: list, allow_empty: bool):
    """The annotation files below ``inputs`` (special files and link loops appended to
    ``skipped``); none at all is a usage error naming the inputs, unless ``allow_empty``."""
    from polymask.formats import find_inputs

    files = find_inputs(inputs, skipped)
    if not files and not allow_empty:
        for p in skipped:
            click.echo(str(p), err=True)
        raise click.UsageError(
            f"no annotation files found in {', '.join(inputs)} (--allow-empty accepts that)"
        )
    return files


def refuse_reports_among_inputs(
    reports: dict[str, str | None], inputs: list[tuple[str, str]]
) -> None:
    """Refuse, before any work, a report aimed at an input: the file itself (a COCO results or
    annotation file) or a path inside an input folder, where it would replace a mask or an
    annotation (``--confusion gt/a.png``) or be read as one by the next run. ``reports``: option
    name -> target ('-' and None pass); ``inputs``: (how messages name it, path) pairs."""
    from polymask.io.storage import as_path, is_local

    for option, target in reports.items():
        if not target or target == "-":
            continue
        report = as_path(target)
        if not is_local(report):
            continue
        report = report.resolve()
        for name, given in inputs:
            source = as_path(given)
            if not is_local(source):
                continue
            source = source.resolve()
            if report == source or (source.is_dir() and report.is_relative_to(source)):
                raise click.UsageError(
                    f"{option} {target}: inside the {name} {given}; a report there would "
                    "replace or mix with what is read"
                )


def not_nan(ctx, param, value: float | None) -> float | None:
    """A callback for float options: click's FloatRange lets NaN through (every comparison with
    it is false), so a NaN gate would pass or fail by accident and a NaN beta would fail deep in
    the weights."""
    if value is not None and math.isnan(value):
        raise click.BadParameter("nan is not a number this option can use", param=param)
    return value


def settings_from(params: dict, config_from) -> Settings:
    """The :class:`~polymask.settings.Settings` of a command: the options it has (by their
    Settings names) over the project configuration found from ``config_from``."""
    from dataclasses import fields

    from polymask.settings import Settings, resolve_settings

    names = {f.name for f in fields(Settings)} - {"config_file"}
    given = {k: v for k, v in params.items() if k in names}
    with usage_errors():
        return resolve_settings(given, config_from, params.get("config_file"))


@contextmanager
def usage_errors():
    """Library usage errors become click usage errors: message on stderr, exit code 2."""
    try:
        yield
    except UsageError as exc:
        raise click.UsageError(str(exc)) from None


def progress_enabled() -> bool:
    """Progress bars only for a person watching: stderr is a terminal and not CI."""
    return sys.stderr.isatty() and not os.environ.get("CI")


def progress():
    """A transient rich progress bar on stderr; when nobody is watching, a stand-in that draws
    nothing and spares a run (a CI gate) the import of rich's progress machinery."""
    if not progress_enabled():
        return _NoProgress()
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


class _NoProgress:
    """The part of ``rich.progress.Progress`` the commands use, doing nothing."""

    def __enter__(self) -> _NoProgress:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, description: str, total: float | None = None) -> int:
        return 0

    def update(self, task: int, *, completed: float | None = None, total: float | None = None):
        return None

    def advance(self, task: int, advance: float = 1) -> None:
        return None
