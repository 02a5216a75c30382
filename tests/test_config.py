"""[tool.polymask] / polymask.toml: found walking up, overridden by options, errors exit 2."""

from __future__ import annotations

from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.config import find_config, load_config
from polymask.io.masks import read_mask
from tests.helpers import labelme_shape, write_labelme

SQUARE = [(1, 1), (8, 1), (8, 8), (1, 8)]


def project(tmp_path, toml: str, name="pyproject.toml"):
    (tmp_path / ".git").mkdir(parents=True)
    (tmp_path / name).write_text(toml)
    write_labelme(tmp_path / "data" / "deep" / "a.json", [labelme_shape("car", SQUARE)])
    return tmp_path / "data"


def test_found_walking_up_and_stops_at_repository_root(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.polymask]\norder = 'area'\n")
    repo = tmp_path / "repo"
    data = project(repo, "[project]\nname = 'x'\n")  # no polymask section: not a config
    assert find_config(data / "deep" / "a.json") is None
    (repo / "polymask.toml").write_text("order = 'z'\n")
    assert find_config(data / "deep") == repo / "polymask.toml"
    assert load_config(repo / "polymask.toml").order == "z"


def test_config_drives_rasterize_and_options_override(tmp_path):
    data = project(
        tmp_path,
        """
[tool.polymask]
labels = ["_background_", "bus", "car"]
output = "masks"
convention = "center"
""",
    )
    r = CliRunner().invoke(cli, ["rasterize", str(data)])
    assert r.exit_code == 0, r.output
    mask = read_mask(tmp_path / "masks" / "deep" / "a.png")
    assert mask[4, 4] == 2 and mask[1, 1] == 2 and mask[8, 8] == 0  # center: no outline pixels
    r = CliRunner().invoke(
        cli, ["rasterize", str(data), "--convention", "labelme", "-o", str(tmp_path / "other")]
    )
    assert r.exit_code == 0 and read_mask(tmp_path / "other" / "deep" / "a.png")[8, 8] == 2


def test_bad_config_exits_2_naming_the_key(tmp_path):
    data = project(tmp_path, "[tool.polymask]\nconvention = 'nearest'\n")
    r = CliRunner().invoke(cli, ["rasterize", str(data), "-o", str(tmp_path / "m")])
    assert r.exit_code == 2 and "[tool.polymask] convention" in r.output
    (tmp_path / "pyproject.toml").write_text("[tool.polymask]\ncolour = 'red'\n")
    r = CliRunner().invoke(cli, ["validate", str(data)])
    assert r.exit_code == 2 and "colour" in r.output


def test_missing_output_is_a_usage_error(tmp_path):
    data = project(tmp_path, "[project]\nname = 'x'\n")
    r = CliRunner().invoke(cli, ["rasterize", str(data)])
    assert r.exit_code == 2 and "--output" in r.output
