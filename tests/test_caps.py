"""Local workers are capped at the cores, and a cluster without workers ends the run."""

from __future__ import annotations

import threading
from unittest.mock import patch

import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.runtime import parallel
from polymask.runtime.parallel import default_workers, pmap
from tests.helpers import write_labelme

SQUARE = [[2, 2], [20, 2], [20, 20], [2, 20]]


def double(x: int) -> int:
    return 2 * x


@pytest.fixture()
def dataset(tmp_path):
    for i in range(4):
        write_labelme(tmp_path / "data" / f"f{i}.json", [{"label": "road", "points": SQUARE}])
    return tmp_path / "data"


def test_a_process_pool_gets_at_most_one_worker_per_core(capsys):
    started = []
    real = parallel._new_pool

    def record(workers, preload):
        started.append(workers)
        assert workers <= default_workers()  # else stop here, before starting them all
        return real(workers, preload)

    with patch.object(parallel, "_new_pool", record):
        assert sorted(pmap(double, range(2000), workers=997, chunksize=50)) == [
            2 * i for i in range(2000)
        ]
    cores = default_workers()
    assert started in ([cores], [])  # [] with one core: no pool at all
    assert f"997 workers asked, {cores} cores here: using {cores}" in capsys.readouterr().err


class _Started(Exception):
    """What the fake cluster raises once it has seen its size: nothing need really start."""


def test_a_local_dask_cluster_gets_at_most_one_worker_per_core(dataset):
    distributed = pytest.importorskip("distributed")
    asked = []

    def fake_cluster(n_workers, **kwargs):
        asked.append(n_workers)
        raise _Started

    with patch.object(distributed, "LocalCluster", fake_cluster):
        r = CliRunner().invoke(cli, ["validate", str(dataset), "--scheduler", "dask", "-j", "1000"])
    assert asked == [default_workers()]
    assert f"1000 workers asked, {default_workers()} cores here" in r.output


def test_a_cluster_without_workers_ends_the_run(dataset, monkeypatch):
    distributed = pytest.importorskip("distributed")
    from polymask.runtime import dask_cluster

    monkeypatch.setattr(dask_cluster, "NO_WORKERS_WAIT_S", 1.0)
    with distributed.LocalCluster(
        n_workers=0, processes=False, dashboard_address=":0", silence_logs=50
    ) as empty:
        args = ["validate", str(dataset), "--scheduler", empty.scheduler_address]
        results = []
        # in a thread: a run that waits for ever must fail this test, not hang it
        run = threading.Thread(target=lambda: results.append(CliRunner().invoke(cli, args)))
        run.daemon = True
        run.start()
        run.join(30)
    assert results, "still waiting for workers after 30 s"
    assert results[0].exit_code == 2, results[0].output
    assert "no workers" in results[0].output
