"""``polymask rasterize`` end to end: outputs, incremental runs, --check, bad inputs, kills."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from polymask.cli.main import cli
from polymask.io.masks import read_mask
from tests.helpers import labelme_shape, write_labelme

SQUARE = [(1, 1), (8, 1), (8, 8), (1, 8)]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture()
def dataset(tmp_path):
    data = tmp_path / "data"
    write_labelme(
        data / "a.json",
        [
            labelme_shape("car", SQUARE),
            labelme_shape("road", [(0, 20), (39, 20), (39, 29), (0, 29)]),
        ],
    )
    write_labelme(
        data / "night" / "b.json",
        [
            labelme_shape("bus", SQUARE, group=1),
            labelme_shape("bus", [(20, 1), (30, 5)], "rectangle", group=1),
        ],
    )
    return data


def test_writes_masks_mirroring_folders_and_labels(dataset, tmp_path):
    out = tmp_path / "out"
    r = run("rasterize", dataset, "-o", out, "-j", 1)
    assert r.exit_code == 0, r.output
    assert (out / "labels.txt").read_text() == "__ignore__\n_background_\nbus\ncar\nroad\n"
    a = read_mask(out / "a.png")
    assert Image.open(out / "a.png").mode == "P"
    assert a.shape == (30, 40) and a[4, 4] == 2 and a[25, 5] == 3 and a[15, 15] == 0
    b = read_mask(out / "night" / "b.png")
    assert b[4, 4] == 1 and b[3, 25] == 1


def test_labels_file_and_unknown_labels(dataset, tmp_path):
    labels = tmp_path / "labels.txt"
    labels.write_text("__ignore__\n_background_\ncar\nroad\n")
    r = run("rasterize", dataset, "-o", tmp_path / "out", "--labels", labels, "-j", 1)
    assert r.exit_code == 1
    assert "b.json: shapes[0]: label 'bus' is not in the label map" in r.stdout
    assert (tmp_path / "out" / "a.png").exists()  # the good file is still written
    assert not (tmp_path / "out" / "night" / "b.png").exists()
    r = run("rasterize", dataset, "-o", tmp_path / "v", "--labels", labels, "--unknown", "void")
    assert r.exit_code == 0 and read_mask(tmp_path / "v" / "night" / "b.png")[4, 4] == 255


def test_instances_and_overlays(dataset, tmp_path):
    Image.new("RGB", (40, 30), "white").save(dataset / "img.jpg")
    r = run(
        "rasterize",
        dataset,
        "-o",
        tmp_path / "m",
        "--instances",
        tmp_path / "i",
        "--overlay",
        tmp_path / "o",
        "-j",
        1,
    )
    assert r.exit_code == 0, r.output
    inst = np.asarray(Image.open(tmp_path / "i" / "night" / "b.png"))
    assert Image.open(tmp_path / "i" / "night" / "b.png").mode == "I;16"
    assert inst[4, 4] == inst[3, 25] == 1  # same label and group: one instance
    overlay = np.asarray(Image.open(tmp_path / "o" / "a.jpg"))
    assert overlay.shape == (30, 40, 3)
    assert "note: night/b: no overlay" in r.stdout  # its image does not exist


def test_rerun_skips_up_to_date_and_redoes_changed(dataset, tmp_path):
    out = tmp_path / "out"
    assert run("rasterize", dataset, "-o", out).exit_code == 0
    before = (out / "a.png").stat().st_mtime_ns
    r = run("rasterize", dataset, "-o", out)
    assert "2 skipped" in r.stderr and (out / "a.png").stat().st_mtime_ns == before
    write_labelme(
        dataset / "a.json",
        [labelme_shape("car", [(2, 2), (9, 2), (9, 9)]), labelme_shape("road", SQUARE)],
    )
    r = run("rasterize", dataset, "-o", out)
    assert "1 skipped" in r.stderr and "1 written" in r.stderr
    assert "2 written" in run("rasterize", dataset, "-o", out, "--force").stderr
    # other settings make other masks: the fingerprint notices
    assert "2 written" in run("rasterize", dataset, "-o", out, "--convention", "center").stderr


def test_same_inputs_give_byte_identical_files(dataset, tmp_path):
    run("rasterize", dataset, "-o", tmp_path / "x", "-j", 1)
    run("rasterize", dataset, "-o", tmp_path / "y", "-j", 2)
    for name in ("a.png", "night/b.png", "labels.txt"):
        assert (tmp_path / "x" / name).read_bytes() == (tmp_path / "y" / name).read_bytes()


def test_check_mode(dataset, tmp_path):
    out = tmp_path / "out"
    r = run("rasterize", dataset, "-o", out, "--check")
    assert r.exit_code == 1 and "missing: a:" in r.stdout and not out.exists()
    run("rasterize", dataset, "-o", out)
    assert run("rasterize", dataset, "-o", out, "--check").exit_code == 0
    mask = read_mask(out / "a.png").copy()
    mask[0, 0] = 3
    Image.fromarray(mask).save(out / "a.png")
    r = run("rasterize", dataset, "-o", out, "--check")
    assert r.exit_code == 1 and "differs: a:" in r.stdout and "1 pixels differ" in r.stdout
    (out / "night" / "b.png").unlink()
    r = run("rasterize", dataset, "-o", out, "--check")
    assert "missing: night/b" in r.stdout


def test_bad_files_reported_others_written(dataset, tmp_path):
    (dataset / "broken.json").write_text('{"shapes": [')
    write_labelme(dataset / "small.json", [labelme_shape("car", [(1, 1), (2, 2)])])
    r = run("rasterize", dataset, "-o", tmp_path / "out")
    assert r.exit_code == 1
    assert "broken.json:1:" in r.stdout and "invalid JSON" in r.stdout
    assert "small.json:" in r.stdout and "shapes[0].points" in r.stdout
    assert (tmp_path / "out" / "a.png").exists() and (tmp_path / "out" / "night" / "b.png").exists()


def test_interrupted_run_leaves_no_partial_mask_and_rerun_completes(tmp_path, monkeypatch):
    """Ctrl-C in the middle of writing: temp files are removed, finished masks are whole."""
    import polymask.io.masks as masks

    data = tmp_path / "data"
    for i in range(6):
        write_labelme(data / f"f{i}.json", [labelme_shape("car", SQUARE)])
    real = masks.encode_png
    calls = {"n": 0}

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(masks, "encode_png", flaky)
    out = tmp_path / "out"
    run("rasterize", data, "-o", out, "-j", 1)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["f0.png", "f1.png", "f2.png", "labels.txt"]  # nothing half-written
    monkeypatch.setattr(masks, "encode_png", real)
    r = run("rasterize", data, "-o", out, "-j", 1)
    assert "3 skipped" in r.stderr and "3 written" in r.stderr
    assert run("rasterize", data, "-o", out, "--check").exit_code == 0


def test_killed_process_then_rerun(tmp_path):
    """SIGKILL at an arbitrary moment: every PNG present decodes whole; a rerun finishes."""
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for i in range(120):
        pts = rng.uniform(0, 600, (40, 2)).tolist()
        write_labelme(data / f"f{i:03}.json", [labelme_shape("car", pts)], width=800, height=600)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "polymask", "rasterize", str(data), "-o", str(out), "-j", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 30
    while time.time() < deadline and len(list(out.glob("*.png"))) < 10:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    for png in out.glob("*.png"):
        assert read_mask(png).shape == (600, 800)  # no truncated file under a mask's name
    subprocess.run(cmd, check=True, capture_output=True)
    assert sorted(p.name for p in out.iterdir() if p.name != "labels.txt") == [
        f"f{i:03}.png" for i in range(120)
    ]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # temporaries swept
    check = subprocess.run(cmd + ["--check"], capture_output=True)
    assert check.returncode == 0, check.stdout


def test_check_uses_the_labels_written_next_to_the_masks(dataset, tmp_path):
    """--check without --labels reads the labels.txt that the writing run left in OUT."""
    out = tmp_path / "out"
    run("rasterize", dataset, "-o", out)
    write_labelme(dataset / "c.json", [labelme_shape("aardvark", SQUARE)])
    r = run("rasterize", dataset, "-o", out, "--check")
    assert r.exit_code == 1 and "'aardvark' is not in the label map" in r.stdout
