"""The one place that maps work over files: in-process, threads, a process pool, or Dask.

Results stream back as they finish, so memory stays flat in the number of files: callers reduce
each small result as it arrives and never hold the inputs. The unit of work sent to a pool or a
cluster is a chunk of items, so per-task overhead is paid once per chunk.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sized
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, partial
from multiprocessing import resource_tracker
from typing import TypeVar

from polymask.io.storage import remove_own_temporaries

T = TypeVar("T")
R = TypeVar("R")

LOCAL_SCHEDULERS = ("processes", "threads", "serial", "dask")
"""Scheduler names; anything else must be a Dask scheduler address such as tcp://host:8786."""


@dataclass
class RunReport:
    """What a run had to do beyond the plain work: chunks a cluster ran more than once."""

    retried: list[str] = field(default_factory=list)


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cap_workers(workers: int) -> int:
    """At most one local worker process per core. More only take turns on the cores, each
    with its own interpreter and memory: ``--scheduler dask -j 1000`` started 1,000 processes.
    The cap is said on stderr, once per process for each value asked."""
    cores = default_workers()
    if workers <= cores:
        return workers
    _say_capped(workers, cores)
    return cores


@cache
def _say_capped(asked: int, cores: int) -> None:
    print(
        f"polymask: note: {asked} workers asked, {cores} cores here: using {cores}",
        file=sys.stderr,
    )


def is_cluster(scheduler: str) -> bool:
    """Whether work goes to a Dask cluster (a local one, or a scheduler's address)."""
    return scheduler == "dask" or "://" in scheduler


def check_scheduler(scheduler: str) -> str:
    if scheduler in LOCAL_SCHEDULERS or "://" in scheduler:
        return scheduler
    raise ValueError(
        f"unknown scheduler {scheduler!r}: expected one of {', '.join(LOCAL_SCHEDULERS)} "
        "or a Dask scheduler address (tcp://host:8786)"
    )


def pmap(
    fn: Callable[[T], R],
    items: Iterable[T],
    workers: int | None = None,
    chunksize: int | None = None,
    scheduler: str = "processes",
    report: RunReport | None = None,
) -> Iterator[R]:
    """``fn`` over ``items``, results in completion order (each result should name its item).

    ``scheduler``: ``processes`` (a local pool of ``workers``), ``threads``, ``serial`` (this
    process: no pickling, easy to debug), ``dask`` (a local Dask cluster) or the address of a
    running Dask scheduler. ``fn`` must be picklable (a module-level function or a partial of one).
    Chunks that a Dask cluster had to run again (a worker died) are listed in ``report``.
    ``chunksize``: items sent to a worker at a time (default: see :func:`default_chunksize`).
    """
    check_scheduler(scheduler)
    workers = default_workers() if workers is None else workers
    if scheduler in ("processes", "dask"):
        workers = cap_workers(workers)
    if chunksize is None:
        chunksize = default_chunksize(items, workers)
    if is_cluster(scheduler):
        from polymask.runtime.dask_cluster import dask_map

        yield from dask_map(
            fn, list(items), workers, chunksize, scheduler, report, interrupts_blocked
        )
        return
    if isinstance(items, Sized):
        workers = min(workers, len(items))  # never start workers that would have no work
    if workers <= 1 or scheduler == "serial":
        yield from map(fn, items)
    elif scheduler == "threads":
        pool = ThreadPoolExecutor(workers)
        try:
            futures = [pool.submit(_run_chunk, fn, chunk) for chunk in chunks(items, chunksize)]
            for future in as_completed(futures):
                yield from future.result()
        finally:
            # a stop (Ctrl-C, an error, the caller leaving early) waits only for the chunks
            # already running: threads cannot be killed, but the queued ones need not start
            pool.shutdown(cancel_futures=True)
    else:
        yield from _pool_map(fn, items, workers, chunksize)


MAX_CHUNK = 16
"""Largest default chunk: every chunk costs the main process a message each way, which with
items of a millisecond or two (a mask rasterized or counted) took a fifth of a core of two."""


def default_chunksize(items: Iterable, workers: int) -> int:
    """Items per task: a quarter of each worker's share (so the last tasks still balance),
    at most :data:`MAX_CHUNK`; 4 when the number of items is not known."""
    if not isinstance(items, Sized):
        return 4
    return max(1, min(MAX_CHUNK, len(items) // (4 * max(workers, 1))))


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _run_chunk(fn: Callable[[T], R], chunk: list[T]) -> list[R]:
    return [fn(item) for item in chunk]


def _module_of(fn: Callable) -> str:
    while isinstance(fn, partial):
        fn = fn.func
    return getattr(fn, "__module__", None) or "__main__"


def _pool_map(
    fn: Callable[[T], R], items: Iterable[T], workers: int, chunksize: int
) -> Iterator[R]:
    """``fn`` over ``items`` on a process pool, with this process mapping items itself while
    the pool starts.

    Starting a first pool costs a fresh interpreter that imports the module of ``fn`` (about
    0.3 s, as long as scoring a few hundred mask pairs), and this process would only wait for
    it. The items it maps meanwhile are never sent to the pool; the rest go there once it runs.
    """
    items = iter(items)
    started: dict[str, object] = {}

    def start() -> None:
        try:
            with interrupts_blocked():  # the forkserver's imports and the workers' start
                started["pool"] = _new_pool(workers, _module_of(fn))
        except BaseException as exc:  # re-raised in this thread below
            started["error"] = exc

    starter = threading.Thread(target=start, name="polymask-pool-start", daemon=True)
    starter.start()
    try:
        while starter.is_alive():
            item = next(items, _END)
            if item is _END:
                break
            yield fn(item)
        starter.join()
        if "error" in started:
            raise started["error"]
        pool = started["pool"]
        yield from pool.imap_unordered(fn, items, chunksize=chunksize)
        pool.close()
    finally:
        starter.join()
        if "pool" in started:
            started["pool"].terminate()
            started["pool"].join()


_END = object()


@contextmanager
def interrupts_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread while it starts worker processes (and threads that start
    more of them), which inherit the mask: a Ctrl-C reaches the whole foreground process group,
    and a worker still importing would print a KeyboardInterrupt traceback. The main thread
    handles it; if it is the thread blocked here, once the block ends."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no process groups to signal
        yield
        return
    resource_tracker.ensure_running()  # its start unblocks SIGINT in the thread starting it
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _new_pool(workers: int, preload: str):
    # forkserver: workers start from a clean process, so threads of the parent (a progress bar,
    # torch's pools) cannot leave locks held in them; it is the default from Python 3.14.
    # The server imports the module of the first function mapped, once; every later worker is a
    # fork of it with that module loaded, so a second pool (labels, then masks) starts in ~0.1 s
    # instead of ~0.4 s of imports per worker.
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([preload])
    else:
        ctx = multiprocessing.get_context("spawn")
    return ctx.Pool(workers, initializer=_leave_signals_to_parent)


def _leave_signals_to_parent() -> None:
    """Pool workers ignore Ctrl-C, which reaches the whole foreground process group: the parent
    alone handles it, and stops them. Otherwise each worker prints its own KeyboardInterrupt
    traceback and may outlive the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_quietly)


def _exit_quietly(signum: int, frame) -> None:
    """SIGTERM, how a pool stops its workers: remove the temporary of a mask being written, then
    exit at once. Not an exception: one raised where Python swallows it (a finalizer, a
    callback) would leave the worker alive and the pool waiting for it for ever."""
    remove_own_temporaries()
    os._exit(128 + signum)


def stop_workers() -> None:
    """Stop every worker process this program started, once its run was interrupted.

    A pool whose generator was suspended when the interrupt came (its consumer had it) stops
    when the generator is collected, which ``gc.collect`` forces here; the caller must hold no
    reference to the interrupted work. multiprocessing's own helpers (the forkserver and the
    resource tracker) would exit only with this process and then wait for the system to reap
    them; they are stopped and reaped here instead, so nothing of the program outlives it.
    """
    gc.collect()  # closes unreachable pmap generators, which stop their pools
    gc.collect()  # frees those pools and their semaphores, else reported leaked by the tracker
    from multiprocessing import forkserver

    # the tracker exits once the forkserver and the workers (holders of its pipe) are gone
    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        stop = getattr(helper, "_stop", None)  # CPython's way to stop them, used by its tests
        if stop is not None:
            stop()
