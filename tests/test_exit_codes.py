"""Exit codes that mean one thing: 1 a check failed, 2 anything else that stopped a command (an
I/O error, a refused input, a bug; in this process or a worker) with one line on stderr, 130
Ctrl-C. Tracebacks only with --debug."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.errors import UsageError
from polymask.io.storage import TEMP_MARK

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "labelme"


def run(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env)


def rasterize_examples(out: Path, *extra):
    return run("rasterize", EXAMPLES, "-o", out, "--labels", EXAMPLES / "labels.txt", *extra)


def test_an_output_folder_that_cannot_be_made_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "somefile").write_text("")  # a folder below a file fails for root too
    r = rasterize_examples(tmp_path / "somefile" / "masks")
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [f"polymask: error: {tmp_path}/somefile/masks: Not a directory"]
    assert "Traceback" not in r.output


def test_a_write_that_fails_in_a_worker_is_one_line_and_exit_2(tmp_path):
    """With two workers the write fails in a worker or here while the pool starts: same report."""
    (tmp_path / "out" / "day" / "street_01.png").mkdir(parents=True)  # a folder where a mask goes
    r = rasterize_examples(tmp_path / "out", "--workers", "2", "--force")
    assert r.exit_code == 2
    (line,) = r.stderr.splitlines()
    assert line.startswith("polymask: error: ") and line.endswith("street_01.png: Is a directory")
    assert "Traceback" not in r.output
    assert not [p for p in (tmp_path / "out").rglob("*") if TEMP_MARK in p.name]


@pytest.fixture
def schema_fails(monkeypatch):
    """``polymask schema NAME`` raising ``exc`` from the library it calls."""
    from polymask import schemas

    def fail_with(exc: Exception) -> list[str]:
        def render(name):
            raise exc

        monkeypatch.setattr(schemas, "render", render)
        return ["schema", next(iter(schemas.SCHEMAS))]

    return fail_with


def test_a_bug_is_one_line_and_exit_2_and_debug_shows_the_traceback(schema_fails):
    args = schema_fails(RuntimeError("boom"))
    r = run(*args)
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        "polymask: internal error: RuntimeError: boom (rerun with --debug for the traceback)"
    ]
    for debug in (run("--debug", *args), run(*args, env={"POLYMASK_DEBUG": "1"})):
        assert debug.exit_code == 2
        assert "Traceback" in debug.stderr and "raise exc" in debug.stderr
        assert debug.stderr.splitlines()[-1] == "polymask: internal error: RuntimeError: boom"


def test_a_refused_input_that_escapes_a_command_is_exit_2(schema_fails):
    r = run(*schema_fails(UsageError("--res must be positive")))
    assert (r.exit_code, r.stderr) == (2, "polymask: error: --res must be positive\n")


def test_a_failed_check_stays_exit_1(tmp_path):
    r = rasterize_examples(tmp_path / "out", "--check")  # nothing written yet: masks missing
    assert r.exit_code == 1 and "missing:" in r.stdout


def _dataset(folder: Path, copies: int) -> tuple[Path, Path]:
    """Benchmark-sized LabelMe files (1024x768, 20-40 polygons), each copied ``copies`` times:
    enough for a run of a few seconds on two workers."""
    from benchmarks.generate import generate

    source = generate(folder / "generated", images=20)
    inputs = folder / "inputs"
    inputs.mkdir()
    for i in range(copies):
        for f in source.glob("*.json"):
            shutil.copy(f, inputs / f"{f.stem}_{i:03}.json")
    return inputs, folder / "generated" / "labels.txt"


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
def test_ctrl_c_stops_every_worker_quietly_and_a_rerun_finishes(tmp_path):
    inputs, labels = _dataset(tmp_path, copies=20)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "polymask", "rasterize", inputs, "-o", out, "--labels", labels]
    cmd = [str(c) for c in [*cmd, "--workers", "2"]]
    proc = subprocess.Popen(
        cmd, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not any(out.glob("*.png")) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # the pool is starting or running by now
        assert proc.poll() is None, "the run ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole foreground group
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130
    assert err.splitlines() == ["polymask: interrupted"]  # no worker tracebacks
    time.sleep(1)
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no worker, forkserver or tracker outlived the run
    written = list(out.glob("*.png"))
    assert 0 < len(written) < 400
    assert not [p for p in out.iterdir() if TEMP_MARK in p.name]  # no half-written mask

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert len(list(out.glob("*.png"))) == 400
