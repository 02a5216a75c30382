"""The click group; each command lives in a module of its own.

The group also owns the exit codes, once for every command: a command exits 1 itself when a
check or gate failed; anything else that stops it (an I/O error, a refused input, a bug, in this
process or in a worker) exits 2 with one line on stderr, and Ctrl-C exits 130. Tracebacks are
for ``--debug``.
"""

from __future__ import annotations

import errno

import click

from polymask.cli.rasterize import rasterize
from polymask.cli.schema import schema
from polymask.cli.score import score
from polymask.cli.stats import stats
from polymask.cli.validate import validate
from polymask.errors import UsageError

EXIT_ERROR, EXIT_INTERRUPTED = 2, 130
"""2 as click's usage errors; 130 (128 + SIGINT) as shells report a command stopped by Ctrl-C."""


class PolymaskGroup(click.Group):
    """A group that turns what escapes a command into an exit code and one line on stderr."""

    def invoke(self, ctx: click.Context):
        debug = ctx.params.get("debug", False)
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click reports these itself
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                raise  # a reader that left (| head): click exits quietly
            code = _report(exc, debug, f"error: {_os_message(exc)}")
        except UsageError as exc:
            code = _report(exc, debug, f"error: {exc}")
        except KeyboardInterrupt as exc:
            code = _report(exc, debug, "interrupted", EXIT_INTERRUPTED)
        except Exception as exc:
            # imported here, not above: ``polymask --help`` loads no process pool
            from polymask.runtime.parallel import WorkerDied

            if isinstance(exc, WorkerDied):  # not a bug here: no traceback would say more
                code = _report(exc, debug, f"error: {exc}")
            else:
                first = next(iter(str(exc).splitlines()), "")
                hint = "" if debug else " (rerun with --debug for the traceback)"
                code = _report(exc, debug, f"internal error: {type(exc).__name__}: {first}{hint}")
        if code == EXIT_INTERRUPTED:
            # here, past the handler, the interrupted call stack is unreachable
            from polymask.runtime.parallel import stop_workers

            stop_workers()
        raise click.exceptions.Exit(code)


def _report(exc: BaseException, debug: bool, message: str, code: int = EXIT_ERROR) -> int:
    if debug:
        import traceback

        traceback.print_exception(exc)
    click.echo(f"polymask: {message}", err=True)
    return code


def _os_message(exc: OSError) -> str:
    """``out/a.png: Permission denied``, not ``[Errno 13] Permission denied: 'out/a.png'``."""
    if exc.strerror is None:
        return str(exc) or type(exc).__name__
    if exc.filename is None:
        return exc.strerror
    target = f" -> {exc.filename2}" if exc.filename2 is not None else ""
    return f"{exc.filename}{target}: {exc.strerror}"


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--version``, as click's own option prints it; the version is looked up only here
    (:mod:`polymask` reads it on first use), not by every command that starts."""
    if not value or ctx.resilient_parsing:
        return
    from polymask import __version__

    click.echo(f"polymask, version {__version__}")
    ctx.exit()


@click.group(cls=PolymaskGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and exit.",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="POLYMASK_DEBUG",
    help="Show the traceback of an error (also: POLYMASK_DEBUG=1).",
)
def cli(debug: bool) -> None:
    """Polygon annotations to class-index masks, label statistics and Dice scoring.

    Exit codes: 0 ok, 1 a check failed (bad annotations, a gate not met), 2 usage, input, I/O
    or internal error, 130 interrupted (Ctrl-C).
    """


cli.add_command(validate)
cli.add_command(rasterize)
cli.add_command(schema)
cli.add_command(stats)
cli.add_command(score)
