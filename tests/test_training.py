"""polymask.training: samples equal to what ``rasterize`` writes, joint transforms that keep
image and maps together, class weights equal to ``polymask stats``', and the training example.

The truth for class maps is the mask ``polymask rasterize`` writes for the same files (itself
held to LabelMe's, pycocotools' and GDAL's pixels by the conformance tests); for images, Pillow
reading the file; for weights, the stats report and the formulas worked by hand.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import pickle
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from polymask.cli.main import cli
from polymask.errors import AnnotationError
from polymask.io.masks import read_mask, write_png
from polymask.training import (
    RandomCrop,
    Resize,
    SampleError,
    SegmentationDataset,
    class_weights,
    pad_to,
)
from polymask.training import data as data_module
from polymask.training import transforms as transforms_module
from tests.conftest import REPO

torch = pytest.importorskip("torch")

EXAMPLES = REPO / "examples" / "labelme"
SCENE = REPO / "tests" / "formats" / "scene"


def rasterize(out, *args) -> None:
    result = CliRunner().invoke(cli, ["rasterize", *map(str, args), "-o", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output


def pillow_rgb(path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def labelme_file(folder, name, shapes, size=(8, 6), image=True) -> None:
    """A LabelMe file ``name.json`` with rectangles ``(label, x0, y0, x1, y1)`` and, when
    ``image``, a PNG of ``size`` beside it."""
    width, height = size
    doc = {
        "version": "5.7.0",
        "flags": {},
        "shapes": [
            {
                "label": label,
                "points": [[x0, y0], [x1, y1]],
                "group_id": None,
                "shape_type": "rectangle",
                "flags": {},
            }
            for label, x0, y0, x1, y1 in shapes
        ],
        "imagePath": f"{name}.png",
        "imageData": None,
        "imageHeight": height,
        "imageWidth": width,
    }
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(doc))
    if image:
        pixels = np.random.default_rng(len(name)).integers(0, 256, (height, width, 3), np.uint8)
        Image.fromarray(pixels).save(folder / f"{name}.png")


def test_importing_the_package_loads_no_torch():
    code = "import sys, polymask.training; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- class maps and images equal rasterize's ----------------------------------------------------

CONFORMANCE_SETS = [
    ("annotations", "labels.txt"),
    ("instance/annotations", "instance/labels.txt"),
    ("primitives", None),
    ("tutorial_apc2016_obj3", None),
]


@pytest.mark.parametrize("folder, labels", CONFORMANCE_SETS)
def test_conformance_samples_equal_rasterize_output(conformance, tmp_path, folder, labels):
    root = conformance / "labelme"
    given = ["--labels", root / labels] if labels else []
    rasterize(tmp_path / "masks", root / folder, *given, "--instances", tmp_path / "inst")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = SegmentationDataset.from_annotations(
            root / folder,
            labels=root / labels if labels else None,
            instances=True,
            tensors=False,
            workers=1,
        )
    noted = [w for w in caught if "class ids were numbered" in str(w.message)]
    assert len(noted) == (0 if labels else 1)  # discovered ids are said to be so
    assert data.keys == sorted(p.stem for p in (tmp_path / "masks").glob("*.png"))
    for key, (image, classes, instances) in zip(data.keys, data, strict=True):
        np.testing.assert_array_equal(classes, read_mask(tmp_path / "masks" / f"{key}.png"))
        np.testing.assert_array_equal(instances, read_mask(tmp_path / "inst" / f"{key}.png"))
        doc = json.loads(next((root / folder).glob(f"{key}.json")).read_text())
        if doc.get("imageData"):
            picture = pillow_rgb(io.BytesIO(base64.b64decode(doc["imageData"])))
        else:
            picture = pillow_rgb(root / folder / doc["imagePath"])
        np.testing.assert_array_equal(image, picture)
    assert len(np.unique(classes)) > 2  # the last sample holds classes: the test can fail


@pytest.mark.parametrize(
    "name", ["labelme.json", "coco.json", "cvat.xml", "via.json", "scene.geojson"]
)
def test_every_format_with_an_image_gives_rasterize_masks(tmp_path, name):
    labels = tmp_path / "labels.txt"
    labels.write_text("__ignore__\n_background_\nbuilding\ncar\ntree\n")
    rasterize(tmp_path / "masks", SCENE / name, "--labels", labels)
    data = SegmentationDataset.from_annotations(SCENE / name, labels=labels, workers=1)
    (key,) = data.keys
    image, classes = data[0]
    expected = read_mask(tmp_path / "masks" / f"{key}.png")
    assert set(np.unique(expected)) == {0, 1, 2, 3}
    assert classes.dtype == torch.int64 and image.dtype == torch.float32
    np.testing.assert_array_equal(classes.numpy(), expected)
    rgb = pillow_rgb(SCENE / "scene.png")
    assert image.shape == (3, *rgb.shape[:2])
    np.testing.assert_array_equal(image.numpy(), rgb.transpose(2, 0, 1) / np.float32(255))


def test_an_annotation_without_an_image_names_itself(tmp_path):
    """Label Studio exports name their images by URL: the mask is made, the image is not."""
    labels = tmp_path / "labels.txt"
    labels.write_text("building\ncar\ntree\n")
    data = SegmentationDataset.from_annotations(SCENE / "label-studio.json", labels=labels)
    with pytest.raises(SampleError, match="label-studio.json.*no image to read for 'scene'"):
        data[0]


def test_from_folders_reads_what_rasterize_wrote(tmp_path):
    labels = EXAMPLES / "labels.txt"
    rasterize(tmp_path / "masks", EXAMPLES, "--labels", labels, "--instances", tmp_path / "inst")
    read = SegmentationDataset.from_folders(
        EXAMPLES, tmp_path / "masks", instances_dir=tmp_path / "inst"
    )
    burned = SegmentationDataset.from_annotations(EXAMPLES, labels, instances=True, workers=1)
    assert read.keys == burned.keys and len(read) == 6
    assert read.label_map == burned.label_map and read.num_classes == 8
    for a, b in zip(read, burned, strict=True):
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x, y)


def test_from_folders_names_each_mask_without_its_image(tmp_path):
    write_png(tmp_path / "masks" / "a.png", np.zeros((2, 3), np.uint8))
    write_png(tmp_path / "masks" / "sub" / "b.png", np.zeros((2, 3), np.uint8))
    Image.new("RGB", (3, 2)).save(tmp_path / "images.png")  # not below images/
    (tmp_path / "images").mkdir()
    Image.new("RGB", (3, 2)).save(tmp_path / "images" / "a.jpg")
    Image.new("RGB", (3, 2)).save(tmp_path / "images" / "a.png")
    with pytest.raises(AnnotationError) as err:
        SegmentationDataset.from_folders(tmp_path / "images", tmp_path / "masks")
    message = str(err.value)
    assert "a.png: two images to pair with this mask" in message
    assert "b.png: no image sub/b.* below" in message


def test_bad_inputs_are_named(tmp_path):
    labelme_file(tmp_path / "a", "x", [("cat", 1, 1, 3, 3)])
    labelme_file(tmp_path / "b", "x", [("cat", 1, 1, 3, 3)])
    with pytest.raises(AnnotationError, match="output name 'x' is also made by"):
        SegmentationDataset.from_annotations([tmp_path / "a" / "x.json", tmp_path / "b"])

    labelme_file(tmp_path / "c", "small", [("cat", 1, 1, 3, 3)], size=(8, 6))
    doc = json.loads((tmp_path / "c" / "small.json").read_text())
    (tmp_path / "c" / "small.json").write_text(json.dumps({**doc, "imageWidth": 9}))
    labelme_file(tmp_path / "c", "unknown", [("dog", 1, 1, 3, 3)])
    (tmp_path / "c" / "broken.json").write_text('{"shapes": [')
    data = SegmentationDataset.from_annotations(tmp_path / "c", labels=["cat"])
    assert data.keys == ["broken", "small", "unknown"]
    with pytest.raises(SampleError, match="broken.json"):
        data[0]
    with pytest.raises(SampleError, match=r"small.png \(image of .*small.json\): image is 8x6"):
        data[1]
    with pytest.raises(SampleError, match="label 'dog' is not in the label map"):
        data[2]
    with pytest.raises(IndexError):
        data[3]


def test_images_are_turned_upright_by_their_exif_orientation(tmp_path):
    """Annotation tools show a photo upright, so its polygons are drawn in that frame."""
    from PIL import ExifTags

    stored = np.random.default_rng(1).integers(0, 256, (6, 8, 3), np.uint8)
    for orientation, upright in ((3, np.rot90(stored, 2)), (6, np.rot90(stored, -1))):
        folder = tmp_path / str(orientation)
        height, width = upright.shape[:2]
        labelme_file(folder, "photo", [("cat", 1, 1, 2, 2)], size=(width, height), image=False)
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = orientation
        Image.fromarray(stored).save(folder / "photo.png", exif=exif)
        data = SegmentationDataset.from_annotations(folder, labels=["cat"], tensors=False)
        np.testing.assert_array_equal(data[0][0], upright)


# ---- DataLoader workers, determinism -------------------------------------------------------------


def _cropped_batches(context: str, seed: int) -> list:
    """Every tensor of one shuffled epoch of random crops through 2 workers."""
    from torch.utils.data import DataLoader

    cropped = SegmentationDataset.from_annotations(
        EXAMPLES, EXAMPLES / "labels.txt", transform=RandomCrop(48), cache=4, workers=1
    )
    loader = DataLoader(
        cropped,
        batch_size=3,
        shuffle=True,
        num_workers=2,
        multiprocessing_context=context,
        generator=torch.Generator().manual_seed(seed),
    )
    return [t for batch in loader for t in batch]


def test_fork_workers_give_the_samples_and_repeat_themselves():
    from torch.utils.data import DataLoader

    plain = SegmentationDataset.from_annotations(EXAMPLES, EXAMPLES / "labels.txt", workers=1)
    loader = DataLoader(plain, batch_size=2, num_workers=2, multiprocessing_context="fork")
    for i, (images, masks) in enumerate(loader):
        for j in range(2):
            image, mask = plain[2 * i + j]
            assert torch.equal(images[j], image) and torch.equal(masks[j], mask)
    first, again, other = (_cropped_batches("fork", seed) for seed in (0, 0, 1))
    assert first[0].shape == (3, 3, 48, 48) and first[1].shape == (3, 48, 48)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(first, other, strict=True))


def test_spawn_workers_give_what_fork_workers_give():
    """Under spawn the dataset reaches the workers pickled: same seed, same tensors."""
    spawned, forked = _cropped_batches("spawn", 0), _cropped_batches("fork", 0)
    assert all(torch.equal(a, b) for a, b in zip(spawned, forked, strict=True))


def test_the_dataset_pickles_without_its_cache():
    data = SegmentationDataset.from_annotations(EXAMPLES, EXAMPLES / "labels.txt", cache=6)
    _ = data[0]
    assert len(data._cached) == 1
    copy = pickle.loads(pickle.dumps(data))
    assert len(copy._cached) == 0
    assert all(torch.equal(a, b) for a, b in zip(copy[0], data[0], strict=True))


# ---- the cache -----------------------------------------------------------------------------------


def test_cache_reuses_maps_and_never_serves_an_edited_file(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    for name in ("a", "b", "c"):
        labelme_file(folder, name, [("cat", 1, 1, 3, 3)])
    burns = []
    real_burn = data_module.burn_item
    monkeypatch.setattr(
        data_module, "burn_item", lambda *a, **k: burns.append(1) or real_burn(*a, **k)
    )
    data = SegmentationDataset.from_annotations(folder, labels=["cat", "dog"], cache=2)
    first = data[0][1]
    assert torch.equal(data[0][1], first) and len(burns) == 1  # the second came from the cache
    _ = data[1], data[2]
    assert len(burns) == 3 and list(data._cached) == [1, 2]  # 0 was the least recently used
    _ = data[0]
    assert len(burns) == 4 and list(data._cached) == [2, 0]

    labelme_file(folder, "c", [("dog", 0, 0, 5, 4)], image=False)  # cached; same size, new shapes
    rasterize(tmp_path / "masks", folder, "--labels", _labels(tmp_path, "cat", "dog"))
    edited = data[2][1]
    assert len(burns) == 5
    np.testing.assert_array_equal(edited.numpy(), read_mask(tmp_path / "masks" / "c.png"))
    assert edited.max() == 2


def _labels(folder, *names):
    path = folder / "labels.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def test_cache_returns_copies():
    data = SegmentationDataset.from_annotations(
        EXAMPLES, EXAMPLES / "labels.txt", tensors=False, cache=2
    )
    classes = data[0][1]
    expected = classes.copy()
    classes[:] = 99  # a transform working in place
    np.testing.assert_array_equal(data[0][1], expected)


# ---- joint transforms ----------------------------------------------------------------------------


class FlipTorchvisionStyle:
    """A hand-written transform in torchvision's convention: positional tensors in and out."""

    def __call__(self, image, *maps):
        return (image.flip(-1), *(m.flip(-1) for m in maps))


def test_torchvision_style_transform_moves_every_map(tmp_path):
    plain = SegmentationDataset.from_annotations(EXAMPLES, EXAMPLES / "labels.txt", instances=True)
    flipped = SegmentationDataset.from_annotations(
        EXAMPLES, EXAMPLES / "labels.txt", instances=True, transform=FlipTorchvisionStyle()
    )
    for a, b in zip(plain[0], flipped[0], strict=True):
        assert torch.equal(a.flip(-1), b)
        assert not torch.equal(a, b)


def test_torchvision_transforms_receive_tv_tensors_and_return_plain_ones(monkeypatch):
    """torchvision's v2 transforms pass plain tensors after the first through untouched: the
    maps must arrive as ``tv_tensors.Mask``. A stand-in module checks what is handed over."""

    class Image(torch.Tensor):
        def __new__(cls, tensor):
            return tensor.as_subclass(cls)

    class Mask(Image):
        pass

    tv = types.SimpleNamespace(Image=Image, Mask=Mask)
    monkeypatch.setattr(transforms_module, "tv_tensors", lambda: tv)
    seen = []

    def transform(image, classes):
        seen.append((type(image).__name__, type(classes).__name__))
        return image, classes

    data = SegmentationDataset.from_annotations(
        EXAMPLES, EXAMPLES / "labels.txt", transform=transform
    )
    image, classes = data[0]
    assert seen == [("Image", "Mask")]
    assert type(image) is torch.Tensor and type(classes) is torch.Tensor


def albumentations_style_flip(image, mask, masks=()):
    return {"image": image[:, ::-1], "mask": mask[:, ::-1], "masks": [m[:, ::-1] for m in masks]}


def test_albumentations_style_transform_by_flag():
    plain = SegmentationDataset.from_annotations(
        EXAMPLES, EXAMPLES / "labels.txt", instances=True, tensors=False
    )
    flipped = SegmentationDataset.from_annotations(
        EXAMPLES,
        EXAMPLES / "labels.txt",
        instances=True,
        transform=albumentations_style_flip,
        transform_style="albumentations",
    )
    image, classes, instances = plain[0]
    f_image, f_classes, f_instances = flipped[0]
    np.testing.assert_array_equal(
        f_image.numpy(), image[:, ::-1].transpose(2, 0, 1) / np.float32(255)
    )
    np.testing.assert_array_equal(f_classes.numpy(), classes[:, ::-1])
    np.testing.assert_array_equal(f_instances.numpy(), instances[:, ::-1])


def test_albumentations_itself_is_detected_and_pads_with_the_ignore_index():
    A = pytest.importorskip("albumentations")
    cv2 = pytest.importorskip("cv2")
    transform = A.Compose(
        [
            A.HorizontalFlip(p=1),
            A.PadIfNeeded(
                min_height=400,
                min_width=512,
                position="top_left",
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=255,
            ),
        ]
    )
    plain = SegmentationDataset.from_annotations(EXAMPLES, EXAMPLES / "labels.txt", tensors=False)
    data = SegmentationDataset.from_annotations(
        EXAMPLES, EXAMPLES / "labels.txt", transform=transform
    )
    assert data.transform_style == "albumentations"
    image, classes = plain[0]
    t_image, t_classes = data[0]
    assert t_image.shape == (3, 400, 512) and t_classes.shape == (400, 512)
    expected = np.full((400, 512), 255)
    expected[:360, :480] = classes[:, ::-1]
    np.testing.assert_array_equal(t_classes.numpy(), expected)
    np.testing.assert_array_equal(
        t_image[:, :360, :480].numpy(), image[:, ::-1].transpose(2, 0, 1) / np.float32(255)
    )
    assert t_image[:, 360:].abs().sum() == 0


def test_random_crop_takes_one_window_of_everything_and_pads_with_ignore():
    image = torch.arange(3 * 5 * 7, dtype=torch.float32).reshape(3, 5, 7)
    classes = torch.arange(35).reshape(5, 7)
    instances = torch.arange(35).reshape(5, 7) + 100
    torch.manual_seed(3)
    out = RandomCrop((4, 3))(image, classes, instances)
    torch.manual_seed(3)
    top, left = int(torch.randint(2, ())), int(torch.randint(5, ()))
    assert torch.equal(out[0], image[:, top : top + 4, left : left + 3])
    assert torch.equal(out[1], classes[top : top + 4, left : left + 3])
    assert torch.equal(out[2], instances[top : top + 4, left : left + 3])

    image8, classes8, instances8 = RandomCrop(8, fill=0.5)(image, classes, instances)
    assert torch.equal(classes8[:5, :7], classes) and (classes8[5:] == 255).all()
    assert (classes8[:, 7:] == 255).all() and (instances8[5:] == 0).all()
    assert (image8[:, :, 7:] == 0.5).all() and torch.equal(image8[:, :5, :7], image)
    padded = pad_to((6, 7), image, classes, ignore_index=9)
    assert padded[1].shape == (6, 7) and (padded[1][5] == 9).all()
    with pytest.raises(ValueError, match="maps of the image's size"):
        RandomCrop(2)(image, classes[:4])


def test_resize_matches_pillow_nearest_for_maps_and_bilinear_for_images():
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 9, (37, 53)).astype(np.uint8)
    picture = rng.integers(0, 256, (37, 53, 3)).astype(np.uint8)
    for size in ((20, 31), (80, 111)):
        image, mask = Resize(size)(
            torch.from_numpy(picture).permute(2, 0, 1), torch.from_numpy(classes).long()
        )
        nearest = Image.fromarray(classes).resize(size[::-1], Image.NEAREST)
        np.testing.assert_array_equal(mask.numpy(), np.asarray(nearest))
        assert mask.dtype == torch.int64 and image.dtype == torch.uint8
        bilinear = np.asarray(Image.fromarray(picture).resize(size[::-1], Image.BILINEAR))
        diff = np.abs(image.permute(1, 2, 0).numpy().astype(int) - bilinear)
        assert diff.max() <= 1  # rounding of the last bit differs


# ---- class weights -------------------------------------------------------------------------------


def _hand_masks(folder):
    """Two 2x4 masks of classes 0, 1 and 3 (no class 2): see the expected weights below."""
    write_png(folder / "a.png", np.array([[0, 0, 0, 0], [1, 1, 3, 3]], np.uint8))
    write_png(folder / "b.png", np.array([[0, 0, 0, 0], [0, 0, 3, 3]], np.uint8))
    (folder / "labels.txt").write_text("0 _background_\n1 cat\n3 dog\n")


def test_weights_by_hand_in_class_id_order(tmp_path):
    _hand_masks(tmp_path)
    # pixels 10, 2, 4 for ids 0, 1, 3; P_c (pixels of the images holding c) 16, 8, 16
    # median frequency: freq 0.625, 0.25, 0.25, median 0.25: raw 0.4, 1, 1, mean 0.8
    median = class_weights(tmp_path, "median_frequency")
    np.testing.assert_allclose(median.numpy(), [0.5, 1.25, 0, 1.25], rtol=1e-6)
    # inverse frequency: raw 1/10, 1/2, 1/4, mean 17/60
    inverse = class_weights(tmp_path, "inverse_frequency")
    np.testing.assert_allclose(inverse.numpy(), [6 / 17, 30 / 17, 0, 15 / 17], rtol=1e-6)
    assert median.dtype == torch.float32
    padded = class_weights(tmp_path, "median_frequency", num_classes=6)
    np.testing.assert_allclose(padded.numpy(), [0.5, 1.25, 0, 1.25, 0, 0], rtol=1e-6)
    with pytest.raises(ValueError, match="class id 3 has a weight"):
        class_weights(tmp_path, num_classes=3)
    with pytest.raises(ValueError, match="`scheme`"):
        class_weights(tmp_path, "inverse")


def test_weights_equal_the_stats_report_for_sparse_ids(tmp_path):
    """Annotations with the ids 0, 1 and 3: the tensor from the dataset, from the masks
    rasterize wrote and from ``polymask stats --json`` is one, and entry c is class id c."""
    labels = tmp_path / "labels.txt"
    labels.write_text("0 _background_\n1 cat\n3 dog\n")
    labelme_file(tmp_path / "data", "a", [("cat", 0, 0, 3, 2), ("dog", 4, 1, 7, 5)])
    labelme_file(tmp_path / "data", "b", [("dog", 1, 1, 2, 4)])
    rasterize(tmp_path / "masks", tmp_path / "data", "--labels", labels)
    report = tmp_path / "stats.json"
    args = ["stats", str(tmp_path / "masks"), "--json", str(report), "-j", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    classes = json.loads(report.read_text())["classes"]
    assert [c["id"] for c in classes] == [0, 1, 3]
    data = SegmentationDataset.from_annotations(tmp_path / "data", labels=labels, workers=1)
    for scheme in ("inverse_frequency", "median_frequency", "effective_number", "generalized_dice"):
        from_report = class_weights(report, scheme)
        assert from_report.shape == (4,) and from_report[2] == 0
        for c in classes:
            assert from_report[c["id"]] == pytest.approx(c["weights"][scheme], rel=1e-6)
        assert torch.equal(class_weights(data, scheme), from_report)
        assert torch.equal(class_weights(tmp_path / "masks", scheme), from_report)
    with pytest.raises(ValueError, match="made with beta 0.9999, not 0.5"):
        class_weights(report, "effective_number", beta=0.5)
    assert not torch.equal(
        class_weights(data, "effective_number", beta=0.5), class_weights(report, "effective_number")
    )
    bad = tmp_path / "score.json"
    bad.write_text('{"images": 3}')
    with pytest.raises(ValueError, match="score.json: not a polymask stats --json report"):
        class_weights(bad)


def test_the_losses_take_the_weights(tmp_path):
    from polymask.losses import DiceCELoss

    data = SegmentationDataset.from_annotations(EXAMPLES, EXAMPLES / "labels.txt", workers=1)
    weights = class_weights(data, "median_frequency")
    assert weights.shape == (data.num_classes,)
    image, classes = data[0]
    logits = torch.zeros(1, data.num_classes, *classes.shape, requires_grad=True)
    loss = DiceCELoss(weight=weights)(logits, classes[None])
    loss.backward()
    assert torch.isfinite(loss) and logits.grad.abs().sum() > 0


# ---- the training example and the benchmark ------------------------------------------------------


def test_training_example_learns_and_beats_an_all_background_prediction(
    tmp_path, capsys, monkeypatch
):
    spec = importlib.util.spec_from_file_location("train_example", REPO / "examples" / "train.py")
    train = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, train)  # its dataclass looks itself up there
    spec.loader.exec_module(train)
    outcome = train.train(steps=30, out=tmp_path, fail_under=0.0, log_every=10)
    assert outcome.exit_code == 0
    assert np.mean(outcome.losses[-5:]) < np.mean(outcome.losses[:5])
    assert "steps   21-30   mean loss" in capsys.readouterr().out

    background = tmp_path / "background"
    for mask in (tmp_path / "masks").rglob("*.png"):
        rel = mask.relative_to(tmp_path / "masks")
        write_png(background / rel, np.zeros_like(read_mask(mask)))
    result = CliRunner().invoke(
        cli, ["score", str(background), str(tmp_path / "masks"), "--output-format", "json"]
    )
    baseline = json.loads(result.stdout)["summary"]["global"]["dice"]
    assert baseline == 0.0
    assert outcome.dice > baseline + 0.2


def test_benchmark_runs_and_reports(tmp_path, monkeypatch, capsys):
    from benchmarks import train_data

    argv = [
        "train_data",
        "--images",
        "2",
        "--repeat",
        "1",
        "--workers",
        "0",
        "--data",
        str(tmp_path),
    ]
    monkeypatch.setattr(sys, "argv", argv)
    train_data.main()
    out = capsys.readouterr().out
    assert "| 0 |" in out and "maps alone" in out
    burned = SegmentationDataset.from_annotations(tmp_path / "labelme", tmp_path / "labels.txt")
    read = SegmentationDataset.from_folders(tmp_path / "labelme", tmp_path / "masks")
    for a, b in zip(burned, read, strict=True):
        assert torch.equal(a[1], b[1])  # the two ways time the same masks
