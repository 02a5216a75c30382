"""fsspec URLs as inputs and outputs: a memory:// round trip equals the local run."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

fsspec = pytest.importorskip("fsspec", reason="the dask extra (fsspec) is not installed")
pytest.importorskip("upath", reason="the dask extra (universal-pathlib) is not installed")

from polymask.cli.main import cli  # noqa: E402
from polymask.io.storage import as_path, atomic_write, remove_stale_temp  # noqa: E402
from tests.helpers import labelme_doc, labelme_shape  # noqa: E402

SQUARE = [(1, 1), (8, 1), (8, 8), (1, 8)]


@pytest.fixture()
def memory():
    fs = fsspec.filesystem("memory")
    fs.rm("/polymask-test", recursive=True) if fs.exists("/polymask-test") else None
    yield "memory://polymask-test"
    if fs.exists("/polymask-test"):
        fs.rm("/polymask-test", recursive=True)


def test_memory_round_trip_equals_local(tmp_path, memory):
    docs = {
        "a.json": labelme_doc([labelme_shape("car", SQUARE)]),
        "sub/b.json": labelme_doc(
            [
                labelme_shape("road", [(0, 20), (39, 20), (39, 29)]),
                labelme_shape("car", SQUARE, group=3),
            ]
        ),
    }
    for name, doc in docs.items():  # the same bytes: fingerprints hash the annotation bytes
        for path in (as_path(f"{memory}/data/{name}"), tmp_path / "data" / name):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(doc))
    runner = CliRunner()
    common = ["--scheduler", "serial", "--instances"]
    local = runner.invoke(
        cli,
        [
            "rasterize",
            str(tmp_path / "data"),
            "-o",
            str(tmp_path / "out"),
            *common,
            str(tmp_path / "inst"),
        ],
    )
    remote = runner.invoke(
        cli, ["rasterize", f"{memory}/data", "-o", f"{memory}/out", *common, f"{memory}/inst"]
    )
    assert local.exit_code == remote.exit_code == 0, remote.output
    for name in ("out/a.png", "out/sub/b.png", "out/labels.txt", "inst/sub/b.png"):
        assert as_path(f"{memory}/{name}").read_bytes() == (tmp_path / name).read_bytes(), name
    again = runner.invoke(
        cli, ["rasterize", f"{memory}/data", "-o", f"{memory}/out", "--scheduler", "serial"]
    )
    assert "2 skipped" in again.stderr  # fingerprints read back from the store
    check = runner.invoke(
        cli,
        ["rasterize", f"{memory}/data", "-o", f"{memory}/out", "--check", "--scheduler", "threads"],
    )
    assert check.exit_code == 0, check.output
    stats = [
        runner.invoke(cli, ["stats", src, "--json", "-", "--scheduler", "serial"]).stdout
        for src in (str(tmp_path / "out"), f"{memory}/out")
    ]
    assert stats[0] == stats[1] and '"images": 2' in stats[0]
    scored = runner.invoke(
        cli,
        [
            "score",
            f"{memory}/out",
            f"{memory}/out",
            "--scheduler",
            "serial",
            "--output-format",
            "json",
            "--fail-under",
            "1",
        ],
    )
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["summary"]["global"]["dice"] == 1.0
    v = runner.invoke(cli, ["validate", f"{memory}/data", "--scheduler", "threads"])
    assert v.exit_code == 0 and "2 files checked" in v.stderr


def test_atomic_write_to_a_store_leaves_only_the_final_object(memory):
    atomic_write(f"{memory}/x/m.png", b"data")
    names = [p.name for p in as_path(f"{memory}/x").iterdir()]
    assert names == ["m.png"] and as_path(f"{memory}/x/m.png").read_bytes() == b"data"
    as_path(f"{memory}/x/.m.png.polymask-tmp-dead").write_bytes(b"half")
    assert remove_stale_temp(f"{memory}/x") == 1


def test_url_without_the_extra_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_upath(name, *args, **kwargs):
        if name == "upath":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_upath)
    r = CliRunner().invoke(cli, ["validate", "memory://nothing/here"])
    assert r.exit_code == 2 and "polymask[dask]" in r.output
