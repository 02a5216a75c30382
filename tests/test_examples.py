"""The bundled examples are what the README says: valid, varied, and rasterizable."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.io.masks import read_mask
from tests.conftest import REPO

EXAMPLES = REPO / "examples" / "labelme"


def test_examples_cover_what_the_readme_promises():
    docs = [json.loads(p.read_text()) for p in sorted(EXAMPLES.rglob("*.json"))]
    assert 4 <= len(docs) <= 8
    shapes = [s for d in docs for s in d["shapes"]]
    assert {s["shape_type"] for s in shapes} >= {"polygon", "rectangle", "circle"}
    assert any(s["label"] == "_background_" for s in shapes)  # a hole cut into a building
    assert any(s["label"] == "__ignore__" for s in shapes)
    assert any(s["group_id"] is not None for s in shapes)


def test_examples_validate_and_rasterize(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["validate", str(EXAMPLES)]).exit_code == 0
    out = tmp_path / "masks"
    r = runner.invoke(
        cli, ["rasterize", str(EXAMPLES), "-o", str(out), "--labels", str(EXAMPLES / "labels.txt")]
    )
    assert r.exit_code == 0, r.output
    masks = {p.relative_to(out).as_posix(): read_mask(p) for p in sorted(out.rglob("*.png"))}
    predictions = REPO / "examples" / "predictions"
    for key, mask in masks.items():
        assert read_mask(predictions / key).shape == mask.shape
    present = set(np.unique(np.concatenate([m.ravel() for m in masks.values()])).tolist())
    assert present == {0, 1, 2, 3, 4, 5, 6, 7, 255}


def test_coco_example_is_current_and_its_gate_catches_the_regression(tmp_path):
    """examples/coco is what make_coco_example.py writes from the LabelMe scenes, and the demo's
    regression gate fails on cars (and only where the candidate shrank them)."""
    import runpy
    import shutil

    coco = REPO / "examples" / "coco"
    copy = tmp_path / "examples"
    shutil.copytree(REPO / "examples" / "labelme", copy / "labelme")
    shutil.copy(REPO / "examples" / "make_coco_example.py", copy)
    runpy.run_path(str(copy / "make_coco_example.py"), run_name="__main__")
    for name in ("instances.json", "results.json", "results_main.json"):
        assert (copy / "coco" / name).read_bytes() == (coco / name).read_bytes(), name
    report = tmp_path / "r.json"
    run = CliRunner().invoke(
        cli,
        [
            "score",
            str(coco / "results.json"),
            str(coco / "instances.json"),
            "--baseline",
            str(coco / "results_main.json"),
            "--fail-on-regression",
            "0.02",
            "--json",
            str(report),
        ],
    )
    assert run.exit_code == 1, run.output
    failed = {g["name"] for g in json.loads(report.read_text())["gates"] if not g["passed"]}
    assert "regression of dice of car" in failed


def test_volume_example_scores_with_surface_distances(tmp_path):
    """examples/volumes: NIfTI cases the README and make demo score with --surface."""
    pytest.importorskip("nibabel")
    volumes = REPO / "examples" / "volumes"
    report = tmp_path / "r.json"
    run = CliRunner().invoke(
        cli,
        [
            "score",
            str(volumes / "pred"),
            str(volumes / "gt"),
            "--surface",
            "--tolerance",
            "2",
            "--fail-under",
            "0.6",
            "--json",
            str(report),
        ],
    )
    assert run.exit_code == 0, run.output
    classes = json.loads(report.read_text())["classes"]
    assert [c["name"] for c in classes] == ["_background_", "liver", "kidney", "spleen"]
    assert all(0 < c["surface"]["hd95"] < 10 for c in classes[1:])  # mm, a voxel or two off
