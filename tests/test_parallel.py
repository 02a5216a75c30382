"""The process pool of pmap: this process maps items while the pool starts, and every item is
mapped exactly once either way; a worker that dies ends the map with an error, never a hang."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from unittest.mock import patch

import pytest

from polymask import rasterize
from polymask.runtime import parallel
from polymask.runtime.parallel import WorkerDied, pmap, stop_workers
from tests.helpers import write_labelme

ROOT = Path(__file__).resolve().parent.parent
SQUARE = [[2, 2], [20, 2], [20, 20], [2, 20]]


def where_mapped(item: int) -> tuple[int, int]:
    time.sleep(0.002)
    return item, os.getpid()


def sigint_handler(item: int) -> tuple[object, int]:
    time.sleep(0.002)
    return signal.getsignal(signal.SIGINT), os.getpid()


def fails_on_three(item: int) -> int:
    if item == 3:
        raise ValueError("three")
    return item


def in_a_worker() -> bool:
    return multiprocessing.parent_process() is not None


def killed_once(item: int, marker: str) -> int:
    """The first worker to map an item is killed as the out-of-memory killer kills: SIGKILL, no
    cleanup, no message. The others map items of a millisecond."""
    if in_a_worker():
        try:
            open(marker, "x").close()
        except FileExistsError:
            pass
        else:
            os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.001)
    return item


def slow_once_told(item: int, told: str) -> tuple[int, int]:
    """Items of 20 ms; once the file ``told`` exists, a minute in a worker (which says so in
    ``told.PID``)."""
    if in_a_worker() and os.path.exists(told):
        Path(f"{told}.{os.getpid()}").touch()
        time.sleep(60)
    time.sleep(0.02)
    return item, os.getpid()


class Unloadable:
    """Pickles in a worker, but cannot be unpickled here."""

    def __reduce__(self):
        return _cannot_load, ()


def _cannot_load():
    raise ValueError("cannot load")


def unloadable(item: int) -> object:
    time.sleep(0.001)
    return Unloadable() if in_a_worker() else item


REAL_RASTERIZE_ITEM = rasterize.rasterize_item


def rasterize_or_die(item, options):
    """rasterize_item in this process, slowly, so that the pool starts with items left; a
    worker is killed on its first item."""
    if in_a_worker():
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.2)
    return REAL_RASTERIZE_ITEM(item, options)


def run_python(code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """``code`` in a fresh interpreter at the repository root, its process group killed once
    ``timeout`` passed: a map that hangs fails the test instead of hanging the suite."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"still running after {timeout} s: a map waits for a dead worker")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _slow_start(delay: float):
    """A pool that takes ``delay`` seconds longer to start, so this process maps some items."""
    real = parallel._new_pool

    def start(workers, preload):
        time.sleep(delay)
        return real(workers, preload)

    return patch.object(parallel, "_new_pool", start)


def test_every_item_once_from_this_process_and_the_pool():
    with _slow_start(0.2):
        results = list(pmap(where_mapped, range(1000), workers=2, chunksize=4))
    assert sorted(item for item, _ in results) == list(range(1000))
    pids = {pid for _, pid in results}
    assert os.getpid() in pids  # mapped here while the pool started
    assert pids - {os.getpid()}  # and by the pool: 1000 items outlast its start


def test_the_pool_takes_over_once_started():
    """This process maps items until the pool runs, then only the workers do."""
    results = pmap(where_mapped, range(100_000), workers=2, chunksize=4)
    seen = []
    with _slow_start(0.1):
        for _, pid in results:
            seen.append(pid)
            if sum(p != os.getpid() for p in seen) >= 20:
                break
    results.close()
    assert seen[0] == os.getpid()
    assert all(p != os.getpid() for p in seen[-20:])


def test_errors_reach_the_caller_from_here_and_from_the_pool():
    with _slow_start(0.5), pytest.raises(ValueError, match="three"):
        list(pmap(fails_on_three, range(10), workers=2))  # raised here, during the start
    with pytest.raises(ValueError, match="three"):
        list(pmap(fails_on_three, range(3, 10), workers=2, chunksize=1))


def test_a_pool_that_cannot_start_is_an_error():
    def broken(workers, preload):
        raise OSError("no processes left")

    with patch.object(parallel, "_new_pool", broken), pytest.raises(OSError, match="no proc"):
        list(pmap(where_mapped, range(2000), workers=2))


def test_stopping_early_stops_workers_in_the_middle_of_a_chunk(tmp_path):
    """A worker busy with an item of a minute is stopped, not waited for."""
    told = tmp_path / "slow"
    results = pmap(partial(slow_once_told, told=str(told)), range(100_000), workers=2, chunksize=4)
    pids = {pid for _, pid in _worker_results(results, 1)} - {os.getpid()}
    told.touch()
    deadline = time.monotonic() + 30
    while not list(tmp_path.glob("slow.*")):
        assert time.monotonic() < deadline, "no worker started a slow item"
        time.sleep(0.01)
    pids |= {int(p.suffix[1:]) for p in tmp_path.glob("slow.*")}
    start = time.monotonic()
    results.close()
    assert time.monotonic() - start < 10
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)  # terminated and reaped


def _worker_results(results, n: int) -> list:
    """Results until ``n`` came from workers (the first ones are mapped here)."""
    seen = []
    for result in results:
        seen.append(result)
        if sum(pid != os.getpid() for *_, pid in seen) >= n:
            return seen
    raise AssertionError("no results from the pool")


def test_pool_workers_leave_ctrl_c_to_this_process():
    """A Ctrl-C reaches the whole process group; only this process may act on it."""
    results = pmap(sigint_handler, range(100_000), workers=2, chunksize=4)
    seen = _worker_results(results, 20)
    results.close()
    assert {h for h, pid in seen if pid != os.getpid()} == {signal.SIG_IGN}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_stop_workers_stops_a_pool_nobody_holds_and_the_helpers():
    """After a Ctrl-C in the consumer, a suspended pmap is unreachable but not yet collected."""
    results = pmap(where_mapped, range(100_000), workers=2, chunksize=4)
    pids = {pid for _, pid in _worker_results(results, 20)} - {os.getpid()}
    cycle = [results]
    cycle.append(cycle)  # only the cycle collector would free it
    del results, cycle
    stop_workers()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert multiprocessing.active_children() == []  # forkserver and tracker reaped


def test_stopping_early_cancels_the_queued_thread_chunks():
    done = []

    def slow(item: int) -> int:
        time.sleep(0.01)
        done.append(item)
        return item

    results = pmap(slow, range(1000), workers=2, chunksize=1, scheduler="threads")
    next(results)
    results.close()
    assert len(done) < 10  # the running chunks finish; the 990 queued ones never start


def test_default_chunks_balance_small_runs_and_cap_large_ones():
    from polymask.runtime.parallel import MAX_CHUNK, default_chunksize

    assert default_chunksize(list(range(12)), 2) == 1  # 6 each: chunks of 1 keep both busy
    assert default_chunksize(list(range(80)), 2) == 10  # a quarter of a worker's 40
    assert default_chunksize(list(range(100_000)), 8) == MAX_CHUNK
    assert default_chunksize(iter(range(10)), 2) == 4  # unknown length


def test_a_stopped_worker_exits_even_where_python_swallows_exceptions(tmp_path):
    """pool.terminate() sends one SIGTERM and waits: a worker must exit whatever it is doing
    (here: inside a handler that swallows every exception, as finalizers do), and remove the
    temporary of the mask it was writing."""
    import subprocess
    import sys
    import textwrap

    tmp = tmp_path / ".a.png.polymask-tmp-x"
    code = textwrap.dedent(
        f"""
        import os, signal, time
        from polymask.io import storage
        from polymask.runtime.parallel import _leave_signals_to_parent
        _leave_signals_to_parent()
        open({str(tmp)!r}, "wb").close()
        storage._IN_FLIGHT.add({str(tmp)!r})
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)
        except BaseException:
            pass
        time.sleep(5)
        """
    )
    run = subprocess.run([sys.executable, "-c", code], timeout=30)
    assert run.returncode == 128 + signal.SIGTERM
    assert not tmp.exists()


def test_a_worker_killed_ends_the_map_with_an_error_at_once(tmp_path):
    """The map would wait for ever for the chunk of the dead worker; the other items are most
    of a minute of work, and the map ends long before they are done."""
    marker = tmp_path / "killed"
    run = run_python(
        f"""
        import time
        from functools import partial
        from polymask.runtime.parallel import WorkerDied, pmap
        from tests.test_parallel import killed_once

        start = time.monotonic()
        try:
            list(pmap(partial(killed_once, marker={str(marker)!r}), range(100_000), workers=2))
        except WorkerDied as exc:
            print(time.monotonic() - start)
            print(exc)
        """
    )
    assert run.returncode == 0, run.stderr
    assert marker.exists()  # a worker was killed
    seconds, message = run.stdout.splitlines()
    assert float(seconds) < 15
    assert message == (
        "a worker process was killed by signal 9 (SIGKILL: out of memory?); "
        "the run stopped with work unfinished"
    )


def test_a_worker_killed_in_a_command_is_one_line_and_exit_2(tmp_path):
    for i in range(20):
        write_labelme(tmp_path / "data" / f"f{i:02}.json", [{"label": "a", "points": SQUARE}])
    (tmp_path / "labels.txt").write_text("a\n")
    run = run_python(
        f"""
        from unittest.mock import patch
        from polymask import rasterize
        from polymask.cli.main import cli
        from tests.test_parallel import rasterize_or_die

        with patch.object(rasterize, "rasterize_item", rasterize_or_die):
            cli([
                "rasterize", {str(tmp_path / "data")!r}, "-o", {str(tmp_path / "out")!r},
                "--labels", {str(tmp_path / "labels.txt")!r}, "--workers", "2",
            ])
        """
    )
    assert run.returncode == 2
    assert run.stderr.splitlines() == [
        "polymask: error: a worker process was killed by signal 9 (SIGKILL: out of memory?); "
        "the run stopped with work unfinished"
    ]


@pytest.mark.parametrize(
    "exitcode, how",
    [
        (-signal.SIGSEGV, "was killed by signal 11 (SIGSEGV: a crash in compiled code?)"),
        (-signal.SIGHUP, "was killed by signal 1 (SIGHUP)"),
        (3, "exited with code 3"),
    ],
)
def test_how_a_worker_ended_in_words(exitcode, how):
    assert parallel._how_it_ended(exitcode) == how


def test_a_broken_pool_without_a_dead_worker_is_not_called_a_death():
    """The pool also breaks on a result it cannot unpickle here; every worker is then stopped
    on purpose, and no exit code says that one died."""
    with pytest.raises(BrokenProcessPool) as raised:
        list(pmap(unloadable, range(100_000), workers=2))
    assert not isinstance(raised.value, WorkerDied)
