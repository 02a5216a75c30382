"""``score --pred-ignore``: a prediction holding the ignore index is an error naming the file
(the default), or its pixels are left out of scoring as the ground truth's are, on every path:
the CPU workers, the device path, drawn annotations, Boundary bands and surface distances.
Counted against a brute-force numpy reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.io.masks import write_png
from polymask.score.checks import without_predicted_ignore
from polymask.score.run import score_folders
from tests.helpers import write_labelme

IGNORE = 255
C = 4


def brute_counts(gt: np.ndarray, pred: np.ndarray, c: int = C) -> np.ndarray:
    """(3, C) TP, FP, FN over the pixels neither mask marks ignore, one pixel at a time."""
    out = np.zeros((3, c), np.int64)
    for g, p in zip(gt.ravel().tolist(), pred.ravel().tolist(), strict=True):
        if IGNORE in (g, p):
            continue
        if g == p:
            out[0, g] += 1
        else:
            out[1, p] += 1
            out[2, g] += 1
    return out


def random_pairs(root, n=6, seed=3):
    rng = np.random.default_rng(seed)
    pairs = {}
    for i in range(n):
        gt = rng.integers(0, C, (17, 23)).astype(np.uint8)
        gt[rng.random(gt.shape) < 0.1] = IGNORE
        pred = np.where(rng.random(gt.shape) < 0.6, gt, rng.integers(0, C, gt.shape))
        pred = pred.astype(np.uint8)
        pred[gt == IGNORE] = rng.integers(0, C)  # what a model predicts under GT ignore
        pred[rng.random(gt.shape) < 0.15] = IGNORE
        write_png(root / "gt" / f"{i}.png", gt)
        write_png(root / "pred" / f"{i}.png", pred)
        pairs[str(i)] = (gt, pred)
    (root / "gt" / "labels.txt").write_text("_background_\na\nb\nc\n__ignore__\n")
    return pairs


def test_a_predicted_ignore_value_is_an_error_naming_the_file_by_default(tmp_path):
    random_pairs(tmp_path, n=2)
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--output-format", "json"]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 2
    problems = {p["file"]: p["message"] for p in json.loads(run.stdout)["problems"]}
    message = problems[str(tmp_path / "pred" / "0.png")]
    assert message.startswith("value 255 outside the label map")
    assert message.endswith("; --pred-ignore exclude leaves such pixels out of scoring")


def test_without_a_label_map_the_error_says_so_too(tmp_path):
    write_png(tmp_path / "gt" / "a.png", np.array([[0, 1], [1, 255]], np.uint8))
    write_png(tmp_path / "pred" / "a.png", np.array([[255, 1], [1, 0]], np.uint8))
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--output-format", "json"]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 2
    assert "value 255 is the ignore index, not a class; --pred-ignore exclude" in run.output
    run = CliRunner().invoke(cli, [*args, "--pred-ignore", "exclude"])
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    # pixels left: (0,1) and (1,0), both class 1, right
    assert [c["tp"] for c in report["classes"]] == [0, 2]
    assert report["settings"]["pred_ignore"] == "exclude"


@pytest.mark.parametrize("engine", ["workers", "device"])
def test_excluded_pixels_count_nowhere(tmp_path, engine, monkeypatch):
    pairs = random_pairs(tmp_path)
    if engine == "device":
        pytest.importorskip("torch")
        from polymask.score import run

        monkeypatch.setattr(run, "_engine_device", lambda options: "cpu")  # CPU torch
    result = score_folders(tmp_path / "pred", tmp_path / "gt", pred_ignore="exclude", workers=2)
    assert not result.report.problems
    per = result.per_image
    for i, key in enumerate(per.keys):
        expected = brute_counts(*pairs[key])
        got = np.stack([per.tp[i], per.fp[i], per.fn[i]])
        np.testing.assert_array_equal(got, expected, err_msg=key)


def test_bands_and_surfaces_leave_the_pixels_out_as_ground_truth_ignore(tmp_path):
    """Boundary bands and surface distances of a pair with predicted ignore pixels are those of
    the same pair with the ground truth ignored there instead (the rule the bands and surfaces
    already have for ground-truth ignore, tested against their own references)."""
    gt = np.zeros((20, 20), np.uint8)
    gt[4:14, 4:14] = 1
    pred = np.zeros_like(gt)
    pred[5:15, 4:14] = 1
    pred[12:15, 4:8] = IGNORE  # part of the prediction's square unsure
    moved = gt.copy()
    moved[pred == IGNORE] = IGNORE
    cleared = np.where(pred == IGNORE, 0, pred).astype(np.uint8)
    for root, (g, p) in ((tmp_path / "a", (gt, pred)), (tmp_path / "b", (moved, cleared))):
        write_png(root / "gt" / "x.png", g)
        write_png(root / "pred" / "x.png", p)
    common = ["--boundary", "2", "--surface", "--output-format", "json", "--pred-ignore", "exclude"]
    reports = []
    for root in (tmp_path / "a", tmp_path / "b"):
        run = CliRunner().invoke(cli, ["score", str(root / "pred"), str(root / "gt"), *common])
        assert run.exit_code == 0, run.output
        reports.append(json.loads(run.stdout))
    a, b = reports
    assert a["classes"] == b["classes"]
    assert a["images"][0]["surface"] == b["images"][0]["surface"]
    assert a["classes"][1]["fp"] == 10 - 4  # row 14 of the prediction, less its ignored part


def test_annotations_against_annotations_with_ignore_regions(tmp_path):
    """Two annotators, each with an __ignore__ region: scored straight from the JSON with
    --pred-ignore exclude, equal to the brute force over what rasterize writes for each."""
    road = {"label": "road", "points": [[0, 10], [39, 10], [39, 29], [0, 29]]}
    car = {"label": "car", "points": [[5, 12], [15, 12], [15, 20], [5, 20]]}
    unsure = {"label": "__ignore__", "points": [[20, 0], [30, 0], [30, 12], [20, 12]]}
    write_labelme(tmp_path / "gt" / "x.json", [road, car, unsure])
    car2 = {"label": "car", "points": [[6, 12], [16, 12], [16, 21], [6, 21]]}
    unsure2 = {"label": "__ignore__", "points": [[0, 0], [12, 0], [12, 14], [0, 14]]}
    write_labelme(tmp_path / "pred" / "x.json", [road, car2, unsure2])
    labels = tmp_path / "labels.txt"
    labels.write_text("_background_\nroad\ncar\n")
    masks = {}
    for side in ("gt", "pred"):
        run = CliRunner().invoke(
            cli,
            [
                "rasterize",
                str(tmp_path / side),
                "-o",
                str(tmp_path / f"m{side}"),
                "--labels",
                str(labels),
            ],  # fmt: skip
        )
        assert run.exit_code == 0, run.output
        from polymask.io.masks import read_mask

        masks[side] = read_mask(tmp_path / f"m{side}" / "x.png")
    assert (masks["pred"] == IGNORE).any() and (masks["gt"] == IGNORE).any()
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--labels", str(labels)]
    run = CliRunner().invoke(cli, [*args, "--output-format", "json"])
    assert run.exit_code == 2 and "--pred-ignore exclude" in run.output
    run = CliRunner().invoke(cli, [*args, "--output-format", "json", "--pred-ignore", "exclude"])
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout)
    expected = brute_counts(masks["gt"], masks["pred"], 3)
    got = [[c[k] for c in report["classes"]] for k in ("tp", "fp", "fn")]
    assert got == expected.tolist()


def test_the_pair_is_untouched_where_the_prediction_marks_nothing():
    gt = np.array([[0, 1], [2, 255]], np.uint8)
    pred = np.array([[0, 1], [2, 3]], np.uint8)
    for same in (
        without_predicted_ignore(gt, pred, IGNORE),
        without_predicted_ignore(gt, pred, 1000),  # a value the prediction's type cannot hold
    ):
        assert same[0] is gt and same[1] is pred
    assert without_predicted_ignore(gt, None, IGNORE)[1] is None
    wide = np.array([[0, 1000]], np.uint16)
    g, p = without_predicted_ignore(np.array([[1, 1]], np.uint8), wide, 1000)
    assert g.tolist() == [[1, 1000]] and p.tolist() == [[0, 0]]
