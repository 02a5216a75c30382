"""Runs into one output folder at the same time never hurt each other (issue 13).

Each run sweeps the temporaries that dead runs left; a temporary names its owner (host and
pid), so the sweep leaves a live run's files alone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from polymask.io import storage
from polymask.io.storage import STALE_AFTER_S, TEMP_MARK, atomic_write, remove_stale_temp
from tests.helpers import labelme_shape, write_labelme

HOST = socket.gethostname()


def dataset(folder: Path, files: int = 36) -> Path:
    """LabelMe files of 640x480 with a dozen polygons each: a write takes a moment."""
    rng = np.random.default_rng(13)
    for i in range(files):
        shapes = []
        for _ in range(12):
            cx, cy = rng.uniform(0, 640), rng.uniform(0, 480)
            t = np.linspace(0, 2 * np.pi, 24, endpoint=False)
            r = rng.uniform(20, 150)
            points = np.column_stack([cx + r * np.cos(t), cy + 0.7 * r * np.sin(t)]).round(1)
            shapes.append(labelme_shape(f"c{int(rng.integers(1, 6))}", points.tolist()))
        write_labelme(folder / f"img_{i:03}.json", shapes, width=640, height=480)
    return folder


def command(inputs: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "polymask", "rasterize", str(inputs), "-o", str(out), "-j", "1"]


def files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")}


def test_four_runs_into_one_folder_all_finish_with_the_same_outputs(tmp_path):
    inputs = dataset(tmp_path / "in")
    clean = subprocess.run(command(inputs, tmp_path / "clean"), capture_output=True, timeout=300)
    assert clean.returncode == 0, clean.stderr
    expected = files(tmp_path / "clean")
    assert len(expected) == 37  # 36 masks and labels.txt
    for round_ in range(3):
        out = tmp_path / f"out{round_}"
        out.mkdir()
        # a temporary of a live run (this process) in the folder: no start-up sweep may take it
        busy = leftover(out, f"{HOST}-{os.getpid()}")
        runs = []
        for _ in range(4):
            runs.append(subprocess.Popen(command(inputs, out), stderr=subprocess.PIPE))
            time.sleep(0.2)  # later runs sweep while earlier ones write
        results = [(p.wait(timeout=300), p.stderr.read().decode()) for p in runs]
        for p in runs:
            p.stderr.close()
        assert [code for code, _ in results] == [0] * 4, results
        assert busy.exists()
        busy.unlink()
        assert files(out) == expected  # byte-identical, and no temporary left


def leftover(folder: Path, owner: str, age_s: float = 0) -> Path:
    path = folder / f".m.png{TEMP_MARK}{owner}-0123456789abcdef"
    path.write_bytes(b"half")
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_sweep_removes_only_temporaries_whose_owner_is_gone(tmp_path):
    live = leftover(tmp_path, f"{HOST}-{os.getpid()}")
    dead = leftover(tmp_path, f"{HOST}-{dead_pid()}")
    other_host = leftover(tmp_path, f"other-host.example-{os.getpid()}")
    old_other_host = leftover(tmp_path, "other-host.example-1", age_s=STALE_AFTER_S + 60)
    ownerless = tmp_path / f".n.png{TEMP_MARK}0123abcd"  # from a version without owners
    ownerless.write_bytes(b"half")
    assert remove_stale_temp(tmp_path) == 3
    assert live.exists() and other_host.exists()
    assert not dead.exists() and not old_other_host.exists() and not ownerless.exists()


def test_temporaries_carry_their_owner(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(storage.os, "replace", lambda a, b: seen.append(a) or real_replace(a, b))
    atomic_write(tmp_path / "m.png", b"data")
    (temporary,) = seen
    assert Path(temporary).name.startswith(f".m.png{TEMP_MARK}{HOST}-{os.getpid()}-")


def test_an_interrupt_right_after_the_temporary_is_created_leaves_nothing(tmp_path, monkeypatch):
    real_open = os.open

    def open_then_interrupted(*args, **kwargs):
        os.close(real_open(*args, **kwargs))
        raise KeyboardInterrupt  # Ctrl-C landing as os.open returns

    monkeypatch.setattr(storage.os, "open", open_then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "m.png", b"data")
    assert list(tmp_path.iterdir()) == []


def test_on_a_store_without_file_times_only_dead_owners_are_swept():
    pytest.importorskip("upath")
    from polymask.io.storage import as_path

    folder = as_path("memory://concurrent-runs/out")
    live = folder / f".m.png{TEMP_MARK}{HOST}-{os.getpid()}-0123456789abcdef"
    other_host = folder / f".n.png{TEMP_MARK}other-host-1-0123456789abcdef"
    dead = folder / f".o.png{TEMP_MARK}{HOST}-{dead_pid()}-0123456789abcdef"
    for path in (live, other_host, dead):
        path.write_bytes(b"half")
    assert remove_stale_temp(folder) == 1
    assert live.exists() and other_host.exists() and not dead.exists()
    for path in (live, other_host):  # the memory store outlives the test
        path.unlink()
