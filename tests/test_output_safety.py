"""polymask replaces only files it wrote, and reports go where they are told (issue 13).

Every output option is tried against a folder that holds someone's own files under the names
outputs would take: the run stops with exit 2 naming the file, which stays byte for byte as it
was, and a second run over polymask's own outputs still works.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from polymask.cli.main import cli
from polymask.io.masks import read_fingerprint, write_png
from polymask.io.ownership import ERROR_MAP_MARK, OVERLAY_COMMENT
from polymask.labels import LabelMap
from polymask.score.report import ScoreReport
from tests.helpers import labelme_shape, write_labelme

CASES = Path(__file__).parent / "formats"
SQUARE = [(4, 4), (20, 4), (20, 20), (4, 20)]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def photo(path: Path, fmt: str) -> bytes:
    """A user's picture (40x30, the size of the annotations) saved as ``fmt``."""
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, fmt)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


@pytest.fixture
def data(tmp_path) -> Path:
    """Two LabelMe files, a.json and b.json, each beside its JPEG photo."""
    folder = tmp_path / "data"
    for key in ("a", "b"):
        write_labelme(
            folder / f"{key}.json", [labelme_shape("car", SQUARE)], image_path=f"{key}.jpg"
        )
        photo(folder / f"{key}.jpg", "JPEG")
    return folder


def rasterize(data: Path, *args):
    return run("rasterize", data, "-j", "1", *args)


# -o, --instances, --overlay


def test_masks_into_a_folder_of_png_photos_are_refused_before_any_write(data):
    before = photo(data / "a.png", "PNG")
    r = rasterize(data, "-o", data)
    assert r.exit_code == 2
    assert r.stderr.splitlines() == [
        f"polymask: error: {data / 'a.png'}: exists and was not written by polymask; "
        "refusing to replace it"
    ]
    assert (data / "a.png").read_bytes() == before
    assert not (data / "b.png").exists() and not (data / "labels.txt").exists()  # nothing ran


def test_a_foreign_file_under_a_mask_name_is_untouched_even_with_force(data, tmp_path):
    out = tmp_path / "out"
    before = photo(out / "b.png", "PNG")
    for extra in ((), ("--force",)):
        r = rasterize(data, "-o", out, *extra)
        assert r.exit_code == 2 and str(out / "b.png") in r.stderr
        assert (out / "b.png").read_bytes() == before
        assert not (out / "a.png").exists()


def test_masks_beside_their_annotations_and_a_second_run(data):
    assert rasterize(data, "-o", data).exit_code == 0
    first = (data / "a.png").read_bytes()
    assert read_fingerprint(data / "a.png").startswith("sha256:")
    again = rasterize(data, "-o", data)
    assert again.exit_code == 0 and "2 skipped" in again.stderr
    forced = rasterize(data, "-o", data, "--force")
    assert forced.exit_code == 0 and "2 written" in forced.stderr
    assert (data / "a.png").read_bytes() == first


def test_instances_refuse_a_foreign_file_and_rerun_over_their_own(data, tmp_path):
    out, inst = tmp_path / "out", tmp_path / "inst"
    before = photo(inst / "a.png", "PNG")
    r = rasterize(data, "-o", out, "--instances", inst)
    assert r.exit_code == 2 and str(inst / "a.png") in r.stderr
    assert (inst / "a.png").read_bytes() == before
    (inst / "a.png").unlink()
    assert rasterize(data, "-o", out, "--instances", inst).exit_code == 0
    assert rasterize(data, "-o", out, "--instances", inst, "--force").exit_code == 0
    mark = read_fingerprint(out / "a.png")
    assert mark.startswith("sha256:") and read_fingerprint(inst / "a.png") == mark


def test_instances_and_classes_in_one_folder_are_refused(data, tmp_path):
    r = rasterize(data, "-o", tmp_path / "out", "--instances", tmp_path / "out")
    assert r.exit_code == 2 and "--instances and -o/--output name one folder" in r.stderr
    assert not (tmp_path / "out").exists()


def test_overlays_never_replace_the_photos_they_are_drawn_from(data, tmp_path):
    before = {p.name: p.read_bytes() for p in data.glob("*.jpg")}
    r = rasterize(data, "-o", tmp_path / "out", "--overlay", data)
    assert r.exit_code == 2 and str(data / "a.jpg") in r.stderr
    assert {p.name: p.read_bytes() for p in data.glob("*.jpg")} == before  # not tinted


def test_overlays_are_marked_and_a_second_run_replaces_them(data, tmp_path):
    over = tmp_path / "over"
    assert rasterize(data, "-o", tmp_path / "out", "--overlay", over).exit_code == 0
    with Image.open(over / "a.jpg") as img:
        assert img.info["comment"] == OVERLAY_COMMENT
    first = (over / "a.jpg").read_bytes()
    r = rasterize(data, "-o", tmp_path / "out", "--overlay", over, "--force")
    assert r.exit_code == 0 and "2 written" in r.stderr
    assert (over / "a.jpg").read_bytes() == first


def test_a_multi_image_file_is_refused_before_any_write(tmp_path):
    """The dataset index names every image of a COCO file up front, so a photo where one of
    its masks would go stops the run before any mask is written."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(CASES / "coco" / "valid" / "polygons.json", data / "instances.json")
    out = tmp_path / "masks"
    before = photo(out / "train" / "a.png", "PNG")
    r = run("rasterize", data, "-o", out, "-j", "1")
    assert r.exit_code == 2
    assert f"{out / 'train' / 'a.png'}: exists and was not written by polymask" in r.stderr
    assert (out / "train" / "a.png").read_bytes() == before
    assert not (out / "train" / "b.png").exists()


# --errors


@pytest.fixture
def folders(tmp_path) -> Path:
    """GT and predictions for a and sub/b, GT written by rasterize (so with fingerprints)."""
    gt = np.zeros((6, 8), np.uint8)
    gt[0:2, :] = 1
    pred = gt.copy()
    pred[0, 0:4] = 0
    for key in ("a", "sub/b"):
        write_png(tmp_path / "gt" / f"{key}.png", gt, fingerprint="sha256:0")
        write_png(tmp_path / "pred" / f"{key}.png", pred, fingerprint="sha256:1")
    return tmp_path


def score(folders: Path, *args):
    return run("score", "-j", "1", "--device", "cpu", folders / "pred", folders / "gt", *args)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.png")}


@pytest.mark.parametrize("target", ["gt", "pred", "gt/sub"])
def test_error_maps_into_the_scored_folders_are_refused(folders, target):
    gt, pred = snapshot(folders / "gt"), snapshot(folders / "pred")
    r = score(folders, "--errors", folders / target)
    assert r.exit_code == 2 and f"--errors {folders / target}: inside the" in r.stderr
    assert snapshot(folders / "gt") == gt and snapshot(folders / "pred") == pred


def test_error_maps_refuse_a_foreign_png_before_scoring(folders):
    errors = folders / "errors"
    before = photo(errors / "sub" / "b.png", "PNG")
    r = score(folders, "--errors", errors, "--json", folders / "report.json")
    assert r.exit_code == 2
    assert f"{errors / 'sub' / 'b.png'}: exists and is not a polymask error map" in r.stderr
    assert (errors / "sub" / "b.png").read_bytes() == before
    assert not (errors / "a.png").exists() and not (folders / "report.json").exists()


def test_error_maps_are_marked_and_a_second_run_replaces_them(folders):
    errors = folders / "errors"
    assert score(folders, "--errors", errors).exit_code == 0
    assert read_fingerprint(errors / "sub" / "b.png") == ERROR_MAP_MARK
    first = snapshot(errors)
    assert score(folders, "--errors", errors).exit_code == 0
    assert snapshot(errors) == first and set(first) == {"a.png", "sub/b.png"}


# reports


def test_dash_is_stdout_for_score_reports_and_the_tables_go_to_stderr(folders, monkeypatch):
    monkeypatch.chdir(folders)
    for option in ("--json", "--csv", "--markdown"):
        r = score(folders, option, "-")
        assert r.exit_code == 0, r.output
        assert not (folders / "-").exists()
        assert "Per class" in r.stderr and "Per class" not in r.stdout
    r = score(folders, "--json", "-")
    assert ScoreReport.model_validate_json(r.stdout).images_scored == 2


@pytest.mark.parametrize(
    "args",
    [
        ["score", "P", "G", "--json", "-", "--csv", "-"],
        ["score", "P", "G", "--markdown", "-", "--output-format", "json"],
        ["stats", "G", "--json", "-", "--plot", "-"],
    ],
)
def test_only_one_report_may_go_to_stdout(folders, args):
    args = [str(folders / "pred") if a == "P" else str(folders / "gt") if a == "G" else a
            for a in args]  # fmt: skip
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2 and "stdout" in r.stderr


def test_stats_plot_to_stdout_is_the_png_and_no_table(folders):
    r = run("stats", folders / "gt", "-j", "1", "--plot", "-")
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(r.stdout_bytes)) as img:
        assert img.format == "PNG"


REPORTS = [
    ["stats", "G", "-j", "1", "--json", "T"],
    ["stats", "G", "-j", "1", "--csv", "T"],
    ["stats", "G", "-j", "1", "--markdown", "T"],
    ["stats", "G", "-j", "1", "--plot", "T"],
    ["score", "-j", "1", "--device", "cpu", "P", "G", "--json", "T"],
    ["score", "-j", "1", "--device", "cpu", "P", "G", "--csv", "T"],
    ["score", "-j", "1", "--device", "cpu", "P", "G", "--markdown", "T"],
]


def report_args(args, folders: Path, target) -> list[str]:
    places = {"P": folders / "pred", "G": folders / "gt", "T": target}
    return [str(places.get(a, a)) for a in args]


@pytest.mark.parametrize("args", REPORTS, ids=lambda a: f"{a[0]}{a[-2]}")
def test_a_report_to_dev_null_leaves_it_a_device(folders, args):
    r = CliRunner().invoke(cli, report_args(args, folders, "/dev/null"))
    assert r.exit_code == 0, r.output
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert not [p for p in Path("/dev").iterdir() if p.name.startswith(".null")]


@pytest.mark.parametrize("args", REPORTS, ids=lambda a: f"{a[0]}{a[-2]}")
def test_a_report_to_a_fifo_is_written_into_it(folders, args):
    fifo = folders / "fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    r = CliRunner().invoke(cli, report_args(args, folders, fifo))
    reader.join(timeout=30)
    assert r.exit_code == 0, r.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received and len(received[0]) > 20


def test_a_link_to_a_report_keeps_pointing_at_it(folders):
    real = folders / "reports" / "score.json"
    real.parent.mkdir()
    real.write_text("old")
    link = folders / "latest.json"
    link.symlink_to(real)
    assert score(folders, "--json", link).exit_code == 0
    assert link.is_symlink() and ScoreReport.model_validate_json(real.read_text())


def test_a_link_to_dev_stdout_writes_to_the_process_stdout(folders):
    link = folders / "out.json"
    link.symlink_to("/dev/stdout")
    cmd = [sys.executable, "-m", "polymask", "score", "-j", "1", "--device", "cpu"]
    cmd += [str(folders / "pred"), str(folders / "gt"), "--json", str(link)]
    done = subprocess.run(cmd, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert link.is_symlink() and os.readlink(link) == "/dev/stdout"
    assert b'"images_scored": 2' in done.stdout


# labels.txt


def test_a_different_labels_file_in_the_output_folder_is_never_replaced(tmp_path):
    """`-o` pointed at the source folder, which holds the user's own labels.txt: refused
    before any mask is written; the file is kept byte for byte."""
    data = tmp_path / "data"
    write_labelme(data / "a.json", [labelme_shape("car", SQUARE)])
    mine = "__ignore__\n_background_\nroad\ncar\n"
    (data / "labels.txt").write_text(mine)
    r = rasterize(data, "-o", data)
    assert r.exit_code == 2
    assert "labels.txt: holds another label map ('car' is 2 there, 1 now)" in r.stderr
    assert (data / "labels.txt").read_text() == mine and not (data / "a.png").exists()


def test_a_changed_map_needs_force_and_an_equal_one_is_left_alone(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    write_labelme(data / "a.json", [labelme_shape("car", SQUARE)])
    assert rasterize(data, "-o", out).exit_code == 0
    before = (out / "labels.txt").stat().st_mtime_ns
    assert rasterize(data, "-o", out).exit_code == 0
    assert (out / "labels.txt").stat().st_mtime_ns == before  # same map: not rewritten
    write_labelme(data / "b.json", [labelme_shape("bus", SQUARE)])  # bus sorts before car
    r = rasterize(data, "-o", out)
    assert r.exit_code == 2 and "no 'bus' there, 1 now" in r.stderr
    forced = rasterize(data, "-o", out, "--force")
    assert forced.exit_code == 0 and "2 written" in forced.stderr
    assert LabelMap.from_file(out / "labels.txt").ids == {"_background_": 0, "bus": 1, "car": 2}


@pytest.mark.parametrize("option", ["--json", "--csv", "--markdown", "--html", "--confusion"])
def test_score_reports_never_land_among_the_inputs(tmp_path, option):
    """A report aimed into the GT or PREDS folder (a heatmap named like a mask, a JSON file that
    the next run would read as an annotation), or at an input file itself, is refused before
    anything is written, and the input is left as it was."""
    gt, preds = tmp_path / "gt", tmp_path / "preds"
    for folder in (gt, preds):
        write_png(folder / "a.png", np.ones((4, 4), np.uint8))
        write_png(folder / "b.png", np.ones((4, 4), np.uint8))
    before = (gt / "b.png").read_bytes()
    link = tmp_path / "link.png"
    link.symlink_to(gt / "b.png")
    for target in (gt / "b.png", preds / "new.json", link):
        run = CliRunner().invoke(cli, ["score", str(preds), str(gt), option, str(target)])
        assert run.exit_code == 2, run.output
        assert "a report there would replace or mix with what is read" in run.output
    assert (gt / "b.png").read_bytes() == before
    assert not (preds / "new.json").exists()
    ok = tmp_path / "out" / "report"
    ok.parent.mkdir()
    assert CliRunner().invoke(cli, ["score", str(preds), str(gt), option, str(ok)]).exit_code == 0


def test_stats_reports_never_land_among_the_inputs(tmp_path):
    masks = tmp_path / "masks"
    write_png(masks / "a.png", np.ones((4, 4), np.uint8))
    before = (masks / "a.png").read_bytes()
    run = CliRunner().invoke(cli, ["stats", str(masks), "--json", str(masks / "a.png")])
    assert run.exit_code == 2 and "inside the input" in run.output
    assert (masks / "a.png").read_bytes() == before
