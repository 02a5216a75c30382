"""The example files under tests/formats/<format>/{valid,invalid}: valid ones validate and
rasterize into the masks listed in expected.toml; invalid ones exit 1 naming the path and line
that expected.toml gives."""

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
from tests.conftest import REPO
from tests.helpers import class_names

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = REPO / "tests" / "formats"


def _cases(kind: str):
    for expected in sorted(ROOT.glob(f"*/{kind}/expected.toml")):
        table = tomllib.loads(expected.read_text())
        defaults = table.pop("defaults", {})
        for name, case in table.items():
            case = {**defaults, **case}
            here = str(expected.parent)
            case["args"] = [a.replace("{here}", here) for a in case.get("args", [])]
            yield pytest.param(
                expected.parent / name, case, id=f"{expected.parent.parent.name}/{name}"
            )


def test_every_example_file_has_an_expected_outcome():
    listed = {p.values[0] for kind in ("valid", "invalid") for p in _cases(kind)}
    files = {
        p
        for p in ROOT.glob("*/*/*")
        if p.parent.name in ("valid", "invalid") and p.suffix in (".json", ".xml", ".geojson")
    }
    assert files and files == listed


@pytest.mark.parametrize(("path", "case"), list(_cases("valid")))
def test_valid_file(path: Path, case: dict, tmp_path):
    runner = CliRunner()
    args = case.get("args", [])
    result = runner.invoke(cli, ["validate", str(path), *args, "-j1"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "masks"
    result = runner.invoke(cli, ["rasterize", str(path), "-o", str(out), *args, "-j1"])
    assert result.exit_code == 0, result.output
    suffix = case.get("suffix", ".png")
    written = sorted(p.relative_to(out).with_suffix("").as_posix() for p in out.rglob(f"*{suffix}"))
    assert written == sorted(case["masks"])
    label_map = LabelMap.from_file(out / "labels.txt")
    assert class_names(label_map) == case["labels"]
    if suffix == ".png":  # every labelled class appears somewhere: nothing was dropped
        seen = set()
        for p in out.rglob("*.png"):
            seen |= set(np.unique(read_mask(p)).tolist())
        assert seen - {0} == {label_map.ids[n] for n in case["labels"]}


@pytest.mark.parametrize(("path", "case"), list(_cases("invalid")))
def test_invalid_file(path: Path, case: dict):
    args = case.get("args", [])
    result = CliRunner().invoke(
        cli, ["validate", "--output-format", "json", str(path), *args, "-j1"]
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    found = [(p["path"], p["line"], p["message"]) for p in report["problems"]]
    assert any(
        p == case["path"] and line == case.get("line") and case["message"] in msg
        for p, line, msg in found
    ), found
