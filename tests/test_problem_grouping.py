"""Text output counts repeated warnings in one line; errors and JSON output keep every one."""

from __future__ import annotations

import json

from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.errors import Problem
from polymask.report.problems import render, render_text


def warning(i: int) -> Problem:
    return Problem(
        f"f{i}.json",
        f"area {100 + i} is {20 + i}% off the segmentation's {90 + i}",
        f"annotations[{i}].area",
        code="PM050",
        severity="warning",
    )


def test_repeated_warnings_are_counted_after_the_first_few():
    problems = [warning(i) for i in range(10)]
    problems.insert(4, Problem("g.json", "image 'a.jpg' is missing", code="PM020"))
    problems.insert(6, Problem("h.json", "image 'b.jpg' is missing", code="PM020"))
    lines = render_text(problems, shown=3).splitlines()
    shown = [line for line in lines if "PM050" not in line and "area" in line]
    assert len(shown) == 3  # f0, f1, f2
    assert sum("is missing" in line for line in lines) == 2  # errors: every one
    assert lines[-1] == (
        '... and 7 more warnings like "area 100 is 20% off the segmentation\'s 90" (PM050); '
        "--output-format json lists every one"
    )


def test_warnings_of_other_kinds_are_not_merged():
    other = Problem("x.json", "bbox is 3 px off", code="PM051", severity="warning")
    text = render_text([warning(0), warning(1), other, warning(2)], shown=1)
    assert "bbox is 3 px off" in text
    assert "... and 2 more warnings like" in text
    assert "more warnings like 'bbox" not in text


def test_json_output_keeps_every_warning():
    problems = [warning(i) for i in range(10)]
    report = json.loads(render(problems, "json", files_checked=10))
    assert len(report["problems"]) == 10 and report["warnings"] == 10


def test_rasterize_counts_a_flood_of_coco_warnings(tmp_path):
    """A COCO file whose every annotation has a wrong area: a few lines, then a count."""
    n = 40
    coco = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 64}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {
                "id": i + 1,
                "image_id": 1,
                "category_id": 1,
                "segmentation": [[1, 1, 9, 1, 9, 9, 1, 9]],
                "area": 1000.0 + i,
                "bbox": [1, 1, 8, 8],
                "iscrowd": 0,
            }
            for i in range(n)
        ],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(coco))
    result = CliRunner().invoke(cli, ["rasterize", str(path), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    area_lines = [line for line in result.stdout.splitlines() if "area" in line]
    assert len(area_lines) == 4  # three warnings and the count
    assert area_lines[-1].startswith(f"... and {n - 3} more warnings like")
    validate = CliRunner().invoke(cli, ["validate", str(path), "--output-format", "json"])
    assert len(json.loads(validate.stdout)["problems"]) == n
