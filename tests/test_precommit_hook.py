"""The pre-commit hook this repository offers checks annotation files, not every JSON file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
HOOKS = Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml"


def selected(path: str) -> bool:
    """pre-commit's rule: ``files`` must match and ``exclude`` must not (re.search)."""
    (hook,) = yaml.safe_load(HOOKS.read_text())
    return bool(re.search(hook["files"], path)) and not re.search(hook["exclude"], path)


@pytest.mark.parametrize(
    "path", ["data/img_001.json", "cvat/export.xml", "fields.geojson", "a/package_photos.json"]
)
def test_annotation_files_are_checked(path):
    assert selected(path)


@pytest.mark.parametrize(
    "path",
    [
        "package.json",
        "web/package-lock.json",
        "tsconfig.json",
        "tsconfig.build.json",
        ".vscode/settings.json",
        "app/.devcontainer/devcontainer.json",
        "node_modules/x/y.json",
        "README.md",
    ],
)
def test_tool_files_are_left_alone(path):
    assert not selected(path)


def test_the_entry_is_the_validate_command():
    (hook,) = yaml.safe_load(HOOKS.read_text())
    assert hook["id"] == "polymask-validate" and hook["entry"] == "polymask validate"
