"""``polymask rasterize`` on files that describe many images: one mask per image."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.io.masks import read_mask

CASES = Path(__file__).parent / "formats"


def test_coco_file_gives_one_mask_per_image_below_its_folder(tmp_path):
    data = tmp_path / "data" / "coco"
    data.mkdir(parents=True)
    shutil.copy(CASES / "coco" / "valid" / "polygons.json", data / "instances.json")
    out = tmp_path / "masks"
    args = ["rasterize", str(tmp_path / "data"), "-o", str(out), "-j", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png")) == [
        "coco/train/a.png",
        "coco/train/b.png",
    ]
    # the classes are the file's categories, pixel value = category_id (cat 3, dog 42)
    assert (out / "labels.txt").read_text() == "3 cat\n42 dog\n"
    b = read_mask(out / "coco" / "train" / "b.png")
    assert b.shape == (4, 5) and set(np.unique(b)) == {0, 42}
    again = CliRunner().invoke(cli, [*args, "--check"])
    assert again.exit_code == 0, again.output


def test_forced_format_and_convention(tmp_path):
    out = tmp_path / "masks"
    path = CASES / "label-studio" / "valid" / "export.json"
    args = [
        "rasterize",
        str(path),
        "-o",
        str(out),
        "--format",
        "label-studio",
        "--convention",
        "coco",
        "-j",
        "1",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.glob("*.png")) == ["5d3e9a-street.png", "brush.png"]


def test_a_bad_file_fails_alone(tmp_path):
    shutil.copy(CASES / "coco" / "valid" / "rle.json", tmp_path / "good.json")
    shutil.copy(CASES / "coco" / "invalid" / "unknown_image.json", tmp_path / "bad.json")
    out = tmp_path / "masks"
    (tmp_path / "labels.txt").write_text("people\ncars\nthing\n")
    labels = ["--labels", str(tmp_path / "labels.txt")]
    result = CliRunner().invoke(
        cli, ["rasterize", str(tmp_path), "-o", str(out), "-j", "1", *labels]
    )
    assert result.exit_code == 1
    assert "bad.json:4:27: annotations[0].image_id: image_id 5 is not in images" in result.stdout
    assert (out / "crowd.png").exists()


def test_two_files_declaring_one_category_id_differently_are_an_error(tmp_path):
    shutil.copy(CASES / "coco" / "valid" / "rle.json", tmp_path / "good.json")
    shutil.copy(CASES / "coco" / "invalid" / "unknown_image.json", tmp_path / "bad.json")
    out = tmp_path / "masks"
    result = CliRunner().invoke(cli, ["rasterize", str(tmp_path), "-o", str(out), "-j", "1"])
    assert result.exit_code == 1
    assert "category id 1 is 'people' here but 'thing' in" in result.stdout


def one_square_coco(path, iscrowd: int, bbox: list) -> None:
    """A COCO file with one 4x4 square annotation of category 'person' on a 20x10 image."""
    ann = {"id": 1, "image_id": 1, "category_id": 3, "iscrowd": iscrowd, "area": 16.0,
           "bbox": bbox, "segmentation": [[2, 2, 6, 2, 6, 6, 2, 6]]}  # fmt: skip
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 20, "height": 10}],
        "categories": [{"id": 3, "name": "person"}],
        "annotations": [ann],
    }
    path.write_text(json.dumps(doc))


def test_rasterize_reports_loader_warnings_and_still_writes(tmp_path):
    """A COCO bbox that disagrees with its polygon is a warning: shown, mask made, exit 0."""
    one_square_coco(tmp_path / "coco.json", iscrowd=0, bbox=[0, 0, 1, 1])
    r = CliRunner().invoke(
        cli, ["rasterize", str(tmp_path / "coco.json"), "-o", str(tmp_path / "m")]
    )
    assert r.exit_code == 0, r.output
    assert "warning" in r.stdout and "annotations[0].bbox" in r.stdout
    assert (tmp_path / "m" / "a.png").exists()


def test_coco_crowd_regions_as_class_or_ignore(tmp_path):
    one_square_coco(tmp_path / "coco.json", iscrowd=1, bbox=[2, 2, 4, 4])
    runner = CliRunner()
    for crowd, value in (("class", 3), ("ignore", 255)):
        out = tmp_path / crowd
        r = runner.invoke(
            cli, ["rasterize", str(tmp_path / "coco.json"), "-o", str(out), "--crowd", crowd]
        )
        assert r.exit_code == 0, r.output
        assert read_mask(out / "a.png")[4, 4] == value
    r = runner.invoke(
        cli, ["stats", str(tmp_path / "coco.json"), "--crowd", "ignore", "--json", "-"]
    )
    assert r.exit_code == 0 and json.loads(r.stdout)["ignore_pixels"] > 0
