"""``score`` lists each folder once: telling a folder's kind, finding its annotations and pairing
its masks read one listing (on a network disk, listing 100,000 masks is the slow part). The
listing is counted at the system call every walk makes, ``os.scandir`` of the folder; the
pairing is checked against :func:`pair_folders`, which walks the folders on its own."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from polymask.io.masks import write_png
from polymask.io.walk import list_folder, reusing, walk_files
from polymask.score.pairing import pair_folders
from polymask.score.run import score_folders
from tests.helpers import labelme_shape, write_labelme
from tests.test_score_inputs import jpeg_bytes


@pytest.fixture
def scandirs(monkeypatch):
    """Folder -> how many times it was listed (``os.walk`` lists each folder by scandir)."""
    counts: dict[str, int] = {}
    real = os.scandir

    def counting(path="."):
        key = os.path.realpath(os.fspath(path))
        counts[key] = counts.get(key, 0) + 1
        return real(path)

    monkeypatch.setattr(os, "scandir", counting)
    return lambda folder: counts.get(os.path.realpath(folder), 0)


def _masks(folder: Path, keys, value=1):
    for key in keys:
        m = np.zeros((6, 8), np.uint8)
        m[1:4, 2:6] = value
        write_png(folder / f"{key}.png", m)


def _mask_folders(tmp_path):
    """Ground truth and predictions with a missing key, an extra one, a JPEG prediction that
    stands for its key, a photo beside a mask, a nested folder and a key that sorts before its
    path ("a-1" < "a.png" by path, after "a" by key)."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    _masks(gt, ["a", "a-1", "b", "c", "sub/d", "e"])
    _masks(pred, ["a", "a-1", "b", "sub/d", "x"], value=2)
    (pred / "e.jpg").write_bytes(jpeg_bytes(np.zeros((6, 8), np.uint8)))
    (gt / "b.jpg").write_bytes(jpeg_bytes(np.zeros((6, 8), np.uint8)))
    return gt, pred


def test_two_folders_of_masks_are_listed_once_each(tmp_path, scandirs):
    gt, pred = _mask_folders(tmp_path)
    report = score_folders(pred, gt, workers=1, device="cpu", missing="skip").report
    assert (scandirs(gt), scandirs(pred)) == (1, 1)
    assert scandirs(gt / "sub") == 1
    reference = pair_folders(pred, gt)  # walks on its own: the pairing of separate walks
    assert sorted(im.key for im in report.images) == sorted(p.key for p in reference.pairs)
    assert report.missing_predictions == list(reference.missing) == ["c"]
    assert report.extra_predictions == reference.extra == ["x"]
    assert {(n.file, n.reason) for n in report.not_masks} == {
        (str(path), why) for path, why in reference.unreadable.items()
    }
    assert sorted(p.message for p in report.problems) == sorted(
        p.message for p in reference.problems
    )
    assert [p.file for p in report.problems] == [str(pred / "e.jpg")]


def test_a_folder_of_annotations_and_one_of_masks_are_listed_once_each(tmp_path, scandirs):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    for key in ("a", "b"):
        shape = labelme_shape("cat", [(2, 1), (5, 3)], kind="rectangle")
        write_labelme(gt / f"{key}.json", [shape], width=8, height=6, image_path=f"{key}.jpg")
    _masks(pred, ["a", "z"])
    report = score_folders(pred, gt, workers=1, device="cpu", missing="skip").report
    assert (scandirs(gt), scandirs(pred)) == (1, 1)
    assert [im.key for im in report.images] == ["a"]
    assert report.missing_predictions == ["b"] and report.extra_predictions == ["z"]


def test_a_listing_gives_what_each_walk_of_its_own_gives(tmp_path):
    """Files and problems of each suffix set, in the same order, a FIFO of either kind among
    them; a walk the listing does not cover (any suffix) walks the folder itself."""
    folder = tmp_path / "f"
    _masks(folder, ["a", "n/b"])
    (folder / "n" / "c.json").write_text("{}")
    (folder / "photo.jpg").write_bytes(b"x")
    os.mkfifo(folder / "pipe.json")
    os.mkfifo(folder / "n" / "pipe.png")
    (folder / "n" / "up").symlink_to(folder)  # a loop: a problem of any walk
    listing = list_folder(folder, {".png", ".json", ".jpg"})
    for suffixes, skipped in (
        ({".png"}, {"up", "pipe.png"}),
        ({".json"}, {"up", "pipe.json"}),
        ({".png", ".jpg"}, {"up", "pipe.png"}),
        (None, {"up", "pipe.png", "pipe.json"}),
    ):
        alone: list = []
        expected = walk_files(folder, suffixes, alone)
        reused: list = []
        with reusing(listing):
            found = walk_files(folder, suffixes, reused)
        assert found == expected and reused == alone
        assert {Path(p.file).name for p in alone} == skipped
