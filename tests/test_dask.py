"""Running on a Dask cluster gives the same files as a local run, even when a worker dies."""

from __future__ import annotations

import json
import os
import signal
import time
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

distributed = pytest.importorskip("distributed", reason="the dask extra is not installed")

from polymask.cli.main import cli  # noqa: E402
from polymask.dataset import Item  # noqa: E402
from polymask.formats import find_inputs  # noqa: E402
from polymask.labels import LabelMap  # noqa: E402
from polymask.rasterize import RasterizeOptions, rasterize_item  # noqa: E402
from polymask.runtime.parallel import RunReport, pmap  # noqa: E402
from tests.helpers import labelme_shape, write_labelme  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
    ) as c:
        yield c


@pytest.fixture()
def dataset(tmp_path):
    for i in range(24):
        x = 2 + i % 20
        write_labelme(
            tmp_path / "data" / f"sub{i % 3}" / f"f{i:02}.json",
            [
                labelme_shape("car", [(x, 2), (x + 9, 3), (x + 5, 20)]),
                labelme_shape("road", [(0, 22), (39, 22), (39, 29), (0, 29)], group=i),
            ],
        )
    return tmp_path / "data"


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_rasterize_on_a_running_cluster_equals_local(dataset, tmp_path, cluster):
    runner = CliRunner()
    local = runner.invoke(
        cli,
        [
            "rasterize",
            str(dataset),
            "-o",
            str(tmp_path / "local"),
            "--instances",
            str(tmp_path / "li"),
            "--scheduler",
            "serial",
        ],
    )
    remote = runner.invoke(
        cli,
        [
            "rasterize",
            str(dataset),
            "-o",
            str(tmp_path / "remote"),
            "--instances",
            str(tmp_path / "ri"),
            "--scheduler",
            cluster.scheduler_address,
        ],
    )
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert tree(tmp_path / "local") == tree(tmp_path / "remote")
    assert tree(tmp_path / "li") == tree(tmp_path / "ri")
    assert len(tree(tmp_path / "remote")) == 25  # 24 masks and labels.txt


def test_validate_on_a_local_dask_cluster(dataset):
    (dataset / "bad.json").write_text("{")
    r = CliRunner().invoke(cli, ["validate", str(dataset), "--scheduler", "dask", "-j", "2"])
    assert r.exit_code == 1 and "bad.json:1:2: invalid JSON" in r.stdout


def test_unreachable_scheduler_is_a_usage_error(dataset):
    import dask

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        r = CliRunner().invoke(cli, ["validate", str(dataset), "--scheduler", "tcp://127.0.0.1:9"])
    assert r.exit_code == 2 and "cannot reach the Dask scheduler" in r.output


def rasterize_or_die(item, options, token: str):
    """The first task to claim ``token`` kills its own worker in the middle of its chunk."""
    try:
        os.rename(token, token + ".claimed")  # atomic: exactly one task wins
    except FileNotFoundError:
        return rasterize_item(Item(item.key, item, "labelme"), options)
    time.sleep(0.5)  # long enough for the worker to tell the scheduler the chunk started
    os.kill(os.getpid(), signal.SIGKILL)


def test_worker_killed_mid_run_still_gives_the_complete_identical_result(dataset, tmp_path):
    files = find_inputs([dataset])
    label_map = LabelMap.from_names(["_background_", "car", "road"])
    token = tmp_path / "kill-token"
    token.write_text("")

    def run(out, scheduler, report=None):
        opts = RasterizeOptions(out_dir=out, label_map=label_map)
        work = partial(rasterize_or_die, options=opts, token=str(token))
        return list(pmap(work, files, 2, chunksize=2, scheduler=scheduler, report=report))

    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
    ) as cluster:
        report = RunReport()
        outcomes = run(tmp_path / "dask", cluster.scheduler_address, report)
    assert (tmp_path / "kill-token.claimed").exists()  # a worker did die mid-chunk
    assert sorted(o.source for o in outcomes) == sorted(str(f.path) for f in files)
    assert len(report.retried) == 1 and "ran 2 times" in report.retried[0]
    run(tmp_path / "serial", "serial")
    assert tree(tmp_path / "dask") == tree(tmp_path / "serial")


def test_stats_on_a_running_cluster_equals_local(dataset, tmp_path, cluster):
    runner = CliRunner()
    local = runner.invoke(cli, ["stats", str(dataset), "--json", "-", "--scheduler", "serial"])
    remote = runner.invoke(
        cli, ["stats", str(dataset), "--json", "-", "--scheduler", cluster.scheduler_address]
    )
    assert local.exit_code == remote.exit_code == 0, remote.output
    assert local.stdout == remote.stdout and '"images": 24' in local.stdout


def test_score_on_a_running_cluster_equals_local(tmp_path, cluster):
    """On a cluster the workers count; the client receives only per-image counts."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(3)
    for i in range(10):
        gt = rng.integers(0, 4, (24, 32), dtype=np.uint8)
        gt[:3] = 255
        pred = np.where(rng.random((24, 32)) < 0.8, gt % 255, rng.integers(0, 4, (24, 32)))
        for folder, arr in (("gt", gt), ("pred", pred.astype(np.uint8))):
            (tmp_path / folder).mkdir(exist_ok=True)
            Image.fromarray(arr).save(tmp_path / folder / f"m{i}.png")
    runner = CliRunner()
    args = [
        "score",
        str(tmp_path / "pred"),
        str(tmp_path / "gt"),
        "--output-format",
        "json",
        "--boundary",
        "2",
    ]
    local = runner.invoke(cli, [*args, "--scheduler", "serial"])
    remote = runner.invoke(cli, [*args, "--scheduler", cluster.scheduler_address])
    assert local.exit_code == remote.exit_code == 0, remote.output
    here, there = json.loads(local.stdout), json.loads(remote.stdout)
    assert len(here["images"]) == 10 and here["classes"]
    assert here == there
