"""No check passes on nothing, and nothing among the inputs is dropped without a word.

Empty inputs exit 2 (``--allow-empty``: 0); ``rasterize --check`` names masks whose annotation
is gone, and a rerun rewrites a corrupted mask; symbolic links to folders are followed, loops
and special files are named; duplicate JSON keys fail ``validate``; gate values that cannot be
compared (NaN, out of range, given twice) are usage errors.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.io.masks import read_mask
from tests.helpers import write_labelme

SQUARE = [[2, 2], [20, 2], [20, 20], [2, 20]]
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def dataset(root: Path, *keys: str) -> Path:
    for key in keys:
        write_labelme(root / f"{key}.json", [{"label": "road", "points": SQUARE}])
    return root


def folder_of_masks(tmp_path: Path, name: str, *keys: str) -> Path:
    """Masks written by rasterize from one-square annotations, in ``tmp_path / name``."""
    out = tmp_path / name
    r = run("rasterize", dataset(tmp_path / f"{name}-src", *keys), "-o", out, "-j", 1)
    assert r.exit_code == 0, r.output
    return out


# 1. empty inputs


@pytest.mark.parametrize("command", ["validate", "rasterize"])
def test_annotation_commands_refuse_a_folder_without_annotations(tmp_path, command):
    empty = tmp_path / "empty"
    empty.mkdir()
    extra = ["-o", tmp_path / "out"] if command == "rasterize" else []
    r = run(command, empty, *extra, "-j", 1)
    assert r.exit_code == 2, r.output
    assert f"no annotation files found in {empty}" in r.output
    assert run(command, empty, *extra, "-j", 1, "--allow-empty").exit_code == 0


@pytest.mark.parametrize("command", ["rasterize", "stats"])
def test_files_without_a_single_image_are_refused(tmp_path, command):
    coco = tmp_path / "coco.json"
    coco.write_text('{"images": [], "annotations": [], "categories": [{"id": 1, "name": "r"}]}')
    extra = ["-o", tmp_path / "out"] if command == "rasterize" else ["--max-imbalance", 2]
    r = run(command, coco, *extra, "-j", 1)
    assert r.exit_code == 2, r.output
    assert f"no images in {coco}" in r.output
    assert run(command, coco, *extra, "-j", 1, "--allow-empty").exit_code == 0


def test_score_refuses_to_score_nothing(tmp_path):
    preds, gt = tmp_path / "preds", tmp_path / "gt"
    preds.mkdir()
    gt.mkdir()
    r = run("score", preds, gt, "-j", 1, "--device", "cpu", "--fail-under", 0.8)
    assert r.exit_code == 2, r.output
    assert "nothing scored" in r.output and str(preds) in r.output
    r = run("score", preds, gt, "-j", 1, "--device", "cpu", "--allow-empty")
    assert r.exit_code == 0, r.output


def test_score_refuses_when_no_prediction_pairs_under_missing_skip(tmp_path):
    gt = folder_of_masks(tmp_path, "gt", "a")
    preds = folder_of_masks(tmp_path, "preds", "b")
    r = run("score", preds, gt, "-j", 1, "--device", "cpu", "--missing", "skip")
    assert r.exit_code == 2, r.output
    assert "nothing scored" in r.output


# 2. orphans under --check


def test_check_lists_masks_whose_annotation_is_gone(tmp_path):
    src = dataset(tmp_path / "ann", "a", "sub/b")
    out = tmp_path / "out"
    args = ("-o", out, "--instances", out / "inst", "-j", 1)  # instances inside: not orphans
    assert run("rasterize", src, *args).exit_code == 0
    assert run("rasterize", src, *args, "--check").exit_code == 0
    (src / "sub" / "b.json").unlink()
    assert (out / "labels.txt").is_file()  # not a mask: never an orphan
    from PIL import Image

    Image.new("P", (4, 4)).save(out / "photo.png")  # not a polymask output: not judged
    r = run("rasterize", src, *args, "--check")
    assert r.exit_code == 1, r.output
    orphans = [line for line in r.output.splitlines() if line.startswith("orphan:")]
    assert orphans == [
        f"orphan: {path}: no annotation produces this mask"
        for path in (out / "sub" / "b.png", out / "inst" / "sub" / "b.png")
    ]


# 3. a corrupted mask is not up to date


def _flip_a_pixel_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    pos = 8
    while data[pos + 4 : pos + 8] != b"IDAT":
        pos += 12 + struct.unpack_from(">I", data, pos)[0]
    data[pos + 8 + 2] ^= 0xFF  # past the zlib header: the deflate stream itself
    path.write_bytes(bytes(data))


def test_rerun_rewrites_a_corrupted_mask(tmp_path):
    src = dataset(tmp_path / "ann", "a", "b")
    out = tmp_path / "out"
    assert run("rasterize", src, "-o", out, "-j", 1).exit_code == 0
    good = (out / "a.png").read_bytes()
    _flip_a_pixel_byte(out / "a.png")
    r = run("rasterize", src, "-o", out, "-j", 1)
    assert r.exit_code == 0, r.output
    assert "1 skipped, 1 written" in r.output
    assert (out / "a.png").read_bytes() == good
    assert read_mask(out / "a.png")[10, 10] != 0


def test_rerun_rewrites_a_truncated_mask(tmp_path):
    src = dataset(tmp_path / "ann", "a")
    out = tmp_path / "out"
    assert run("rasterize", src, "-o", out, "-j", 1).exit_code == 0
    good = (out / "a.png").read_bytes()
    (out / "a.png").write_bytes(good[:-12])  # IEND gone
    assert "1 written" in run("rasterize", src, "-o", out, "-j", 1).output
    assert (out / "a.png").read_bytes() == good


# 4. symbolic links and special files


def test_symlinked_subfolders_are_followed_and_loops_named(tmp_path):
    src = dataset(tmp_path / "ann", "a")
    elsewhere = dataset(tmp_path / "elsewhere", "b", "c")
    (src / "linked").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "back").symlink_to(elsewhere, target_is_directory=True)  # a loop
    r = run("validate", src, "-j", 1)
    assert r.exit_code == 0, r.output
    assert "3 files checked" in r.output
    assert f"{src / 'linked' / 'back'}: warning: a symbolic link loop" in r.output
    r = run("rasterize", src, "-o", tmp_path / "out", "-j", 1)
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "linked" / "b.png").is_file()


@needs_fifo
def test_fifos_among_annotations_are_named_and_never_opened(tmp_path):
    src = dataset(tmp_path / "ann", "a")
    os.mkfifo(src / "pipe.json")
    os.mkfifo(tmp_path / "named.json")
    r = run("validate", src, tmp_path / "named.json", "-j", 1)  # opening one would hang
    assert r.exit_code == 0, r.output
    assert "1 files checked" in r.output
    assert f"{src / 'pipe.json'}: warning: a FIFO, not a regular file: skipped" in r.output
    assert f"{tmp_path / 'named.json'}: warning: a FIFO" in r.output
    r = run("rasterize", src, "-o", tmp_path / "out", "-j", 1)
    assert r.exit_code == 0, r.output
    assert "pipe.json: warning: a FIFO" in r.output


def test_stats_follows_symlinked_mask_folders(tmp_path):
    masks = folder_of_masks(tmp_path, "masks", "a")
    more = folder_of_masks(tmp_path, "more", "b", "c")
    (masks / "linked").symlink_to(more, target_is_directory=True)
    r = run("stats", "--masks", masks, "-j", 1)
    assert r.exit_code == 0, r.output
    assert "3 images" in r.output


@needs_fifo
def test_stats_names_a_fifo_among_masks(tmp_path):
    masks = folder_of_masks(tmp_path, "masks", "a")
    os.mkfifo(masks / "pipe.png")
    r = run("stats", "--masks", masks, "-j", 1)
    assert r.exit_code == 0, r.output
    assert "pipe.png: warning: a FIFO" in r.output


def test_score_pairs_through_symlinked_folders(tmp_path):
    gt = folder_of_masks(tmp_path, "gt", "a", "sub/b")
    preds = folder_of_masks(tmp_path, "preds", "a")
    more = folder_of_masks(tmp_path, "more", "b")
    (preds / "sub").symlink_to(more, target_is_directory=True)
    r = run("score", preds, gt, "-j", 1, "--device", "cpu", "--output-format", "json")
    assert r.exit_code == 0, r.output
    assert '"images_scored":2' in r.output.replace(" ", "")


@needs_fifo
def test_score_names_a_fifo_among_masks(tmp_path):
    gt = folder_of_masks(tmp_path, "gt", "a")
    preds = folder_of_masks(tmp_path, "preds", "a")
    os.mkfifo(preds / "pipe.png")
    r = run("score", preds, gt, "-j", 1, "--device", "cpu")
    assert "pipe.png" in r.output and "FIFO" in r.output


# 5. duplicate JSON keys


def test_validate_names_duplicate_keys(tmp_path):
    path = tmp_path / "a.json"
    write_labelme(path, [{"label": "road", "points": SQUARE}])
    text = path.read_text()
    assert text.count('"label": "road"') == 1
    path.write_text(text.replace('"label": "road"', '"label": "road", "label": "car"'))
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if '"car"' in s)
    r = run("validate", path, "-j", 1)
    assert r.exit_code == 1, r.output
    assert f"{path}:{line}: shapes[0].label: duplicate key 'label'" in r.output


def test_duplicate_keys_found_in_nested_objects_and_arrays():
    from polymask.formats.duplicates import duplicate_keys

    text = '{"a": [1, {"b": {}, "c": [[]], "b": "x\\"}"}],\n "d": null, "a": 2}'
    found = [(p.path, p.line) for p in duplicate_keys(text, "f.json")]
    assert found == [("a[1].b", 1), ("a", 2)]
    assert duplicate_keys('{"a": 1, "b": {"a": 2}}', "f.json") == []
    # number arrays are cut before the quick parse: neither hidden nor invented duplicates
    assert [p.path for p in duplicate_keys('{"p": [[1, 2]], "p": [[3e1, -4]]}', "f")] == ["p"]
    assert duplicate_keys('{"[1]": 1, "[2]": [[1, 2]], "x": [1, "[3]"]}', "f.json") == []
    assert duplicate_keys("not json", "f.json") == []


# 6. gate values


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gates")
    return folder_of_masks(tmp, "preds", "a"), folder_of_masks(tmp, "gt", "a")


@pytest.mark.parametrize(
    "option, value, says",
    [
        ("--fail-under", "nan", "nan"),
        ("--fail-under-class", "road=nan", "not a Dice in [0, 1]"),
        ("--fail-under-class", "road=1.5", "not a Dice in [0, 1]"),
        ("--fail-under-class", "road=0.9,road=0.8", "two thresholds"),
        ("--fail-under-class", "road=0.9,1=0.8", "two thresholds"),
        ("--fail-under-class", "cat=0.5", "unknown class 'cat'"),
    ],
)
def test_score_refuses_gates_it_cannot_judge(scored, option, value, says):
    preds, gt = scored
    r = run("score", preds, gt, "-j", 1, "--device", "cpu", option, value)
    assert r.exit_code == 2, r.output
    assert option in r.output and says in r.output


@pytest.mark.parametrize("option", ["--max-imbalance", "--max-foreground-imbalance", "--beta"])
def test_stats_refuses_nan(scored, option):
    r = run("stats", "--masks", scored[1], "-j", 1, option, "nan")
    assert r.exit_code == 2, r.output
    assert option in r.output and "nan" in r.output
