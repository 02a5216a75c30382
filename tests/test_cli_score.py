"""``polymask score`` exit codes, gates and report files."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.io.masks import write_png
from polymask.score.report import ScoreReport


@pytest.fixture
def folders(tmp_path):
    """Two images, classes road (1) and person (2): road perfect, person half found."""
    gt = np.zeros((6, 8), np.uint8)
    gt[0:2, :] = 1
    gt[3:5, 2:6] = 2
    pred = gt.copy()
    pred[3:5, 4:6] = 0
    for key in ("a", "sub/b"):
        write_png(tmp_path / "gt" / f"{key}.png", gt)
        write_png(tmp_path / "pred" / f"{key}.png", pred)
    (tmp_path / "gt" / "labels.txt").write_text("__ignore__\n_background_\nroad\nperson\n")
    return tmp_path


def _run(*args):
    return CliRunner().invoke(cli, ["score", "-j", "1", "--device", "cpu", *map(str, args)])


def test_passes_and_writes_reports(folders):
    out = folders / "out"
    r = _run(
        folders / "pred",
        folders / "gt",
        "--json",
        out / "r.json",
        "--csv",
        out / "r.csv",
        "--markdown",
        out / "r.md",
        "--fail-under",
        "0.8",
        "--boundary",
        "1",
    )
    assert r.exit_code == 0, r.output
    assert "road" in r.output and "person" in r.output
    text = (out / "r.json").read_text()
    report = ScoreReport.model_validate_json(text)
    person = report.classes[2]
    assert person.name == "person" and person.metrics.global_.dice == pytest.approx(2 / 3)
    assert report.summary.global_.dice == pytest.approx((1 + 2 / 3) / 2)
    assert report.gates[0].passed
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard token {c}"))
    rows = list(csv.DictReader((out / "r.csv").open()))
    assert len(rows) == 2 * 3
    assert {r["image"] for r in rows} == {"a", "sub/b"}
    assert float(next(r for r in rows if r["class"] == "person")["dice"]) == pytest.approx(2 / 3)
    assert "| person | 0.6667 |" in (out / "r.md").read_text()


def test_undefined_values_are_null_in_json(folders, tmp_path):
    r = _run(
        folders / "pred",
        folders / "gt",
        "--json",
        tmp_path / "r.json",
        "--include-background",
        "--labels",
        _labels(tmp_path, "road", "person", "sky"),
    )
    assert r.exit_code == 0, r.output
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["classes"][3]["name"] == "sky"
    assert doc["classes"][3]["metrics"]["global"]["dice"] is None
    assert doc["classes"][3]["metrics"]["mean-per-image"]["dice"] is None


def _labels(tmp_path, *names):
    path = tmp_path / "labels-extra.txt"
    path.write_text("\n".join(["_background_", *names]) + "\n")
    return path


def test_gate_on_mean_dice_fails_with_exit_1(folders):
    r = _run(folders / "pred", folders / "gt", "--fail-under", "0.9")
    assert r.exit_code == 1
    assert "gate failed: mean dice (global) is 0.8333, below 0.9" in r.output


def test_gate_per_class_names_the_class(folders):
    r = _run(folders / "pred", folders / "gt", "--fail-under-class", "road=0.9,person=0.7")
    assert r.exit_code == 1
    assert "gate failed: dice of person (global) is 0.6667, below 0.7" in r.output
    assert "dice of road" not in r.output.split("gate failed")[-1]
    ok = _run(folders / "pred", folders / "gt", "--fail-under-class", "road=0.9,person=0.6")
    assert ok.exit_code == 0


def test_missing_prediction_exits_2_naming_the_file(folders):
    (folders / "pred" / "sub" / "b.png").unlink()
    r = _run(folders / "pred", folders / "gt")
    assert r.exit_code == 2
    assert "b.png: no prediction for this ground truth" in r.output
    assert _run(folders / "pred", folders / "gt", "--missing", "skip").exit_code == 0
    assert (
        _run(folders / "pred", folders / "gt", "--missing", "zero", "--fail-under", "0.8").exit_code
        == 1
    )


def test_value_outside_label_map_exits_2(folders):
    bad = np.zeros((6, 8), np.uint8)
    bad[0, 0] = 9
    write_png(folders / "pred" / "a.png", bad)
    r = _run(folders / "pred", folders / "gt", "--fail-under", "0.1")
    assert r.exit_code == 2
    assert "a.png: value 9 outside the label map (classes 0..2)" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fail-under-class", "sky=0.5"], "unknown class 'sky'"),
        (["--boundary", "1.5"], "give a pixel width"),
        (["--device", "tpu"], "Expected argument `device`"),
        (["--fail-under", "2"], "not in the range"),
    ],
)
def test_usage_errors_exit_2(folders, args, message):
    r = _run(folders / "pred", folders / "gt", *args)
    assert r.exit_code == 2 and message in r.output


def test_error_maps_for_worst_images(folders, tmp_path):
    from PIL import Image

    r = _run(folders / "pred", folders / "gt", "--errors", tmp_path / "err", "--worst", "1")
    assert r.exit_code == 0
    (written,) = (tmp_path / "err").rglob("*.png")
    rgb = np.asarray(Image.open(written))
    assert rgb.shape == (6, 8, 3)
    assert tuple(rgb[0, 0]) != (0, 0, 0)  # road, right: coloured as TP
    assert tuple(rgb[3, 5]) != tuple(rgb[3, 2])  # person missed (FN) vs found (TP)
    assert tuple(rgb[5, 0]) == (0, 0, 0)  # background, right: left as is


def test_help_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys; from polymask.cli.main import cli; "
        "from click.testing import CliRunner; "
        "CliRunner().invoke(cli, ['score', '--help']); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_error_maps_are_drawn_over_the_image(folders, tmp_path):
    from PIL import Image

    (tmp_path / "img" / "sub").mkdir(parents=True)
    photo = np.full((6, 8, 3), 200, np.uint8)
    Image.fromarray(photo).save(tmp_path / "img" / "sub" / "b.jpg", quality=100)
    r = _run(
        folders / "pred", folders / "gt", "--errors", tmp_path / "err", "--images", tmp_path / "img"
    )
    assert r.exit_code == 0
    rgb = np.asarray(Image.open(tmp_path / "err" / "sub" / "b.png")).astype(int)
    assert abs(rgb[5, 0] - 200).max() <= 2  # correct background shows the image
    plain = np.asarray(Image.open(tmp_path / "err" / "a.png"))
    assert tuple(plain[5, 0]) == (0, 0, 0)  # no image found for a: black


def test_github_annotations_and_json_on_stdout(folders):
    (folders / "pred" / "a.png").write_bytes(b"broken")
    r = _run(folders / "pred", folders / "gt", "--output-format", "github", "--fail-under", "0.9")
    assert r.exit_code == 2
    lines = r.output.splitlines()
    assert any(line.startswith("::error file=") and "a.png" in line for line in lines)
    assert "::error title=polymask score::mean dice (global) 0.8333 >= 0.9: FAILED" in lines
    assert any(
        line.startswith("::notice title=polymask score::mean Dice over 1 images") for line in lines
    )
    write_png(folders / "pred" / "a.png", np.zeros((6, 8), np.uint8))
    r = CliRunner().invoke(
        cli,
        ["score", "-j", "1", str(folders / "pred"), str(folders / "gt"), "--output-format", "json"],
    )
    assert ScoreReport.model_validate_json(r.stdout).images_scored == 2
