"""An image of a COCO file read alone is read from the file as it is then, by offsets found in
the file as it was indexed: a file changed in between is named, never read wrong.

Each case changes a file after ``index`` the way an editor or a second export would, and checks
by hand which images can still be read (those whose bytes and file are as indexed) and which
are named as changed. The offsets themselves are held equal to the whole file's parse, also
for annotations scattered through the file, which are read one by one.
"""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from polymask.errors import AnnotationError
from polymask.formats import coco, coco_scan
from tests.formats.test_coco_items import (
    assert_parts_equal_whole,
    assert_same,
    polygon,
    sample_doc,
)


def entries(path):
    """The index's images as they reach a worker: pickled."""
    return pickle.loads(pickle.dumps(coco.index(path, "k", path.parent).images))


def read(path, entry):
    return coco.load_part(path, "k", path.parent, entry)


def changed(path, entry) -> bool:
    """Whether reading the image names the file as changed (and nothing else)."""
    try:
        read(path, entry)
    except AnnotationError as exc:
        (problem,) = exc.problems
        assert (problem.file, problem.path, problem.code) == (str(path), entry.place, "PM002")
        assert "changed since its images were indexed" in problem.message
        return True
    return False


def rewrite(path, old: bytes, new: bytes, keep_time: bool) -> None:
    """Replace ``old`` (found once) by ``new`` in the file; with ``keep_time``, its size and
    modification time stay as they were (as a copy that keeps times would leave them), else
    it is modified a second later."""
    info = os.stat(path)
    data = path.read_bytes()
    assert data.count(old) == 1
    path.write_bytes(data.replace(old, new))
    later = info.st_mtime_ns + (0 if keep_time else 1_000_000_000)
    os.utime(path, ns=(info.st_atime_ns, later))


@pytest.fixture
def instances(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(sample_doc(), indent=1))
    return path


def test_an_unchanged_file_reads_every_image(instances):
    assert not any(changed(instances, e) for e in entries(instances))


def test_a_changed_coordinate_is_named_even_with_size_and_time_kept(instances):
    """The first annotation of images[0] moved by a pixel, same number of characters: only its
    checksum tells; images[1], whose bytes did not change, reads as before."""
    found = entries(instances)
    before = read(instances, found[1])
    rewrite(instances, b"[\n     4,\n     1,", b"[\n     5,\n     1,", keep_time=True)
    assert os.stat(instances).st_size == len(json.dumps(sample_doc(), indent=1))
    assert changed(instances, found[0])
    assert_same(read(instances, found[1]), before)


def test_a_change_anywhere_is_named_for_every_image(instances):
    """images[1]'s width changed, its annotations not: the image would be drawn on the old
    size; the file's modification time tells."""
    found = entries(instances)
    rewrite(instances, b'"width": 12', b'"width": 13', keep_time=False)
    assert changed(instances, found[0]) and changed(instances, found[1])


def test_a_shorter_file_is_named(instances):
    found = entries(instances)
    data = instances.read_bytes()
    instances.write_bytes(data[: len(data) // 2])
    assert changed(instances, found[0]) and changed(instances, found[1])


def scattered_doc() -> dict:
    """images[0] has annotations at both ends of the file, with 20 kB of images[1]'s between
    them: its spans are read one by one rather than as one block."""
    doc = sample_doc()
    big = {"image_id": "b", "category_id": 1, "segmentation": [polygon(1, 1, 4, 4) * 400]}
    far = {"id": 9, "image_id": 7, "category_id": 1, "segmentation": [polygon(2, 2, 3, 3)]}
    doc["annotations"] = [doc["annotations"][0], *[big] * 5, far, *doc["annotations"][1:]]
    return doc


def test_scattered_annotations_are_read_as_the_whole_file_reads_them(tmp_path):
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(scattered_doc()))
    assert_parts_equal_whole(path)
    found = coco.index(path, "k", tmp_path).images
    rows = found[0].part.rows
    assert [r[2] for r in rows] == [0, 6, 7, 8]  # its annotations, in file order
    assert coco_scan.block(rows) is None  # read one by one
    rewrite(path, b'"id": 9, "image_id": 7', b'"id": 8, "image_id": 7', keep_time=True)
    assert changed(path, found[0])


def test_the_blocks_of_all_images_are_each_images_block():
    """:func:`coco_scan.blocks` (every image at once) says what :func:`coco_scan.block` says
    for each image's rows, on tables of close, far and no annotations."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        counts = rng.integers(0, 4, int(rng.integers(0, 6)))
        sizes = rng.integers(1, 3000, int(counts.sum()))
        gaps = rng.choice([1, 2, 5000], len(sizes))
        starts = np.cumsum(gaps + np.concatenate([[0], sizes[:-1]]))
        table = np.column_stack([starts, starts + sizes]).astype(np.int64)
        ends = np.cumsum(counts)
        begins = ends - counts
        expected = [coco_scan.block(table[a:b].tolist()) for a, b in zip(begins, ends, strict=True)]
        assert coco_scan.blocks(table, begins, ends) == expected


def test_a_remote_file_is_checked_by_its_bytes(tmp_path):
    """A file in a store has no modification time to compare: the checksum of the image's own
    bytes tells the change."""
    pytest.importorskip("upath", reason="the dask extra (universal-pathlib) is not installed")
    import fsspec

    from polymask.io.storage import as_path

    fs = fsspec.filesystem("memory")
    text = json.dumps(sample_doc(), indent=1).encode()
    fs.pipe("/polymask-parts/instances.json", text)
    try:
        path = as_path("memory://polymask-parts/instances.json")
        found = [pickle.loads(pickle.dumps(e)) for e in coco.index(path, "k", path.parent).images]
        assert found[0].part.stamp is None
        assert not changed(path, found[0])
        moved = text.replace(b"[\n     4,\n     1,", b"[\n     5,\n     1,")
        fs.pipe("/polymask-parts/instances.json", moved)
        assert changed(path, found[0]) and not changed(path, found[1])
    finally:
        fs.rm("/polymask-parts", recursive=True)
