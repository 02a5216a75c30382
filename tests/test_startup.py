"""What a short run pays before it works: ``--help`` loads no heavy library, the version is
read when asked for, and a map too short for a process pool never starts one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.runtime import parallel
from polymask.runtime.parallel import pmap

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "numpy",
    "pydantic",
    "rich",
    "PIL",
    "torch",
    "shapely",
    "rasterio",
    "dask",
    "importlib.metadata",
    "concurrent.futures",
    "multiprocessing",
)


def loaded_after(code: str) -> list[str]:
    """The modules of :data:`HEAVY` a fresh interpreter holds after running ``code``."""
    report = f"import sys\nprint(*[m for m in {HEAVY!r} if m in sys.modules], file=sys.stderr)"
    run = subprocess.run(
        [sys.executable, "-c", f"{textwrap.dedent(code)}\n{report}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return run.stderr.splitlines()[-1].split()


def test_help_loads_no_heavy_library():
    code = """
        from polymask.cli.main import cli
        for args in (["--help"], ["score", "--help"], ["rasterize", "--help"],
                     ["stats", "--help"], ["validate", "--help"], ["schema", "--help"]):
            try:
                cli(args, standalone_mode=False)
            except SystemExit:
                pass
    """
    assert loaded_after(code) == []


def test_the_version_is_read_when_asked_for():
    assert loaded_after("import polymask") == []
    import importlib.metadata

    try:
        expected = importlib.metadata.version("polymask")
    except importlib.metadata.PackageNotFoundError:
        expected = "0+unknown"
    import polymask

    assert polymask.__version__ == expected
    r = CliRunner().invoke(cli, ["--version"])
    assert (r.exit_code, r.output) == (0, f"polymask, version {expected}\n")


def test_a_short_map_loads_no_pool_machinery():
    code = """
        from polymask.runtime.parallel import pmap
        assert sorted(pmap(abs, [1, -2, 3], workers=2)) == [1, 2, 3]
    """
    assert loaded_after(code) == []


# ---- when a pool starts ---------------------------------------------------------------------
# The work is timed on a clock the tests move: an item "takes" what it adds to CLOCK, so what
# pmap decides does not depend on how busy the machine is.

CLOCK = [0.0]


def costs(x: int, first: float, rest: float) -> int:
    CLOCK[0] += first if x == 0 else rest
    return x


def slow_second(x: int, quick: float, slow: float) -> int:
    CLOCK[0] += slow if x == 1 else quick
    return x


@pytest.fixture
def clock(monkeypatch):
    fake = SimpleNamespace(perf_counter=lambda: CLOCK[0], monotonic=time.monotonic)
    monkeypatch.setattr(parallel, "time", fake)
    CLOCK[0] = 0.0
    return CLOCK


@pytest.fixture
def pools(monkeypatch):
    """The worker counts of the pools started."""
    started: list[int] = []
    real = parallel._new_pool

    def record(workers, preload):
        started.append(workers)
        return real(workers, preload)

    monkeypatch.setattr(parallel, "_new_pool", record)
    return started


def mapped(n: int, first: float, rest: float) -> list[int]:
    """``n`` items, the first costing ``first`` starts of a pool, each other ``rest``."""
    start = parallel.POOL_START_S
    work = partial(costs, first=first * start, rest=rest * start)
    return sorted(pmap(work, range(n), workers=2))


def test_work_shorter_than_a_start_is_mapped_here(clock, pools):
    assert mapped(500, first=0.001, rest=0.001) == list(range(500))  # half a start in all
    assert pools == []


def test_work_longer_than_a_start_gets_a_pool(clock, pools):
    assert mapped(300, first=0.004, rest=0.004) == list(range(300))  # 1.2 starts in all
    assert pools == [2]


def test_a_first_item_slower_than_a_start_is_enough_to_judge(clock, pools):
    """The items after it cost nothing: waiting for more items would have said no pool."""
    assert mapped(40, first=1.2, rest=0.0) == list(range(40))
    assert pools == [2]


def test_the_first_items_first_use_costs_do_not_start_a_pool(clock, pools):
    """A first item that pays for imports looks like long work on its own (0.6 of a start,
    then 199 more items); the items after it say the work is short (0.1 of a start)."""
    assert mapped(200, first=0.6, rest=0.0005) == list(range(200))
    assert pools == []


def test_one_slow_item_among_quick_ones_does_not_start_a_pool(clock, pools):
    """The second item, slowed (a busy machine), would say 98 x 0.04 starts of work are left;
    with the items after it, the work left is under half a start."""
    start = parallel.POOL_START_S
    work = partial(slow_second, quick=0.001 * start, slow=0.04 * start)
    assert sorted(pmap(work, range(100), workers=2)) == list(range(100))
    assert pools == []


def test_only_the_mapping_is_timed_not_what_the_caller_does(clock, pools):
    start = parallel.POOL_START_S
    for _ in pmap(partial(costs, first=0.0002 * start, rest=0.0002 * start), range(100), workers=2):
        clock[0] += 0.02 * start  # the caller's work: two starts in all, which no pool shortens
    assert pools == []


def test_scoring_a_few_masks_starts_no_pool(tmp_path, monkeypatch):
    from polymask.io.masks import write_png

    rng = np.random.default_rng(0)
    for i in range(3):
        for side in ("gt", "pred"):
            write_png(tmp_path / side / f"{i}.png", rng.integers(0, 4, (32, 48), dtype=np.uint8))

    def refuse(workers, preload):
        raise AssertionError("a pool was started for three small masks")

    monkeypatch.setattr(parallel, "_new_pool", refuse)
    r = CliRunner().invoke(
        cli, ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--workers", "2"]
    )
    assert r.exit_code == 0, r.output


def test_a_small_score_for_a_machine_loads_no_rich_and_no_pool(tmp_path):
    """JSON on stdout and nobody watching stderr: no table, no progress bar, no workers."""
    from polymask.io.masks import write_png

    rng = np.random.default_rng(1)
    for i in range(2):
        for side in ("gt", "pred"):
            write_png(tmp_path / side / f"{i}.png", rng.integers(0, 4, (32, 48), dtype=np.uint8))
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--output-format", "json"]
    code = f"""
        from polymask.cli.main import cli
        try:
            cli({args!r}, standalone_mode=False)
        except SystemExit as exc:
            assert exc.code == 0, exc.code
    """
    assert {"rich", "concurrent.futures", "multiprocessing"}.isdisjoint(loaded_after(code))
