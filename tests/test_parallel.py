"""The process pool of pmap: this process maps items while the pool starts, and every item is
mapped exactly once either way."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from unittest.mock import patch

import pytest

from polymask.runtime import parallel
from polymask.runtime.parallel import pmap, stop_workers


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


def _slow_start(delay: float):
    """A pool that takes ``delay`` seconds longer to start, so this process maps some items."""
    real = parallel._new_pool

    def start(workers, preload):
        time.sleep(delay)
        return real(workers, preload)

    return patch.object(parallel, "_new_pool", start)


def test_every_item_once_from_this_process_and_the_pool():
    with _slow_start(0.2):
        results = list(pmap(where_mapped, range(400), workers=2, chunksize=4))
    assert sorted(item for item, _ in results) == list(range(400))
    assert os.getpid() in {pid for _, pid in results}  # mapped here while the pool started


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


def test_stopping_early_shuts_the_pool_down():
    pools = []
    real = parallel._new_pool

    def start(workers, preload):
        pools.append(real(workers, preload))
        return pools[-1]

    with patch.object(parallel, "_new_pool", start):
        results = pmap(where_mapped, range(10_000), workers=2)
        for _ in range(5):
            next(results)
        results.close()
    assert len(pools) == 1
    assert all(not p.is_alive() for p in pools[0]._pool)  # terminated and joined


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
