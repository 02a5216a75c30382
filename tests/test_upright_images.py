"""A phone photo stored sideways (EXIF orientation 6) is annotated upright, as LabelMe and CVAT
show it: its overlay, its error map and its training sample all put the picture in that frame,
the frame of the mask burned from the annotation. The expected pictures are the stored pixels
turned by numpy (``np.rot90``), independent of Pillow's EXIF handling."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import ExifTags, Image

from polymask.cli.main import cli
from polymask.io.images import ImageReadError, read_upright
from polymask.io.masks import read_mask
from polymask.visualize import error_map, overlay, write_error_map
from tests.helpers import labelme_shape, write_labelme

STORED = (16, 24)
"""(height, width) of the stored pixels: landscape as the sensor wrote them."""


def _sideways_photo(path):
    """A JPEG whose left third is bright, stored landscape with orientation 6 (turn 90 degrees
    clockwise to view): upright it is portrait, bright in its top third. Returns the stored
    pixels as Pillow decodes them, EXIF ignored."""
    stored = np.full((*STORED, 3), 40, np.uint8)
    stored[:, :8] = 230
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    Image.fromarray(stored).save(path, "JPEG", quality=95, exif=exif)
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


@pytest.fixture
def photo(tmp_path):
    """The photo and its LabelMe annotation, a rectangle over the bright top third drawn on the
    upright (portrait) picture; returns (folder, upright pixels)."""
    folder = tmp_path / "data"
    folder.mkdir()
    stored = _sideways_photo(folder / "photo.jpg")
    upright = np.rot90(stored, -1)  # orientation 6: a quarter turn clockwise
    height, width = upright.shape[:2]
    assert (width, height) == (16, 24)
    sky = labelme_shape("sky", [(0, 0), (15, 7)], kind="rectangle")
    write_labelme(folder / "photo.json", [sky], width=width, height=height, image_path="photo.jpg")
    return folder, upright


def test_the_overlay_shows_the_photo_upright_under_its_mask(photo, tmp_path):
    folder, upright = photo
    out, over = tmp_path / "masks", tmp_path / "over"
    r = CliRunner().invoke(
        cli, ["rasterize", str(folder), "-o", str(out), "--overlay", str(over), "--workers", "1"]
    )
    assert r.exit_code == 0, r.output
    assert "no overlay" not in r.output
    mask = read_mask(out / "photo.png")
    assert mask.shape == upright.shape[:2]
    assert (mask[:8] == 1).all() and (mask[8:] == 0).all()  # the bright third, class 1
    with Image.open(over / "photo.jpg") as img:
        written = np.asarray(img.convert("RGB")).astype(int)
    expected = overlay(upright, mask).astype(int)
    turned_back = overlay(np.rot90(upright, 2), mask).astype(int)  # bright third at the bottom
    assert np.abs(written - expected).mean() < 8  # JPEG's loss of the overlay
    assert np.abs(written - turned_back).mean() > 40


def test_the_training_sample_is_upright_and_matches_the_mask(photo, tmp_path):
    pytest.importorskip("torch")
    from polymask.training import SegmentationDataset

    folder, upright = photo
    image, mask = SegmentationDataset.from_annotations(folder, labels=["sky"], tensors=False)[0]
    np.testing.assert_array_equal(image, upright)
    assert (mask[:8] == 1).all() and (mask[8:] == 0).all()
    assert image[mask == 1].mean() > 200 and image[mask == 0].mean() < 70


def test_the_error_map_is_drawn_on_the_upright_photo(photo, tmp_path):
    folder, upright = photo
    gt = np.zeros(upright.shape[:2], np.uint8)
    gt[:8] = 1
    pred = np.zeros_like(gt)  # every sky pixel missed
    path = write_error_map(tmp_path / "errors", "photo", gt, pred, None, folder)
    with Image.open(path) as img:
        written = np.asarray(img.convert("RGB"))
    np.testing.assert_array_equal(written, error_map(gt, pred, None, upright))


def test_a_photo_of_another_size_upright_is_named(photo):
    folder, _ = photo
    with pytest.raises(ImageReadError, match=r"photo.jpg: image is 16x24, its mask 24x16"):
        read_upright(folder / "photo.jpg", (24, 16), str(folder / "photo.jpg"), 3)


def test_a_size_taken_from_the_photo_is_its_upright_size(photo, tmp_path):
    """An annotation that declares no size takes the photo's: the upright one, the frame its
    polygons were drawn in, so the mask stands as the photo does."""
    import json

    folder, upright = photo
    doc = json.loads((folder / "photo.json").read_text())
    doc["imageWidth"] = doc["imageHeight"] = None
    (folder / "photo.json").write_text(json.dumps(doc))
    out = tmp_path / "masks"
    r = CliRunner().invoke(cli, ["rasterize", str(folder), "-o", str(out), "--workers", "1"])
    assert r.exit_code == 0, r.output
    mask = read_mask(out / "photo.png")
    assert mask.shape == upright.shape[:2] == (24, 16)
    assert (mask[:8] == 1).all() and (mask[8:] == 0).all()


def test_the_score_page_shows_the_photo_upright(photo):
    from polymask.report.html.gallery import load_photo

    folder, upright = photo
    shown = load_photo(folder / "photo.jpg", upright.shape[:2], (12, 8)).astype(int)
    halved = upright.reshape(12, 2, 8, 2, 3).mean(axis=(1, 3))  # BOX resampling by 2
    assert np.abs(shown - halved).mean() < 3
    assert shown[:4].mean() > 200 and shown[4:].mean() < 70  # the bright third on top
    assert "upright" in load_photo(folder / "photo.jpg", (16, 24), (8, 12))
