"""The one place that maps work over files: in-process, or over a pool of worker processes.

Results stream back as they finish (``imap_unordered`` over chunks), so memory stays flat in the
number of files: callers reduce each small result as it arrives and never hold the inputs.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def pmap(
    fn: Callable[[T], R], items: Iterable[T], workers: int | None = None, chunksize: int = 4
) -> Iterator[R]:
    """``fn`` over ``items``, results in completion order (each result should name its item).

    ``workers=1`` runs in this process (no pickling, easy to debug); more uses a process pool.
    ``fn`` must be a module-level function so it can be sent to the workers.
    """
    workers = default_workers() if workers is None else workers
    if isinstance(items, Sized):
        workers = min(workers, len(items))  # never start processes that would have no work
    if workers <= 1:
        yield from map(fn, items)
        return
    with _pool(workers) as pool:
        yield from pool.imap_unordered(fn, items, chunksize=chunksize)


@contextmanager
def _pool(workers: int):
    # forkserver: workers start from a clean process, so threads of the parent (a progress bar,
    # torch's pools) cannot leave locks held in them; it is the default from Python 3.14.
    method = "forkserver" if sys.platform.startswith("linux") else "spawn"
    pool = multiprocessing.get_context(method).Pool(workers)
    try:
        yield pool
        pool.close()
    finally:
        pool.terminate()
        pool.join()
