"""Without a label map, the labels of one-image files come from the pass that indexes the
dataset: each LabelMe file is opened there once for its format and once for its labels, where a
separate pass for the labels opened it twice more, and only its label names are kept. Where a
map is fixed before reading (``--labels``, or the masks' ``labels.txt`` of ``rasterize
--check``), no file is read for its labels at all."""

from __future__ import annotations

import io
import json
from collections import Counter

import pytest

from polymask.dataset import dataset_label_map, read_dataset
from polymask.formats import find_inputs
from polymask.settings import Settings
from tests.helpers import labelme_shape, write_labelme


def _square(label, x=1):
    return labelme_shape(label, [(x, 1), (x + 3, 1), (x + 3, 4), (x, 4)])


@pytest.fixture
def folder(tmp_path):
    """Three LabelMe files, one of them unreadable, and a COCO file of two images."""
    data = tmp_path / "data"
    write_labelme(data / "a.json", [_square("cat"), _square("dog", 5)], width=12, height=8)
    write_labelme(data / "b.json", [_square("zebra")], width=12, height=8)
    write_labelme(data / "sub" / "c.json", [_square("ant"), _square("cat", 6)], width=12, height=8)
    (data / "broken.json").write_text('{"shapes": [{"label": "yak"')  # labels of no image
    coco = {
        "images": [
            {"id": 1, "file_name": "p.jpg", "width": 12, "height": 8},
            {"id": 2, "file_name": "q.jpg", "width": 12, "height": 8},
        ],
        "categories": [{"id": 1, "name": "bee"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 4, 1, 4, 4]]}
        ],
    }
    (data / "coco.json").write_text(json.dumps(coco))
    return data


@pytest.fixture
def opens(monkeypatch):
    """File name -> how many times it was opened (pathlib opens through ``io.open``)."""
    counts: Counter[str] = Counter()
    real = io.open

    def counting(file, *args, **kwargs):
        counts[getattr(file, "name", str(file))] += 1
        return real(file, *args, **kwargs)

    monkeypatch.setattr(io, "open", counting)
    return counts


def test_each_labelme_file_is_read_once_for_its_format_and_labels(folder, opens):
    settings = Settings(workers=1)
    files = find_inputs([folder])
    data = read_dataset(files, settings)
    label_map, note = dataset_label_map(settings, data)
    for name in ("a.json", "b.json", "c.json", "broken.json"):
        assert opens[name] == 2, name  # its first bytes (the format), then the whole file
    # COCO declares bee's id; the labels found are numbered after it, sorted; the broken file
    # gives none (its yak has no image to be burned in)
    assert label_map.ids == {"bee": 1, "ant": 2, "cat": 3, "dog": 4, "zebra": 5}
    assert "4 labels found" in note
    labelme_items = [i for i in data.items if i.fmt == "labelme"]
    assert [i.key for i in labelme_items] == ["a", "b", "broken", "sub/c"]
    assert all(i.annotation is None for i in labelme_items)  # names kept, shapes not
    assert data.labels.seen["cat"] == (str(folder / "a.json"), "shapes[0]")


def test_the_masks_labels_txt_reads_no_labelme_file_while_indexing(folder, opens, tmp_path):
    """``rasterize --check`` without ``--labels`` takes the map the masks were made with."""
    masks = tmp_path / "masks"
    masks.mkdir()
    (masks / "labels.txt").write_text("_background_\ncat\ndog\nzebra\nant\nbee\n")
    settings = Settings(workers=1)
    data = read_dataset(find_inputs([folder]), settings, masks=[masks])
    assert opens["a.json"] == 1  # its format only
    label_map, note = dataset_label_map(settings, data, [masks])
    assert label_map.ids["ant"] == 4 and note is None


def test_a_given_map_reads_no_labelme_file_while_indexing(folder, opens):
    settings = Settings(workers=1, labels=("cat", "dog", "zebra", "ant", "bee"))
    data = read_dataset(find_inputs([folder]), settings)
    assert opens["a.json"] == 1  # its format only: it is read where it is burned
    assert dataset_label_map(settings, data)[0].ids["ant"] == 4
