"""Example files of each format with their expected outcome (tests/formats/<format>/).

``expected.json`` maps every file below ``valid/`` and ``invalid/`` to the JSON paths of the
problems ``polymask validate`` must report: warnings for valid files (exit 0), errors for
invalid ones (exit 1). Each file is checked with its format told from its content, and again
with ``--format`` forcing it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from polymask.cli.main import cli

CASES = Path(__file__).parent / "formats"


def _cases() -> list:
    return [
        pytest.param(expected.parent.name, expected.parent / rel, paths,
                     id=f"{expected.parent.name}/{rel}")
        for expected in sorted(CASES.glob("*/expected.json"))
        for rel, paths in json.loads(expected.read_text()).items()
    ]


def test_every_example_file_has_an_expectation():
    listed = {
        expected.parent / rel
        for expected in CASES.glob("*/expected.json")
        for rel in json.loads(expected.read_text())
    }
    found = {p for p in CASES.glob("*/*/*.json") if p.parent.name in ("valid", "invalid")}
    assert found and found == listed


@pytest.mark.parametrize("forced", [False, True], ids=["detected", "forced"])
@pytest.mark.parametrize(("fmt", "path", "paths"), _cases())
def test_example(fmt, path, paths, forced):
    args = ["validate", str(path), "--output-format", "json", "-j", "1"]
    result = CliRunner().invoke(cli, args + (["--format", fmt] if forced else []))
    valid = path.parent.name == "valid"
    assert result.exit_code == (0 if valid else 1), result.output
    report = json.loads(result.stdout)
    severity = "warning" if valid else "error"
    assert sorted(p["path"] for p in report["problems"]) == sorted(paths)
    assert all(p["severity"] == severity for p in report["problems"])
    assert all(p["file"] == str(path) for p in report["problems"])


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
    assert "unknown format 'pascal'" in result.output


def test_strict_refuses_type_coercion(tmp_path):
    doc = json.loads((CASES / "coco" / "valid" / "rle.json").read_text())
    doc["images"][0]["width"] = "9"
    path = tmp_path / "coerced.json"
    path.write_text(json.dumps(doc))
    assert CliRunner().invoke(cli, ["validate", str(path), "-j", "1"]).exit_code == 0
    result = CliRunner().invoke(cli, ["validate", str(path), "--strict", "-j", "1"])
    assert result.exit_code == 1
    assert "images[0].width" in result.stdout
