"""The one place that maps work over files: in-process, threads, a process pool, or Dask.

Results stream back as they finish, so memory stays flat in the number of files: callers reduce
each small result as it arrives and never hold the inputs. The unit of work sent to a pool or a
cluster is a chunk of items, so per-task overhead is paid once per chunk.

A local worker process that dies (the out-of-memory killer, a crash in compiled code) ends the
map with :class:`WorkerDied`. That is why the local pool is a ``ProcessPoolExecutor``:
``multiprocessing.Pool`` starts another worker and waits for ever for the chunk the dead one held,
and its ``terminate`` can block on a queue lock the dead one held (CPython issue 66587); the
executor notices the death, fails what is pending and stops the other workers without those locks.

``concurrent.futures`` and ``multiprocessing`` are imported where a pool starts: a run short
enough to be mapped in this process (a CI gate on a few masks) never loads them.
"""

from __future__ import annotations

import gc
import math
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, partial
from typing import TYPE_CHECKING, TypeVar

from polymask.io.storage import remove_own_temporaries

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

T = TypeVar("T")
R = TypeVar("R")

LOCAL_SCHEDULERS = ("processes", "threads", "serial", "dask")
"""Scheduler names; anything else must be a Dask scheduler address such as tcp://host:8786."""


class WorkerDied(RuntimeError):
    """A worker process of a local pool died while the map had work for it: killed (the
    out-of-memory killer sends SIGKILL), crashed or exited. The pool cannot go on without it, so
    the map stops, and the items of the chunks not yet finished are not mapped."""


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

    ``scheduler``: ``processes`` (a local pool of ``workers``, started only for work longer than
    the pool's start: see :func:`_pool_map`), ``threads``, ``serial`` (this process: no
    pickling, easy to debug), ``dask`` (a local Dask cluster) or the address of a running Dask
    scheduler. ``fn`` must be picklable (a module-level function or a partial of one).
    Chunks that a Dask cluster had to run again (a worker died) are listed in ``report``; a local
    worker process that dies ends the map with :class:`WorkerDied`.
    ``chunksize``: items sent to a worker at a time (default: see :func:`default_chunksize`,
    then, on a process pool, :func:`fitted_chunksize` once the time of an item is known).
    """
    check_scheduler(scheduler)
    workers = default_workers() if workers is None else workers
    if scheduler in ("processes", "dask"):
        workers = cap_workers(workers)
    fitted = chunksize is None
    if fitted:
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
        from concurrent.futures import ThreadPoolExecutor, as_completed

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
        yield from _pool_map(fn, items, workers, chunksize, fitted)


MAX_CHUNK = 16
"""Largest default chunk, while the time of an item is not known: every chunk costs the main
process a message each way, which with items of a millisecond or two (a mask rasterized or
counted) took a fifth of a core of two."""

CHUNK_S = 0.05
"""Seconds of work a chunk holds once the time of an item is known (from the items this process
maps before and while the pool starts). Each chunk costs the main process and a worker a
message each way, their pickling and a few thread wake-ups, in time the workers could have
used, since the main process shares the cores with them: with items of a millisecond, chunks of
this length make that cost a few times smaller than chunks of :data:`MAX_CHUNK` items, and the
last chunk still keeps a worker only this long after the others are done."""


def default_chunksize(items: Iterable, workers: int) -> int:
    """Items per task: a quarter of each worker's share (so the last tasks still balance),
    at most :data:`MAX_CHUNK`; 4 when the number of items is not known."""
    if not isinstance(items, Sized):
        return 4
    return max(1, min(MAX_CHUNK, len(items) // (4 * max(workers, 1))))


def fitted_chunksize(chunksize: int, item_s: float | None, left: int, workers: int) -> int:
    """Items per task for the ``left`` items once each takes about ``item_s`` seconds: enough
    for :data:`CHUNK_S` of work, at most a quarter of each worker's share of them (so the last
    tasks still balance), and never fewer than ``chunksize``."""
    if not item_s or item_s <= 0:
        return chunksize
    return max(chunksize, min(math.ceil(CHUNK_S / item_s), left // (4 * max(workers, 1))))


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
    fn: Callable[[T], R], items: Iterable[T], workers: int, chunksize: int, fitted: bool = False
) -> Iterator[R]:
    """``fn`` over ``items`` on a process pool, with this process mapping items itself while
    the pool starts, and before: a pool is started only for work that outlasts its start.

    Starting a first pool costs a fresh interpreter that imports the module of ``fn``
    (:data:`POOL_START_S`), and this process would only wait for it. The items it maps
    meanwhile are never sent to the pool; the rest go there once it runs. Where the number of
    items is known, :func:`_map_while_short` first maps them here until the work left looks
    longer than a start: a CI gate on a few dozen masks then ends sooner than a pool could have
    started, and never pays for one. With ``fitted``, the items mapped here also size the chunks
    sent to the pool (:func:`fitted_chunksize`).
    """
    known = len(items) if isinstance(items, Sized) else None
    items = iter(items)
    timing = _Timing()
    if known is not None and not (yield from _map_while_short(fn, items, known, timing)):
        return
    # imported here, before the starter thread imports them while this one maps items
    from concurrent.futures.process import BrokenProcessPool
    from multiprocessing import resource_tracker  # noqa: F401  (for interrupts_blocked)

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
            yield timing.timed(fn, item)
        starter.join()
        if "error" in started:
            raise started["error"]
        pool = started["pool"]
        if fitted and known is not None:
            chunksize = fitted_chunksize(chunksize, timing.item_s(), known - timing.mapped, workers)
        try:
            yield from _completed(pool, fn, chunks(items, chunksize), CHUNKS_PER_WORKER * workers)
        except BrokenProcessPool:
            _let_the_pool_settle(pool)
            died = [code for code in _stop(pool) if code not in _STOPPED]
            if not died:
                raise  # broken otherwise (a result that cannot be unpickled here): as it says
            raise WorkerDied(
                f"a worker process {_how_it_ended(died[0])}; the run stopped with work unfinished"
            ) from None
    finally:
        starter.join()
        if "pool" in started:
            _stop(started["pool"])


POOL_START_S = 1.0
"""Seconds of work a first pool must be able to take over to be started. Its start, an
interpreter importing the module of the mapped function (numpy, pydantic and polymask's scoring
modules) and then forking the workers, takes about half of this on an idle two-core machine; the
margin is for a busy one, where the items and the start both slow down and a pool finds no idle
core to gain from."""


@dataclass
class _Timing:
    """How long ``fn`` took on the items this process mapped itself."""

    mapped: int = 0
    first: float = 0.0
    later: float = 0.0
    """Seconds of the items after the first, which also pays for first uses (imports, caches,
    a device) and would make short work look long."""

    def timed(self, fn: Callable[[T], R], item: T) -> R:
        start = time.perf_counter()
        result = fn(item)
        took = time.perf_counter() - start
        self.mapped += 1
        if self.mapped == 1:
            self.first = took
        else:
            self.later += took
        return result

    def item_s(self) -> float | None:
        """Seconds an item takes (the mean after the first); None before a second item."""
        return self.later / (self.mapped - 1) if self.mapped > 1 else None


def _map_while_short(
    fn: Callable[[T], R], items: Iterator[T], total: int, timing: _Timing
) -> Iterator[R]:
    """``fn`` over ``items`` (``total`` of them) in this process while the work left looks
    shorter than :data:`POOL_START_S`; returns True once it does not (the items left are for a
    pool), False when every item was mapped here.

    The time per item is the mean over the items after the first (:class:`_Timing`); it is
    trusted once those items took a twentieth of a start, so that one item slowed by a busy
    machine does not decide alone. Only a first item slower than a start is judged alone:
    waiting for a second would cost more than the start. Only ``fn`` is timed, not what the
    caller does with each result.
    """
    for item in items:
        result = timing.timed(fn, item)
        yield result
        left = total - timing.mapped
        if left <= 0:
            return False
        if timing.mapped == 1:
            if timing.first > POOL_START_S:
                return True
        elif timing.later >= POOL_START_S / 20 and timing.item_s() * left > POOL_START_S:
            return True
    return False


CHUNKS_PER_WORKER = 2
"""Chunks sent to the pool and not yet taken back, per worker: the one it maps and the next, so
it never waits for this process to send more. More would only hold items and results."""


def _completed(
    pool: ProcessPoolExecutor, fn: Callable[[T], R], batches: Iterator[list[T]], in_flight: int
) -> Iterator[R]:
    """``fn`` over each of ``batches`` on ``pool``, results as each batch is done; at most
    ``in_flight`` batches are sent and not taken back, so memory stays flat in the items."""
    done: queue.SimpleQueue[Future[list[R]]] = queue.SimpleQueue()
    running = 0
    for batch in batches:
        pool.submit(_run_chunk, fn, batch).add_done_callback(done.put)
        running += 1
        if running == in_flight:
            yield from done.get().result()
            running -= 1
    for _ in range(running):
        yield from done.get().result()


_STOPPED = {128 + signal.SIGTERM, -signal.SIGTERM}
"""Exit codes of a worker stopped on purpose, by :func:`_stop` or by the pool once another died:
SIGTERM, handled by :func:`_exit_quietly` or (before the worker set its handlers) not."""

_LIKELY_CAUSE = {"SIGKILL": "out of memory?", "SIGSEGV": "a crash in compiled code?"}


def _how_it_ended(exitcode: int) -> str:
    """``was killed by signal 9 (SIGKILL: out of memory?)``, or ``exited with code 1``."""
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    try:
        name = signal.Signals(-exitcode).name
    except ValueError:  # a signal without a name here
        return f"was killed by signal {-exitcode}"
    cause = f": {_LIKELY_CAUSE[name]}" if name in _LIKELY_CAUSE else ""
    return f"was killed by signal {-exitcode} ({name}{cause})"


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
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # its start unblocks SIGINT in the thread starting it
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _new_pool(workers: int, preload: str) -> ProcessPoolExecutor:
    # forkserver: workers start from a clean process, so threads of the parent (a progress bar,
    # torch's pools) cannot leave locks held in them; it is the default from Python 3.14.
    # The server imports the module of the first function mapped, once; every later worker is a
    # fork of it with that module loaded, so a second pool (labels, then masks) starts in ~0.1 s
    # instead of ~0.4 s of imports per worker.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([preload])
    else:
        ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_leave_signals_to_parent)
    # The pool starts a worker for a task sent while none is idle: a trivial task for each
    # starts them here, in the starting thread, rather than with the first chunks.
    for _ in range(workers):
        pool.submit(os.getpid)
    return pool


def _stop(pool: ProcessPoolExecutor) -> list[int]:
    """Stop the workers of ``pool`` now, whatever they are doing, and wait for them; the exit
    codes of those that had ended before (how a worker died, or how the pool stopped the others
    once one had). ``shutdown`` alone would let each finish its chunk first.

    SIGTERM first (see :func:`_exit_quietly`: a mask being written loses its temporary); a
    worker still alive after :data:`STOP_GRACE_S` is killed. One can be deaf to SIGTERM:
    blocked on the task queue's lock, which a worker stopped while reading the queue never
    released (CPython issue 66587), it would wait for ever, and the pool's shutdown with it.
    """
    # _processes: no public way to stop workers before Python 3.14's terminate_workers();
    # None once the pool was shut down (stopped already)
    processes = pool._processes or {}
    workers = list(processes.values())
    ended = [w.exitcode for w in workers if w.exitcode is not None]
    for worker in workers:
        worker.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    for worker in workers:
        worker.join(max(deadline - time.monotonic(), 0))
    for worker in list(processes.values()):  # the pool's own list, late starters included
        if worker.exitcode is None:
            worker.kill()
            worker.join()
    pool.shutdown(cancel_futures=True)
    return ended


STOP_GRACE_S = 2.0
"""Seconds a worker has to stop on SIGTERM before it is killed."""


def _let_the_pool_settle(pool: ProcessPoolExecutor) -> None:
    """Wait (at most :data:`STOP_GRACE_S`) for a broken pool to stop and reap its workers itself,
    before their exit codes are read here.

    The pool breaks its futures first and only then stops and joins the other workers, in its
    own thread. Read meanwhile from this thread, a worker's exit code can be lost: under the
    forkserver, two threads polling one process race to read its status from one pipe, and the
    loser takes 255 ("the forkserver vanished") for a worker stopped on purpose.
    """
    manager = getattr(pool, "_executor_manager_thread", None)  # private, as _processes below
    if manager is not None:
        manager.join(STOP_GRACE_S)


def _leave_signals_to_parent() -> None:
    """Pool workers ignore Ctrl-C, which reaches the whole foreground process group: the parent
    alone handles it, and stops them. Otherwise each worker prints its own KeyboardInterrupt
    traceback and may outlive the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_quietly)


def _exit_quietly(signum: int, frame) -> None:
    """SIGTERM, how :func:`_stop` stops the workers: remove the temporary of a mask being
    written, then exit at once. Not an exception: one raised where Python swallows it (a
    finalizer, a callback) would leave the worker alive and the pool waiting for it for ever."""
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
    from multiprocessing import forkserver, resource_tracker

    # the tracker exits once the forkserver and the workers (holders of its pipe) are gone
    for helper in (forkserver._forkserver, resource_tracker._resource_tracker):
        stop = getattr(helper, "_stop", None)  # CPython's way to stop them, used by its tests
        if stop is not None:
            stop()
