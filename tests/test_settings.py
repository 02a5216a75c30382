"""One settings layer: every command reads the configuration and resolves the label map, the
convention and the order by the same rule (polymask/settings.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.dataset import dataset_label_map, read_dataset
from polymask.errors import UsageError
from polymask.formats import find_inputs, load_annotations
from polymask.io.masks import read_mask, write_png
from polymask.labels import LabelMap
from polymask.raster import burn
from polymask.settings import Settings, resolve_label_map, resolve_settings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "labelme"
NAMES = ["_background_", "sky", "person", "car", "tree", "building", "sidewalk", "road"]
"""Not the sorted order, so ids from the configuration differ from discovered ones."""


@pytest.fixture
def dataset(tmp_path) -> Path:
    """The bundled LabelMe examples in a repository whose configuration names the classes and
    asks for the centre rule (LabelMe files default to LabelMe's own)."""
    root = tmp_path / "repo"
    shutil.copytree(EXAMPLES, root / "data", ignore=shutil.ignore_patterns("labels.txt"))
    (root / ".git").mkdir()
    (root / "pyproject.toml").write_text(
        f'[tool.polymask]\nlabels = {json.dumps(NAMES)}\nconvention = "center"\nworkers = 1\n'
    )
    return root


def run(*args: str) -> dict:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def stats_pixels(*args: str) -> dict[str, int]:
    out = run("stats", *args, "--json", "-").stdout
    return {c["name"]: c["pixels"] for c in json.loads(out)["classes"] if c["pixels"]}


def truth(dataset: Path, convention: str) -> dict[str, int]:
    """Pixels per class name, burned directly with the configuration's names and a convention."""
    label_map = LabelMap.from_names(NAMES)
    names = {i: n for n, i in label_map.ids.items()}
    counts: dict[str, int] = {}
    for item in find_inputs([dataset / "data"]):
        for ann in load_annotations(item):
            classes = burn(ann, label_map, convention).classes
            for value, n in zip(*np.unique(classes, return_counts=True), strict=True):
                if int(value) in names:
                    counts[names[int(value)]] = counts.get(names[int(value)], 0) + int(n)
    return counts


def test_every_command_gives_the_same_ids_and_pixels(dataset):
    masks = dataset / "out" / "masks"
    run("rasterize", str(dataset / "data"), "-o", str(masks))
    expected = truth(dataset, "center")
    assert expected != truth(dataset, "labelme")  # the configuration's rule is visible

    written = (masks / "labels.txt").read_text().split()
    assert [n for n in written if n != "__ignore__"] == NAMES

    assert stats_pixels(str(masks)) == expected
    assert stats_pixels(str(dataset / "data"), "--annotations") == expected

    preds = dataset / "out" / "preds"  # the masks as a model would give them: no ignore value
    for path in masks.rglob("*.png"):
        mask = read_mask(path)
        write_png(preds / path.relative_to(masks), np.where(mask == 255, 0, mask))
    score = json.loads(run("score", str(preds), str(masks), "--output-format", "json").stdout)
    by_name = {c["name"]: c for c in score["classes"]}
    assert {n: c["gt_pixels"] for n, c in by_name.items() if c["gt_pixels"]} == expected
    assert [by_name[n]["id"] for n in NAMES] == list(range(len(NAMES)))


def test_command_line_beats_configuration_beats_default(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "polymask.toml").write_text('convention = "coco"\nignore-index = 7\nworkers = 3\n')
    settings = resolve_settings({"workers": 2}, [tmp_path])
    assert settings.convention == "coco" and settings.ignore_index == 7
    assert settings.workers == 2  # given on the command line
    assert settings.config_file == str(tmp_path / "polymask.toml")
    assert resolve_settings({}, []) == Settings()  # nothing found: the defaults


def test_each_format_keeps_its_own_rule_unless_one_is_set():
    default = Settings()
    assert [default.convention_for(f) for f in ("labelme", "coco", "via", None)] == [
        "labelme",
        "coco",
        "center",
        "center",
    ]
    assert default.order_for("cvat") == "z" and default.order_for("labelme") == "file"
    assert Settings(convention="center").convention_for("labelme") == "center"
    assert Settings(order="area").order_for("cvat") == "area"


def test_label_map_rule(tmp_path):
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "labels.txt").write_text("_background_\nb\na\n")
    files = find_inputs([EXAMPLES])
    given = Settings(labels=("_background_", "x"))
    # 1. labels given win over the masks' own labels.txt and over discovery
    assert resolve_label_map(given, [masks]).ids == {"_background_": 0, "x": 1}
    # 2. the masks' labels.txt, in its own order
    assert resolve_label_map(Settings(), [masks]).ids == {"_background_": 0, "b": 1, "a": 2}
    # 3. the labels the annotations use, sorted, found where the dataset is indexed
    assert resolve_label_map(Settings(), []) is None
    discovered, _ = dataset_label_map(Settings(), read_dataset(files, Settings()))
    assert list(discovered.ids) == ["_background_", *sorted(set(NAMES) - {"_background_"})]
    # 4. nothing: no map
    assert resolve_label_map(Settings(), [tmp_path]) is None


def test_burn_uses_the_format_of_the_file():
    """A library user burning a LabelMe file gets LabelMe's pixels without naming the rule."""
    ann = load_annotations(next(EXAMPLES.rglob("*.json")))[0]
    label_map = LabelMap.from_file(EXAMPLES / "labels.txt")
    default = burn(ann, label_map).classes
    np.testing.assert_array_equal(default, burn(ann, label_map, "labelme").classes)
    assert np.any(default != burn(ann, label_map, "center").classes)


def test_bad_scheduler_in_configuration_is_a_usage_error(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / "polymask.toml").write_text('scheduler = "carrier-pigeon"\n')
    with pytest.raises(UsageError, match="scheduler"):
        resolve_settings({}, [tmp_path])


def test_stats_reads_the_configuration(dataset):
    """stats once ignored [tool.polymask]: a wrong workers value there must now be refused."""
    (dataset / "pyproject.toml").write_text("[tool.polymask]\nworkers = 0\n")
    result = CliRunner().invoke(cli, ["stats", str(dataset / "data"), "--annotations"])
    assert result.exit_code == 2 and "workers" in result.output


def test_config_option_names_the_file(dataset, tmp_path):
    """--config overrides the search: here its labels lack 'road', which --unknown void paints
    as ignore, so no mask holds a road pixel."""
    other = tmp_path / "other.toml"
    other.write_text(f'labels = {json.dumps(NAMES[:-1])}\nunknown = "void"\n')
    masks = tmp_path / "masks"
    run("rasterize", str(dataset / "data"), "-o", str(masks), "--config", str(other))
    assert "road" not in (masks / "labels.txt").read_text().split()
    assert stats_pixels(str(masks)).keys() <= set(NAMES[:-1])


def test_max_pixels_option_reaches_the_readers(tmp_path, monkeypatch):
    """--max-pixels is resolved with the other settings and refuses masks over it by name."""
    # set then removed, so that the value the command publishes is undone after the test
    monkeypatch.setenv("POLYMASK_MAX_PIXELS", "1")
    monkeypatch.delenv("POLYMASK_MAX_PIXELS")
    masks = tmp_path / "masks"
    write_png(masks / "a.png", np.zeros((40, 30), dtype=np.uint8))
    write_png(masks / "b.png", np.zeros((4, 3), dtype=np.uint8))
    result = CliRunner().invoke(cli, ["stats", str(masks), "--max-pixels", "100", "-j", "1"])
    assert result.exit_code == 2
    assert "a.png" in result.output and "exceeds the limit" in result.output
    assert "b.png" not in result.output
