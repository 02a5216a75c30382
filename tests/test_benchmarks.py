"""The benchmark entry points on a tiny set: they run, and what they generate is what they say.
A smoke test only: nothing here asserts a timing."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from benchmarks import generate, rasterize
from polymask.io.masks import read_mask
from polymask.labels import LabelMap


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    generate.generate(root, 3, seed=7, coco=True, predictions=True)
    return root


def test_generated_set_matches_its_description(generated):
    docs = [json.loads(p.read_text()) for p in sorted((generated / "labelme").glob("*.json"))]
    assert len(docs) == 3
    for doc in docs:
        assert (doc["imageWidth"], doc["imageHeight"]) == (1024, 768)
        assert 20 <= len(doc["shapes"]) <= 40
        assert all(5 <= len(s["points"]) <= 200 for s in doc["shapes"])
    coco = json.loads((generated / "coco.json").read_text())
    flat = [[v for p in s["points"] for v in p] for d in docs for s in d["shapes"]]
    assert [a["segmentation"][0] for a in coco["annotations"]] == flat
    from click.testing import CliRunner

    from polymask.cli.main import cli

    checked = CliRunner().invoke(cli, ["validate", str(generated / "coco.json")])
    assert checked.exit_code == 0 and "warning" not in checked.output  # bbox, area consistent
    assert {c["name"] for c in coco["categories"]} <= set(
        LabelMap.from_file(generated / "labels.txt").ids
    )


def test_predictions_are_class_masks_and_leave_the_annotations_alone(generated, tmp_path):
    label_map = LabelMap.from_file(generated / "labels.txt")
    for doc in sorted((generated / "labelme").glob("*.json")):
        pred = read_mask(generated / "predictions" / f"{doc.stem}.png")
        assert pred.shape == (768, 1024) and pred.dtype == np.uint8
        assert set(np.unique(pred)) <= {0, *label_map.ids.values()}
        assert np.count_nonzero(pred) > 0
    generate.generate(tmp_path, 3, seed=7)  # same seed, no predictions: same annotations
    for doc in sorted((generated / "labelme").glob("*.json")):
        assert (tmp_path / "labelme" / doc.name).read_bytes() == doc.read_bytes()


def test_rasterize_benchmark_runs_and_reports(generated, monkeypatch, capsys):
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "rasterize",
            "--images",
            "3",
            "--repeat",
            "1",
            "--throughput-images",
            "3",
            "--rss",
            "2,3",
            "--data",
            str(generated),
        ],
    )
    rasterize.main()
    out = capsys.readouterr().out
    assert "masks identical to the LabelMe-style peer's: 3/3" in out
    for row in (
        "| polymask (labelme) |",
        "| polymask (center) |",
        "| LabelMe-style |",
        "| polymask, rerun on unchanged files |",
    ):
        assert row in out
    try:
        import pycocotools  # noqa: F401  (the COCO peer runs where it is installed)
    except ImportError:
        return
    assert "| pycocotools |" in out
    assert "2 workers" in out and "3 images" in out and "MiB" in out


def test_score_benchmark_runs_and_agrees_with_its_reference(monkeypatch, capsys):
    from benchmarks import score

    monkeypatch.setattr(sys, "argv", ["score", "--images", "2", "--repeat", "1"])
    score.main()  # asserts that polymask and the nnU-Net-style loop count the same TP
    out = capsys.readouterr().out
    assert "polymask score:" in out and "nnU-Net-style loop:" in out


def test_coco_scale_benchmark_runs_and_agrees_with_pycocotools(tmp_path, monkeypatch, capsys):
    pytest.importorskip("pycocotools", reason="the COCO benchmark's peer and generator need it")
    from benchmarks import coco_scale

    argv = ["coco_scale", "--sizes", "30", "--repeat", "1", "--peer-images", "12"]
    monkeypatch.setattr(sys, "argv", [*argv, "--data", str(tmp_path), "--out", str(tmp_path)])
    coco_scale.main()  # exits 1 when polymask fails or a mask differs from the peer's
    out = capsys.readouterr().out
    assert "30 images of 640x480" in out and "| tool | workers | images |" in out
    assert "| polymask rasterize | 1 | 30 |" in out and "| polymask rasterize | 2 | 30 |" in out
    assert "| pycocotools loop | 1 | 12 |" in out
    assert "masks equal to the pycocotools loop's: 12/12" in out and "0 warning line(s)" in out
    doc = json.loads((tmp_path / "coco-30-seed0.json").read_text())
    assert len(doc["images"]) == 30 and 4 * 30 <= len(doc["annotations"]) <= 12 * 30
    assert len({c["id"] for c in doc["categories"]}) == 20 and max(coco_scale.CATEGORIES) == 90


def test_score_e2e_benchmark_runs_and_agrees_with_its_peers(tmp_path, monkeypatch, capsys):
    from benchmarks import score_e2e

    argv = ["score_e2e", "--sizes", "2", "--repeat", "1", "--data", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    score_e2e.main()  # exits when a peer's counts or Dice differ from polymask's
    out = capsys.readouterr().out
    assert "| pairs | polymask (s) | polymask -j1 (s) | nnU-Net loop (s) | MONAI (s) |" in out
    assert "\n| 2 | " in out and "equal the nnU-Net loop's" in out
    assert "start-up: python -c pass" in out and "load average" in out
    data = tmp_path / "score-2-seed0"
    assert len(list((data / "gt").glob("*.png"))) == len(list((data / "pred").glob("*.png"))) == 2
    try:
        import monai  # noqa: F401  (the MONAI loop runs where it is installed)
    except ImportError:
        assert "MONAI: not installed" in out
    else:
        assert "give MONAI's per-class Dice" in out and "not installed" not in out


def test_score_e2e_checks_find_a_peer_that_disagrees():
    """Class 1 in three images: Dice 4/5, 2/3, and 0 where only the prediction has it. nnU-Net
    and polymask average the three; MONAI leaves out the image without the class in its
    ground truth."""
    from benchmarks.score_e2e import Ours, monai_disagreements, nnunet_disagreements

    mean3, mean2 = (0.8 + 2 / 3 + 0) / 3, (0.8 + 2 / 3) / 2
    report = {
        "images_scored": 3,
        "classes": [
            {"id": 1, "tp": 3, "fp": 6, "fn": 1, "metrics": {"mean-per-image": {"dice": mean3}}}
        ],
    }
    ours = Ours(report, {1: [(2, 1, 0), (1, 0, 1), (0, 5, 0)]})
    nnunet = {"labels": [1], "dice": [mean3], "tp": [3], "fp": [6], "fn": [1]}
    assert nnunet_disagreements(ours, nnunet) == []
    assert nnunet_disagreements(ours, {**nnunet, "fp": [5]}) == ["class 1: fp 6 (polymask) != 5"]
    assert len(nnunet_disagreements(ours, {**nnunet, "dice": [mean2]})) == 1
    assert monai_disagreements(ours, {"labels": [1], "dice": [mean2]}) == []
    assert len(monai_disagreements(ours, {"labels": [1], "dice": [mean3]})) == 1
