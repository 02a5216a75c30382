"""The process pool of pmap: this process maps items while the pool starts, and every item is
mapped exactly once either way."""

from __future__ import annotations

import os
import time
from unittest.mock import patch

import pytest

from polymask.runtime import parallel
from polymask.runtime.parallel import pmap


def where_mapped(item: int) -> tuple[int, int]:
    time.sleep(0.002)
    return item, os.getpid()


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


def test_default_chunks_balance_small_runs_and_cap_large_ones():
    from polymask.runtime.parallel import MAX_CHUNK, default_chunksize

    assert default_chunksize(list(range(12)), 2) == 1  # 6 each: chunks of 1 keep both busy
    assert default_chunksize(list(range(80)), 2) == 10  # a quarter of a worker's 40
    assert default_chunksize(list(range(100_000)), 8) == MAX_CHUNK
    assert default_chunksize(iter(range(10)), 2) == 4  # unknown length
