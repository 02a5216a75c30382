"""Chunks fitted to the time of an item: long enough that their messages cost the workers
little, never so long that the last ones leave a worker alone, and every item still mapped
exactly once."""

from __future__ import annotations

import os

from polymask.runtime import parallel
from polymask.runtime.parallel import CHUNK_S, fitted_chunksize, pmap
from tests.test_parallel import where_mapped


def test_a_chunk_holds_about_chunk_s_of_work():
    for item_s in (0.0001, 0.001, 0.0023, 0.01):
        size = fitted_chunksize(1, item_s, 10**7, 2)
        assert size * item_s >= CHUNK_S > (size - 1) * item_s, item_s


def test_a_chunk_stays_within_a_quarter_of_each_workers_share():
    assert fitted_chunksize(1, 1e-6, 4000, 2) == 500  # 4000 / (4 * 2), not 50,000 items
    assert fitted_chunksize(1, 1e-6, 4000, 8) == 125


def test_the_default_chunk_is_the_least():
    assert fitted_chunksize(16, 0.5, 10**6, 2) == 16  # slow items: one would be enough
    assert fitted_chunksize(16, 1e-6, 40, 2) == 16  # few left: a quarter share is 5
    assert fitted_chunksize(4, None, 10**6, 2) == 4  # no item timed yet (one mapped here)
    assert fitted_chunksize(4, 0.0, 10**6, 2) == 4  # too quick for the clock


def test_a_pool_gets_fitted_chunks_and_maps_every_item_once(monkeypatch):
    """The chunks sent to the pool are sized from the items mapped here (2 ms each, 25 to a
    chunk on an idle machine, fewer on a busy one), within the default and a quarter share."""
    sizes = []
    real = parallel.chunks

    def recorded(items, size):
        sizes.append(size)
        return real(items, size)

    monkeypatch.setattr(parallel, "chunks", recorded)
    results = list(pmap(where_mapped, range(3000), workers=2))
    assert sorted(item for item, _ in results) == list(range(3000))
    mapped_here = sum(pid == os.getpid() for _, pid in results)
    assert mapped_here < 3000  # the pool mapped the others
    (size,) = sizes
    assert parallel.default_chunksize(range(3000), 2) <= size <= (3000 - mapped_here) // 8
    assert size * 0.002 <= 2 * CHUNK_S  # sized from the items' time, not from the share alone
