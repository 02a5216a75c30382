"""``polymask validate``: exit codes and the three report formats."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from tests.helpers import labelme_shape, write_labelme

SQUARE = [(1, 1), (8, 1), (8, 8), (1, 8)]


@pytest.fixture()
def dataset(tmp_path):
    write_labelme(tmp_path / "good.json", [labelme_shape("car", SQUARE)])
    write_labelme(
        tmp_path / "sub" / "bad.json",
        [labelme_shape("car", SQUARE), labelme_shape("car", [(1, 1), (2, 2)])],
    )
    return tmp_path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_valid_files_exit_0(dataset):
    r = run("validate", dataset / "good.json")
    assert r.exit_code == 0 and r.stdout == ""


def test_invalid_file_exit_1_text(dataset):
    r = run("validate", dataset)
    assert r.exit_code == 1
    (line,) = r.stdout.splitlines()
    assert "bad.json:" in line and "shapes[1].points:" in line and "at least 3 points" in line


def test_json_output(dataset):
    r = run("validate", dataset, "--output-format", "json")
    doc = json.loads(r.stdout)
    assert doc["files_checked"] == 2 and doc["errors"] == 1
    (p,) = doc["problems"]
    assert p["path"] == "shapes[1].points" and p["file"].endswith("bad.json") and p["line"] > 1


def test_github_output_escapes(dataset):
    r = run("validate", dataset, "--output-format", "github")
    (line,) = r.stdout.splitlines()
    assert line.startswith("::error file=") and ",line=" in line
    assert "title=polymask (PM012)::shapes[1].points: " in line


def test_github_escaping_rules():
    from polymask.errors import Problem
    from polymask.report.problems import render_github

    out = render_github([Problem("a,b:c.json", "50% off\nnext", "x", line=3)])
    assert out == "::error file=a%2Cb%3Ac.json,line=3,title=polymask (PM000)::x: 50%25 off%0Anext\n"


def test_exit_zero_and_labels(dataset):
    assert run("validate", dataset, "--exit-zero").exit_code == 0
    labels = dataset / "labels.txt"
    labels.write_text("_background_\nbus\n")
    r = run("validate", dataset / "good.json", "--labels", labels)
    assert r.exit_code == 1 and "label 'car' is not in the label map" in r.stdout


def test_usage_errors_exit_2(tmp_path):
    assert run("validate", tmp_path / "nope.json").exit_code == 2
    assert run("validate").exit_code == 2
    bad = tmp_path / "labels.txt"
    bad.write_text("a\na\n")
    write_labelme(tmp_path / "x.json", [])
    r = run("validate", tmp_path / "x.json", "--labels", bad)
    assert r.exit_code == 2 and "listed twice" in r.output


@pytest.mark.parametrize("command", ["validate", "rasterize", "schema"])
def test_help_and_version(command):
    assert run(command, "--help").exit_code == 0
    r = run("--version")
    assert r.exit_code == 0 and "polymask" in r.stdout
