"""Running polymask's per-file work on a Dask cluster (``--scheduler dask`` or an address).

Chunks of files are the tasks; a task returns the small per-file results (outcomes, histograms,
confusion matrices), never masks, and the client reduces them as they arrive. A worker that dies
takes its running tasks with it: the scheduler runs them again elsewhere (Dask's own recovery),
and each start is logged as a cluster event, so the run can say which chunks ran twice.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from polymask.errors import UsageError


def _run_chunk(index: int, chunk: list, fn: Callable, topic: str) -> list:
    from distributed import get_worker

    try:
        get_worker().log_event(topic, {"chunk": index})
    except ValueError:  # not on a worker (a synchronous client in tests): nothing to log
        pass
    return [fn(item) for item in chunk]


NO_WORKERS_WAIT_S = 60.0
"""How long a run waits on a cluster without a single worker before it stops with an error.
Dask itself waits for ever: tasks queue until a worker comes. A local cluster's nanny restarts
a dead worker within seconds and a remote cluster may be scaling up, so a minute without any
means none is coming (every worker died, or the cluster never had one)."""
POLL_S = 0.05
"""Pause between looks for finished chunks while none is ready (chunks take longer)."""


class _WorkerWatch:
    """Whether a cluster has had no worker for longer than :data:`NO_WORKERS_WAIT_S`; asks the
    scheduler at most once a second."""

    def __init__(self, client):
        self.client = client
        self.alone_since: float | None = None
        self.asked = 0.0

    def reset(self) -> None:
        self.alone_since = None

    def check(self) -> None:
        now = time.monotonic()
        if now - self.asked < 1:
            return
        self.asked = now
        if self.client.nthreads():
            self.alone_since = None
            return
        self.alone_since = self.alone_since or now
        if now - self.alone_since > NO_WORKERS_WAIT_S:
            raise UsageError(
                f"the Dask cluster has had no workers for {NO_WORKERS_WAIT_S:g} s (did they all "
                "die? see the workers' logs); stopping rather than waiting for ever"
            )


def dask_map(
    fn: Callable,
    items: list,
    workers: int,
    chunksize: int,
    scheduler: str,
    report: Any,
    starting: Callable[[], AbstractContextManager] = nullcontext,
) -> Iterator:
    """``fn`` over ``items`` in chunks on a cluster; ``starting()`` is entered while a local
    cluster starts (pmap passes ``interrupts_blocked``, so its workers leave Ctrl-C to it)."""
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise UsageError("--scheduler dask needs Dask: pip install 'polymask[dask]'") from None

    chunks = [items[i : i + chunksize] for i in range(0, len(items), chunksize)]
    cluster = client = None
    try:
        if scheduler == "dask":
            with starting():
                cluster = LocalCluster(
                    n_workers=max(workers, 1),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                )
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler)  # waits distributed.comm.timeouts.connect (30 s)
            except OSError as exc:
                raise UsageError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
        topic = f"polymask-start-{uuid.uuid4().hex}"  # one topic per run: a shared scheduler
        futures = client.map(_run_chunk, range(len(chunks)), chunks, fn=fn, topic=topic, pure=False)
        pending = as_completed(futures)
        waiting = _WorkerWatch(client)
        while not pending.is_empty():
            if not pending.has_ready():
                waiting.check()
                time.sleep(POLL_S)
                continue
            for future in pending.next_batch(block=False):
                yield from future.result()
                future.release()
            waiting.reset()
        if report is not None:
            starts = Counter(msg["chunk"] for _, msg in client.get_events(topic))
            for index, n in sorted(starts.items()):
                if n > 1:
                    names = ", ".join(str(getattr(i, "path", i)) for i in chunks[index])
                    report.retried.append(f"chunk {index} ran {n} times: {names}")
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
