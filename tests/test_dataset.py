"""The dataset index: images, not files, as the unit of work.

Collisions of output names across files, one failed image costing one mask, each file read
once per run, class ids that do not drift between splits, and label names that read back.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.io.masks import read_mask
from polymask.labels import LabelMap
from tests.helpers import labelme_shape, write_labelme

SQUARE = [[2, 2], [12, 2], [12, 12], [2, 12]]


def rasterize(*args: str):
    return CliRunner().invoke(cli, ["rasterize", *map(str, args)])


def labelstudio_task(image: str, label: str, points=((10, 10), (60, 10), (60, 60))) -> dict:
    """A Label Studio task as its JSON export writes it: points in percent of the image."""
    return {
        "id": 1,
        "data": {"image": image},
        "annotations": [
            {
                "result": [
                    {
                        "original_width": 20,
                        "original_height": 10,
                        "type": "polygonlabels",
                        "from_name": "label",
                        "to_name": "image",
                        "value": {"points": [list(p) for p in points], "polygonlabels": [label]},
                    }
                ]
            }
        ],
    }


def coco_doc(images, annotations, categories) -> dict:
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_image(i: int, name: str, w: int = 16, h: int = 16) -> dict:
    return {"id": i, "file_name": name, "width": w, "height": h}


def coco_ann(i: int, image_id: int, category_id: int, seg=None) -> dict:
    seg = seg if seg is not None else [[2, 2, 12, 2, 12, 12, 2, 12]]
    return {"id": i, "image_id": image_id, "category_id": category_id, "segmentation": seg}


# ---- collisions -------------------------------------------------------------------------------


@pytest.fixture
def three_exports(tmp_path) -> Path:
    """Three Label Studio exports in one folder, all naming /image1 and /image2 (as real
    exports from three projects do), each with its own classes."""
    folder = tmp_path / "exports"
    folder.mkdir()
    for n, label in enumerate(["car", "road", "tree"], 1):
        tasks = [labelstudio_task(f"/data/upload/{n}/image{i}.jpg", label) for i in (1, 2)]
        for t in tasks:
            t["data"]["image"] = t["data"]["image"].rsplit("/", 1)[-1]
        (folder / f"project{n}.json").write_text(json.dumps(tasks))
    return folder


@pytest.mark.parametrize("workers", ["1", "2"])
def test_colliding_names_are_errors_and_nothing_is_overwritten(three_exports, tmp_path, workers):
    out = tmp_path / "out"
    r = rasterize(three_exports, "-o", out, "-j", workers)
    assert r.exit_code == 1, r.output
    for n in (1, 2, 3):  # every source is named, with the others it collides with
        assert f"project{n}.json" in r.output
    assert r.output.count("is also made by") == 6
    assert not (out / "image1.png").exists() and not (out / "image2.png").exists()
    again = rasterize(three_exports, "-o", out, "-j", workers)
    assert again.exit_code == 1 and not (out / "image1.png").exists()


def test_keys_from_the_source_path_write_every_image(three_exports, tmp_path):
    out = tmp_path / "out"
    r = rasterize(three_exports, "-o", out, "--keys", "source", "-j", "1")
    assert r.exit_code == 0, r.output
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == [f"project{n}/image{i}.png" for n in (1, 2, 3) for i in (1, 2)]
    lm = LabelMap.from_file(out / "labels.txt")
    for n, label in enumerate(["car", "road", "tree"], 1):
        mask = read_mask(out / f"project{n}" / "image1.png")
        assert set(np.unique(mask)) == {0, lm.ids[label]}
    check = CliRunner().invoke(
        cli, ["rasterize", str(three_exports), "-o", str(out), "--keys", "source", "--check"]
    )
    assert check.exit_code == 0, check.output


def test_one_image_files_in_two_roots_collide(tmp_path):
    for root in ("a", "b"):
        write_labelme(tmp_path / root / "x.json", [labelme_shape("car", SQUARE)])
    r = rasterize(tmp_path / "a", tmp_path / "b", "-o", tmp_path / "out")
    assert r.exit_code == 1 and "is also made by" in r.output
    assert not (tmp_path / "out" / "x.png").exists()


def test_validate_reports_collisions_across_files(three_exports):
    r = CliRunner().invoke(cli, ["validate", str(three_exports)])
    assert r.exit_code == 1 and "is also made by" in r.output


# ---- one bad image costs one mask -----------------------------------------------------------


def test_a_bad_entry_in_a_coco_file_fails_its_image_only(tmp_path):
    doc = coco_doc(
        [coco_image(1, "a.jpg"), coco_image(2, "b.jpg"), coco_image(3, "c.jpg")],
        [
            coco_ann(1, 1, 1),
            coco_ann(2, 2, 1, seg={"size": [16, 16], "counts": "not an rle!"}),
            coco_ann(3, 3, 1),
        ],
        [{"id": 1, "name": "car"}],
    )
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ann.json").write_text(json.dumps(doc))
    out = tmp_path / "out"
    r = rasterize(tmp_path / "in", "-o", out, "-j", "2")
    assert r.exit_code == 1, r.output
    assert "annotations[1]" in r.output
    assert (out / "a.png").exists() and (out / "c.png").exists()
    assert not (out / "b.png").exists()
    assert "1 failed" in r.output and "2 written" in r.output


def test_a_bad_task_in_a_label_studio_file_fails_its_image_only(tmp_path):
    tasks = [labelstudio_task("a.jpg", "car"), labelstudio_task("b.jpg", "car")]
    tasks[1]["annotations"][0]["result"][0]["value"]["points"] = [[10, "x"], [60, 10]]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "tasks.json").write_text(json.dumps(tasks))
    out = tmp_path / "out"
    r = rasterize(tmp_path / "in", "-o", out, "-j", "1")
    assert r.exit_code == 1, r.output
    assert (out / "a.png").exists() and not (out / "b.png").exists()


# ---- each file read once ----------------------------------------------------------------------


def test_each_multi_image_file_is_read_once_per_run(tmp_path, monkeypatch):
    from polymask.formats import labelstudio

    tasks = [labelstudio_task(f"img{i}.jpg", f"class{i % 3}") for i in range(6)]
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "tasks.json").write_text(json.dumps(tasks))
    calls = []
    real = labelstudio.load
    monkeypatch.setattr(labelstudio, "load", lambda *a, **k: calls.append(a) or real(*a, **k))
    r = rasterize(tmp_path / "in", "-o", tmp_path / "out", "--scheduler", "serial")
    assert r.exit_code == 0, r.output
    assert len(calls) == 1  # labels discovered from the same reading as the masks
    assert len(list((tmp_path / "out").glob("*.png"))) == 6


def test_a_coco_file_is_indexed_once_and_each_image_read_alone(tmp_path, monkeypatch):
    from polymask.formats import coco

    doc = coco_doc(
        [coco_image(i, f"{i}.jpg") for i in range(1, 5)],
        [coco_ann(i, i, 1) for i in range(1, 5)],
        [{"id": 1, "name": "car"}],
    )
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ann.json").write_text(json.dumps(doc))
    calls = {"index": 0, "load": 0, "load_part": 0}
    for name in calls:
        real = getattr(coco, name)

        def counted(*a, _real=real, _name=name, **k):
            calls[_name] += 1
            return _real(*a, **k)

        monkeypatch.setattr(coco, name, counted)
    r = rasterize(tmp_path / "in", "-o", tmp_path / "out", "--scheduler", "serial")
    assert r.exit_code == 0, r.output
    assert calls == {"index": 1, "load": 0, "load_part": 4}


# ---- stable class ids -------------------------------------------------------------------------

CATEGORIES = [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 18, "name": "dog"}]


def test_coco_ids_are_the_category_ids_in_every_split(tmp_path):
    """A split that lacks a class keeps every other id: pixel value = category_id."""
    train = coco_doc(
        [coco_image(1, "t1.jpg"), coco_image(2, "t2.jpg")],
        [coco_ann(1, 1, 1), coco_ann(2, 2, 3, [[0, 0, 5, 0, 5, 5, 0, 5]]), coco_ann(3, 2, 18)],
        CATEGORIES,
    )
    val = coco_doc([coco_image(1, "v1.jpg")], [coco_ann(1, 1, 18)], CATEGORIES)  # no car
    maps = {}
    for name, doc in (("train", train), ("val", val)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "ann.json").write_text(json.dumps(doc))
        out = tmp_path / f"out-{name}"
        r = rasterize(tmp_path / name, "-o", out)
        assert r.exit_code == 0, r.output
        assert "numbered from the" not in r.output  # declared ids: no warning
        maps[name] = LabelMap.from_file(out / "labels.txt")
    assert maps["train"] == maps["val"]
    assert maps["train"].ids == {"person": 1, "car": 3, "dog": 18}
    t2 = read_mask(tmp_path / "out-train" / "t2.png")
    assert t2[1, 1] == 3 and t2[8, 8] == 18
    assert set(np.unique(read_mask(tmp_path / "out-val" / "v1.png"))) == {0, 18}


def test_stats_and_rasterize_agree_on_coco_ids(tmp_path):
    doc = coco_doc([coco_image(1, "a.jpg")], [coco_ann(1, 1, 18)], CATEGORIES)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "ann.json").write_text(json.dumps(doc))
    r = CliRunner().invoke(cli, ["stats", "--annotations", str(tmp_path / "in"), "--json", "-"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout)
    classes = {c["id"]: c for c in report["classes"]}
    assert classes[18]["name"] == "dog" and classes[18]["pixels"] == 100


def test_discovered_ids_carry_a_note(tmp_path):
    write_labelme(tmp_path / "in" / "a.json", [labelme_shape("car", SQUARE)])
    r = rasterize(tmp_path / "in", "-o", tmp_path / "out")
    assert r.exit_code == 0 and "numbered from the 1 labels found" in r.output
    given = rasterize(tmp_path / "in", "-o", tmp_path / "out2", "--labels", "car")
    assert "numbered from the" not in given.output


# ---- label names that read back ---------------------------------------------------------------


def test_labels_differing_only_in_blanks_are_refused_naming_the_shape(tmp_path):
    write_labelme(tmp_path / "in" / "a.json", [labelme_shape("car", SQUARE)])
    write_labelme(
        tmp_path / "in" / "b.json", [labelme_shape("x", SQUARE), labelme_shape("car ", SQUARE)]
    )
    r = rasterize(tmp_path / "in", "-o", tmp_path / "out")
    assert r.exit_code == 1
    assert "b.json" in r.output and "shapes[1]" in r.output and "only in blanks" in r.output


def test_a_label_with_a_line_break_is_refused(tmp_path):
    write_labelme(tmp_path / "in" / "a.json", [labelme_shape("ca\nr", SQUARE)])
    r = rasterize(tmp_path / "in", "-o", tmp_path / "out")
    assert r.exit_code == 1 and "line break" in r.output
    assert "ca\nr" not in (tmp_path / "out" / "labels.txt").read_text()


@pytest.mark.parametrize(
    "ids",
    [
        {"person": 1, "car": 3, "dog": 18},
        {"_background_": 0, "a": 1, "b": 2},
        {"a": 1, "b": 2},
        {"7 up": 1, "b": 2},  # a name that starts like an id line: written in the ids form
        {"a b": 5, "c": 300},
    ],
)
def test_written_label_maps_read_back(ids):
    lm = LabelMap(ids)
    assert LabelMap.from_text(lm.to_text()) == lm


def test_ids_form_errors_name_the_line():
    with pytest.raises(Exception, match="given to both"):
        LabelMap.from_text("1 a\n1 b\n")
    with pytest.raises(Exception, match="class 0"):
        LabelMap.from_text("3 _background_\n4 a\n")


def via_region(xs, ys, label="leaf") -> dict:
    return {
        "shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
        "region_attributes": {"label": label},
    }


def test_a_missing_image_in_a_via_project_fails_that_image_only(tmp_path):
    """A real VIA project with one missing JPEG wrote 0 of its masks: now all but that one."""
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    names = [f"leaf_{i}.jpg" for i in range(4)]
    for name in names[:3]:  # leaf_3.jpg is missing
        Image.new("RGB", (30, 20)).save(folder / name)
    meta = {
        f"{name}1": {"filename": name, "size": 1, "regions": [via_region([2, 12, 7], [2, 2, 12])]}
        for name in names
    }
    (folder / "via.json").write_text(json.dumps({"_via_img_metadata": meta}))
    out = tmp_path / "out"
    r = rasterize(folder, "-o", out, "-j", "2")
    assert r.exit_code == 1, r.output
    assert "leaf_3.jpg" in r.output and "3 written" in r.output and "1 failed" in r.output
    assert sorted(p.name for p in out.glob("*.png")) == ["leaf_0.png", "leaf_1.png", "leaf_2.png"]
    assert read_mask(out / "leaf_0.png").shape == (20, 30)


def test_a_bad_shape_in_a_cvat_file_fails_its_image_only(tmp_path):
    xml = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <image id="0" name="a.jpg" width="20" height="10">
    <polygon label="car" occluded="0" points="1,1;8,1;8,8" z_order="0"/>
  </image>
  <image id="1" name="b.jpg" width="20" height="10">
    <polygon label="car" occluded="0" points="1,1;oops;8,8" z_order="0"/>
  </image>
</annotations>
"""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "annotations.xml").write_text(xml)
    out = tmp_path / "out"
    r = rasterize(tmp_path / "in", "-o", out, "-j", "1")
    assert r.exit_code == 1, r.output
    assert (out / "a.png").exists() and not (out / "b.png").exists()
    assert "/annotations/image[2]/polygon[1]/@points" in r.output
