"""Example files of COCO and Label Studio with their expected outcome (tests/formats/<format>/).

``expected.toml`` in each ``valid/`` and ``invalid/`` folder lists every file there. A valid
file validates (exit 0) with warnings at exactly the listed ``warnings`` paths and rasterizes
into the listed masks and classes; an invalid one exits 1 with problems at exactly ``paths``
(default: the one ``path``), the first of them on ``line`` with ``message`` in its text. Each
file is checked with its format told from its content, and again with ``--format`` forcing it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.io.masks import read_mask
from polymask.labels import LabelMap
from tests.helpers import class_names

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

CASES = Path(__file__).parent / "formats"
FORMATS = ("coco", "label-studio")


def _cases(kind: str) -> list:
    params = []
    for fmt in FORMATS:
        expected = CASES / fmt / kind / "expected.toml"
        for name, case in tomllib.loads(expected.read_text()).items():
            params.append(pytest.param(fmt, expected.parent / name, case, id=f"{fmt}/{name}"))
    return params


def test_every_example_file_has_an_expectation():
    listed = {p.values[1] for kind in ("valid", "invalid") for p in _cases(kind)}
    found = {p for fmt in FORMATS for p in (CASES / fmt).glob("*/*.json")}
    assert found and found == listed


def _validate(path: Path, fmt: str, forced: bool) -> tuple[int, list[dict]]:
    args = ["validate", str(path), "--output-format", "json", "-j", "1"]
    result = CliRunner().invoke(cli, args + (["--format", fmt] if forced else []))
    return result.exit_code, json.loads(result.stdout)["problems"]


@pytest.mark.parametrize("forced", [False, True], ids=["detected", "forced"])
@pytest.mark.parametrize(("fmt", "path", "case"), _cases("valid"))
def test_valid_example(fmt, path, case, forced, tmp_path):
    code, problems = _validate(path, fmt, forced)
    assert code == 0, problems
    assert sorted(p["path"] for p in problems) == sorted(case["warnings"])
    assert all(p["severity"] == "warning" and p["file"] == str(path) for p in problems)
    out = tmp_path / "masks"
    args = ["rasterize", str(path), "-o", str(out), "-j", "1"]
    result = CliRunner().invoke(cli, args + (["--format", fmt] if forced else []))
    assert result.exit_code == 0, result.output
    written = sorted(p.relative_to(out).with_suffix("").as_posix() for p in out.rglob("*.png"))
    assert written == sorted(case["masks"])
    label_map = LabelMap.from_file(out / "labels.txt")
    assert class_names(label_map) == case["labels"]
    seen = set().union(*(np.unique(read_mask(p)).tolist() for p in out.rglob("*.png")))
    assert seen - {0} == {label_map.ids[n] for n in case["labels"]}  # no class was dropped


@pytest.mark.parametrize("forced", [False, True], ids=["detected", "forced"])
@pytest.mark.parametrize(("fmt", "path", "case"), _cases("invalid"))
def test_invalid_example(fmt, path, case, forced):
    code, problems = _validate(path, fmt, forced)
    assert code == 1, problems
    assert sorted(p["path"] for p in problems) == sorted(case.get("paths", [case["path"]]))
    assert all(p["file"] == str(path) for p in problems)
    first = [p for p in problems if p["path"] == case["path"]]
    assert any(p["line"] == case.get("line") and case["message"] in p["message"] for p in first), (
        problems
    )


@pytest.mark.parametrize(
    ("rel", "marker"),
    [
        ("coco/invalid/unknown_category.json", '"category_id": 99'),
        ("coco/invalid/rle_size.json", '"size": [10, 8]'),
        ("coco/invalid/duplicates.json", '"file_name": "a.png"'),
        ("label-studio/invalid/size_mismatch.json", '"original_width": 20'),
        ("label-studio/invalid/nan_point.json", "NaN"),
    ],
)
def test_github_annotation_points_at_the_offending_line(rel, marker):
    path = CASES / rel
    lines = path.read_text().splitlines()
    (expected_line,) = [n for n, text in enumerate(lines, 1) if marker in text]
    args = ["validate", str(path), "--output-format", "github", "-j", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"::error file={path},line={expected_line},")
    assert "title=polymask (PM0" in first


def test_text_output_tells_warnings_from_errors():
    path = CASES / "coco" / "valid" / "warnings.json"
    result = CliRunner().invoke(cli, ["validate", str(path), "-j", "1"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(": warning: " in line for line in lines)


def test_exit_zero_reports_but_passes():
    path = CASES / "coco" / "invalid" / "unknown_image.json"
    result = CliRunner().invoke(cli, ["validate", str(path), "--exit-zero", "-j", "1"])
    assert result.exit_code == 0
    assert "annotations[0].image_id: image_id 5 is not in images" in result.stdout


def test_unknown_format_is_a_usage_error():
    path = CASES / "coco" / "valid" / "rle.json"
    result = CliRunner().invoke(cli, ["validate", str(path), "--format", "pascal"])
    assert result.exit_code == 2
    assert "--format" in result.output and "pascal" in result.output


def test_strict_refuses_type_coercion(tmp_path):
    doc = json.loads((CASES / "coco" / "valid" / "rle.json").read_text())
    doc["images"][0]["width"] = "9"
    path = tmp_path / "coerced.json"
    path.write_text(json.dumps(doc))
    assert CliRunner().invoke(cli, ["validate", str(path), "-j", "1"]).exit_code == 0
    result = CliRunner().invoke(cli, ["validate", str(path), "--strict", "-j", "1"])
    assert result.exit_code == 1
    assert "images[0].width" in result.stdout
