"""``score`` on what models and teams really keep: annotations and COCO results files as
predictions or ground truth, and the confusion matrix.

Truth here is independent of polymask's drawing: pycocotools decodes and paints the COCO cases,
the brute-force reference (tests/score_reference.py) counts them, and the annotation cases are
held equal to rasterizing first and scoring the masks.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.io.masks import write_png
from polymask.score.run import score_folders
from tests.helpers import labelme_shape, write_labelme
from tests.score_reference import score_reference

CATEGORIES = [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}, {"id": 7, "name": "bird"}]
SIZES = {1: (40, 30), 2: (50, 20), 5: (30, 30)}  # image id -> (width, height)


def _poly(x0, y0, x1, y1):
    return [[x0, y0, x1, y0, x1, y1, x0, y1]]


def _coco_gt(path):
    images = [
        {"id": i, "file_name": f"img{i}.jpg", "width": w, "height": h}
        for i, (w, h) in SIZES.items()
    ]
    anns = [
        (1, 1, _poly(2, 2, 20, 15)),
        (1, 3, _poly(15, 10, 35, 28)),
        (2, 7, _poly(5, 3, 45, 12)),
        (2, 1, _poly(30, 5, 48, 18)),
        (5, 3, [[3, 3, 25, 4, 14, 26]]),
    ]
    annotations = [
        {"id": n + 1, "image_id": i, "category_id": c, "segmentation": s, "iscrowd": 0}
        for n, (i, c, s) in enumerate(anns)
    ]
    doc = {"images": images, "annotations": annotations, "categories": CATEGORIES}
    path.write_text(json.dumps(doc))
    return doc


def _results(gt_doc):
    """Detections in every segmentation form: polygons, compressed and uncompressed RLE,
    overlapping, with scores out of file order."""
    mask_util = pytest.importorskip("pycocotools.mask")
    out = []
    for ann in gt_doc["annotations"]:
        w, h = SIZES[ann["image_id"]]
        shifted = [[v + 1.5 for v in ann["segmentation"][0]]]
        out.append(
            {
                "image_id": ann["image_id"],
                "category_id": ann["category_id"],
                "segmentation": shifted,
                "score": 0.9 - 0.1 * ann["id"],
            }
        )
    # an overlapping detection of another class, compressed RLE, more confident than image 1's
    m = np.zeros((30, 40), np.uint8, order="F")
    m[5:20, 10:30] = 1
    rle = mask_util.encode(np.asfortranarray(m))
    rle["counts"] = rle["counts"].decode("ascii")
    out.append({"image_id": 1, "category_id": 7, "segmentation": rle, "score": 0.95})
    # the same region less confident than everything: painted first, under the others
    out.append({"image_id": 1, "category_id": 3, "segmentation": dict(rle), "score": 0.05})
    # uncompressed RLE (column-major run lengths) on image 5
    m5 = np.zeros((30, 30), np.uint8)
    m5[20:28, 2:12] = 1
    flat = m5.flatten(order="F")
    runs, value, n = [], 0, 0
    for v in flat:
        if v != value:
            runs.append(n)
            value, n = v, 0
        n += 1
    runs.append(n)
    out.append(
        {
            "image_id": 5,
            "category_id": 1,
            "segmentation": {"size": [30, 30], "counts": runs},
            "score": 0.5,
        }
    )
    out.append({"image_id": 2, "category_id": 3, "segmentation": _poly(0, 0, 6, 6), "score": 0.01})
    return out


def _pycocotools_maps(gt_path, results, min_score=None):
    """Ground truth painted in file order and predictions lowest score first, each with
    pycocotools' own annToMask: the independent truth."""
    coco_mod = pytest.importorskip("pycocotools.coco")
    gt = coco_mod.COCO(str(gt_path))
    kept = [r for r in results if min_score is None or r["score"] >= min_score]
    pairs = []
    for image_id in sorted(SIZES):
        w, h = SIZES[image_id]
        g = np.zeros((h, w), np.uint8)
        for ann in gt.loadAnns(gt.getAnnIds(imgIds=[image_id])):
            g[gt.annToMask(ann) > 0] = ann["category_id"]
        p = np.zeros((h, w), np.uint8)
        dets = [r for r in kept if r["image_id"] == image_id]
        for det in sorted(dets, key=lambda a: a["score"]):  # stable, as polymask's order
            p[gt.annToMask(det) > 0] = det["category_id"]
        pairs.append((g, p))
    return pairs


@pytest.fixture
def coco_case(tmp_path):
    gt_path = tmp_path / "instances.json"
    doc = _coco_gt(gt_path)
    results = _results(doc)
    res_path = tmp_path / "results.json"
    res_path.write_text(json.dumps(results))
    return gt_path, res_path, results


def _totals(report) -> np.ndarray:
    return np.array([[c.tp, c.fp, c.fn] for c in report.classes], np.int64)


@pytest.mark.parametrize("workers", [1, 2])
def test_coco_results_equal_pycocotools_masks_scored_by_brute_force(coco_case, workers):
    gt_path, res_path, results = coco_case
    result = score_folders(res_path, gt_path, workers=workers)
    ref = score_reference(_pycocotools_maps(gt_path, results), 8, ignore=255)
    assert result.report.images_scored == 3
    assert not result.report.problems
    np.testing.assert_array_equal(_totals(result.report), ref["totals"])
    for cls in result.report.classes:
        expected = ref["global"][cls.id]
        got = cls.metrics.global_.dice
        assert (got is None and math.isnan(expected)) or got == pytest.approx(expected, abs=1e-12)
    # classes are COCO's category ids, named by the ground truth's categories
    assert [c.name for c in result.report.classes if c.id in (1, 3, 7)] == ["cat", "dog", "bird"]


def test_min_score_drops_low_confidence_detections(coco_case):
    gt_path, res_path, results = coco_case
    result = score_folders(res_path, gt_path, min_score=0.4)
    ref = score_reference(_pycocotools_maps(gt_path, results, min_score=0.4), 8, ignore=255)
    np.testing.assert_array_equal(_totals(result.report), ref["totals"])
    everything = score_folders(res_path, gt_path)
    assert not np.array_equal(_totals(everything.report), _totals(result.report))


def test_the_most_confident_detection_owns_a_pixel(tmp_path):
    gt_path = tmp_path / "gt.json"
    _coco_gt(gt_path)
    box = _poly(0, 0, 40, 30)
    dets = [
        {"image_id": 1, "category_id": 3, "segmentation": box, "score": 0.9},
        {"image_id": 1, "category_id": 1, "segmentation": box, "score": 0.2},
    ]
    res = tmp_path / "res.json"
    res.write_text(json.dumps(dets))
    report = score_folders(res, gt_path, missing="skip").report
    dog = next(c for c in report.classes if c.name == "dog")
    cat = next(c for c in report.classes if c.name == "cat")
    assert dog.pred_pixels == 40 * 30 and cat.pred_pixels == 0


def test_results_file_problems_are_named_and_the_rest_is_scored(tmp_path):
    gt_path = tmp_path / "gt.json"
    _coco_gt(gt_path)
    dets = [
        {"image_id": 1, "category_id": 1, "segmentation": _poly(1, 1, 9, 9), "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.8},  # a box alone
        {"image_id": 99, "category_id": 1, "segmentation": _poly(1, 1, 9, 9), "score": 0.5},
        {"image_id": 2, "category_id": 42, "segmentation": _poly(1, 1, 9, 9), "score": 0.5},
        {
            "image_id": 5,
            "category_id": 1,
            "segmentation": {"size": [10, 10], "counts": "0"},
            "score": 0.5,
        },
    ]
    res = tmp_path / "res.json"
    res.write_text(json.dumps(dets))
    run = CliRunner().invoke(cli, ["score", str(res), str(gt_path)])
    assert run.exit_code == 2, run.output
    out = run.output
    assert "[1].segmentation: no segmentation: a box alone cannot be scored" in out
    assert "[2].image_id: image_id 99 is not an image of the ground truth" in out
    assert "[3].category_id: category_id 42 is not in the ground truth's categories" in out
    assert "[4].segmentation.size: RLE size is 10x10" in out
    report = score_folders(res, gt_path).report
    assert report.images_scored == 1  # image 1; images 2 and 5 have a bad detection each
    assert report.extra_predictions == ["image_id 99"]


def test_a_results_file_needs_its_coco_ground_truth(tmp_path, coco_case):
    gt_path, res_path, _ = coco_case
    masks = tmp_path / "masks"
    write_png(masks / "img1.png", np.zeros((30, 40), np.uint8))
    run = CliRunner().invoke(cli, ["score", str(res_path), str(masks)])
    assert run.exit_code == 2
    assert "give the COCO instances file it refers to as GT" in run.output
    run = CliRunner().invoke(cli, ["score", str(gt_path), str(res_path)])
    assert run.exit_code == 2
    assert "is a COCO results file (predictions): give it as PREDS" in run.output


def test_not_a_results_list_is_named(tmp_path, coco_case):
    gt_path, _, _ = coco_case
    bad = tmp_path / "bad.json"
    bad.write_text('[{"image_id": 1, "category_id": 1, "segmentation": [[1, 2, 3')
    run = CliRunner().invoke(cli, ["score", str(bad), str(gt_path)])
    assert run.exit_code == 2
    assert f"{bad}:1:" in run.output and "invalid JSON" in run.output


# -- annotations on either side ---------------------------------------------------------------


def _labelme_set(root, shift=0.0):
    write_labelme(
        root / "a.json",
        [
            labelme_shape("road", [(0, 0), (30 + shift, 0), (30 + shift, 20), (0, 20)]),
            labelme_shape("car", [(5, 5), (12, 5 + shift), (12, 14), (5, 14)]),
        ],
    )
    write_labelme(
        root / "sub" / "b.json",
        [labelme_shape("person", [(20, 3), (38, 3), (38 - shift, 28), (20, 28)])],
    )


def _cli_json(args):
    run = CliRunner().invoke(cli, ["score", *args, "--json", "-"], catch_exceptions=False)
    assert run.exit_code in (0, 1), run.output
    return json.loads(run.stdout[run.stdout.index("{") :])


@pytest.mark.parametrize("side", ["preds", "gt", "both"])
def test_annotations_score_as_their_rasterized_masks(tmp_path, side):
    """Scoring annotations equals rasterizing them with the same settings, then scoring."""
    labels = tmp_path / "labels.txt"
    labels.write_text("_background_\nroad\ncar\nperson\n")
    gt_ann, pred_ann = tmp_path / "gt", tmp_path / "pred"
    _labelme_set(gt_ann)
    _labelme_set(pred_ann, shift=3.7)
    masks = {}
    for name, folder in (("gt", gt_ann), ("pred", pred_ann)):
        out = tmp_path / f"{name}_masks"
        run = CliRunner().invoke(
            cli, ["rasterize", str(folder), "-o", str(out), "--labels", str(labels)]
        )
        assert run.exit_code == 0, run.output
        masks[name] = out
    on_disk = _cli_json([str(masks["pred"]), str(masks["gt"])])
    preds = pred_ann if side in ("preds", "both") else masks["pred"]
    gt = gt_ann if side in ("gt", "both") else masks["gt"]
    drawn = _cli_json([str(preds), str(gt), "--labels", str(labels)])
    for key in ("classes", "summary", "images", "images_scored"):
        assert drawn[key] == on_disk[key]
    assert drawn["images_scored"] == 2


def test_annotation_ground_truth_takes_rasterizes_label_map(tmp_path):
    """Without --labels, annotations number their classes as rasterize does (sorted names)."""
    gt_ann = tmp_path / "gt"
    _labelme_set(gt_ann)
    pred = tmp_path / "pred"
    write_png(pred / "a.png", np.zeros((30, 40), np.uint8))
    write_png(pred / "sub" / "b.png", np.zeros((30, 40), np.uint8))
    report = score_folders(pred, gt_ann).report
    assert [c.name for c in report.classes] == ["_background_", "car", "person", "road"]


def test_annotation_predictions_need_labels_for_bare_masks(tmp_path):
    pred_ann = tmp_path / "pred"
    _labelme_set(pred_ann)
    gt = tmp_path / "gt"
    write_png(gt / "a.png", np.zeros((30, 40), np.uint8))
    run = CliRunner().invoke(cli, ["score", str(pred_ann), str(gt)])
    assert run.exit_code == 2
    assert "carry no labels.txt: give --labels" in run.output


def test_a_folder_of_masks_and_annotations_is_ambiguous(tmp_path):
    gt = tmp_path / "gt"
    _labelme_set(gt)
    write_png(gt / "c.png", np.zeros((30, 40), np.uint8))  # no annotation of that name
    pred = tmp_path / "pred"
    write_png(pred / "a.png", np.zeros((30, 40), np.uint8))
    run = CliRunner().invoke(cli, ["score", str(pred), str(gt)])
    assert run.exit_code == 2
    assert "holds both masks (c.png) and annotation files" in run.output
    assert "--gt-as" in run.output
    run = CliRunner().invoke(cli, ["score", str(pred), str(gt), "--gt-as", "masks"])
    assert "nothing scored" not in run.output and run.exit_code == 2  # a.png has no GT mask


def test_photos_beside_their_annotations_are_not_masks(tmp_path):
    """A LabelMe folder keeps each image beside its JSON: those files are photos."""
    gt = tmp_path / "gt"
    _labelme_set(gt)
    from PIL import Image

    Image.new("RGB", (40, 30)).save(gt / "a.png")
    pred = tmp_path / "pred"
    write_png(pred / "a.png", np.zeros((30, 40), np.uint8))
    write_png(pred / "sub" / "b.png", np.zeros((30, 40), np.uint8))
    assert score_folders(pred, gt).report.images_scored == 2


def test_a_broken_annotation_costs_its_image(tmp_path):
    gt = tmp_path / "gt"
    _labelme_set(gt)
    (gt / "sub" / "b.json").write_text('{"shapes": [')
    pred = tmp_path / "pred"
    write_png(pred / "a.png", np.zeros((30, 40), np.uint8))
    write_png(pred / "sub" / "b.png", np.zeros((30, 40), np.uint8))
    report = score_folders(pred, gt, labels=None).report
    assert report.images_scored == 1
    assert any("b.json" in p.file and "invalid JSON" in p.message for p in report.problems)


# -- the confusion matrix ---------------------------------------------------------------------


def _random_pairs(tmp_path, n=5, c=6, seed=3):
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(n):
        gt = rng.integers(0, c, (17, 23)).astype(np.uint8)
        gt[rng.random(gt.shape) < 0.1] = 255
        pred = np.where(rng.random(gt.shape) < 0.6, np.where(gt == 255, 0, gt), rng.integers(0, c))
        pred = pred.astype(np.uint8)
        write_png(tmp_path / "gt" / f"{i}.png", gt)
        write_png(tmp_path / "pred" / f"{i}.png", pred)
        pairs.append((gt, pred))
    return pairs


def _bincount_matrix(pairs, c):
    total = np.zeros((c, c), np.int64)
    for gt, pred in pairs:
        keep = gt != 255
        total += np.bincount(gt[keep].astype(np.int64) * c + pred[keep], minlength=c * c).reshape(
            c, c
        )
    return total


@pytest.mark.parametrize("device", ["cpu", "torch"])
def test_confusion_matrix_equals_bincount(tmp_path, device, monkeypatch):
    pairs = _random_pairs(tmp_path)
    expected = _bincount_matrix(pairs, 6)
    if device == "torch":
        pytest.importorskip("torch")
        # the device path (workers decode, this process counts) on the CPU build of torch
        from polymask.score import run

        monkeypatch.setattr(run, "_engine_device", lambda options: "cpu")
    result = score_folders(tmp_path / "pred", tmp_path / "gt", confusion=True, workers=2)
    np.testing.assert_array_equal(result.confusion, expected)
    # its diagonal and margins are the report's counts
    tp = np.array([c.tp for c in result.report.classes])
    np.testing.assert_array_equal(np.diag(result.confusion), tp)
    np.testing.assert_array_equal(
        result.confusion.sum(0) - tp, [c.fp for c in result.report.classes]
    )


def test_confusion_csv_and_heatmap(tmp_path):
    pairs = _random_pairs(tmp_path)
    expected = _bincount_matrix(pairs, 6)
    csv_path, norm_path, png_path = tmp_path / "cm.csv", tmp_path / "n.csv", tmp_path / "cm.png"
    base = ["score", str(tmp_path / "pred"), str(tmp_path / "gt")]
    for args in (["--confusion", str(csv_path)], ["--confusion", str(norm_path), "--normalize"]):
        assert CliRunner().invoke(cli, base + args).exit_code == 0
    rows = [line.split(",") for line in csv_path.read_text().splitlines()]
    assert rows[0] == ["true \\ predicted", "background", "1", "2", "3", "4", "5"]
    np.testing.assert_array_equal(np.array([r[1:] for r in rows[1:]], np.int64), expected)
    norm = np.array(
        [r[1:] for r in (line.split(",") for line in norm_path.read_text().splitlines()[1:])], float
    )
    np.testing.assert_allclose(norm, expected / expected.sum(1, keepdims=True), atol=1e-6)
    pytest.importorskip("matplotlib")
    run = CliRunner().invoke(cli, base + ["--confusion", str(png_path), "--normalize"])
    assert run.exit_code == 0, run.output
    from PIL import Image

    with Image.open(png_path) as img:
        assert img.format == "PNG" and min(img.size) >= 300


def test_a_class_without_pixels_has_an_empty_normalized_row():
    from polymask.report.confusion import confusion_csv

    text = confusion_csv(np.array([[2, 2], [0, 0]]), ["a", "b"], normalize=True)
    assert text.splitlines()[1:] == ["a,0.500000,0.500000", "b,,"]


def test_error_maps_of_annotation_ground_truth_are_drawn_again(tmp_path):
    """The worst images' maps are drawn from the annotations again, as the scorer drew them."""
    from PIL import Image

    labels = tmp_path / "labels.txt"
    labels.write_text("_background_\nroad\ncar\nperson\n")
    gt = tmp_path / "gt"
    _labelme_set(gt)
    pred = tmp_path / "pred"
    write_png(pred / "a.png", np.zeros((30, 40), np.uint8))
    write_png(pred / "sub" / "b.png", np.zeros((30, 40), np.uint8))
    errors = tmp_path / "errors"
    args = ["score", str(pred), str(gt), "--labels", str(labels), "--errors", str(errors)]
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 0, run.output
    from polymask.visualize import FN_COLOR

    with Image.open(errors / "sub" / "b.png") as img:  # the person missed: all of it FN
        drawn = np.asarray(img.convert("RGB"))
    assert drawn.shape == (30, 40, 3)
    expected = np.rint(0.6 * np.asarray(FN_COLOR, np.float32))  # over a black background
    np.testing.assert_array_equal(drawn[10, 30], expected)
    np.testing.assert_array_equal(drawn[0, 0], (0, 0, 0))
    # a foreign file where a map goes is refused by name, and kept
    (errors / "a.png").unlink()
    (errors / "a.png").write_bytes(b"precious")
    run = CliRunner().invoke(cli, args)
    assert run.exit_code == 2 and "a.png" in run.output
    assert (errors / "a.png").read_bytes() == b"precious"


def test_sparse_ids_in_the_thousands_cost_the_classes_present(tmp_path):
    """A labels file reaching id 8000: each image is counted over the classes it has, not
    over 8001 x 8001 bins (half a gigabyte per image), and the counts stay exact."""
    import tracemalloc

    labels = tmp_path / "labels.txt"
    labels.write_text("0 background\n1 road\n8000 rare\n")
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(3):
        gt = rng.choice(np.array([0, 1, 8000, 255], np.uint16), (8, 9))
        pred = rng.choice(np.array([0, 1, 8000], np.uint16), (8, 9))
        write_png(tmp_path / "gt" / f"{i}.png", gt)
        write_png(tmp_path / "pred" / f"{i}.png", pred)
        pairs.append((gt, pred))
    from polymask.labels import LabelMap

    label_map = LabelMap.from_file(labels)
    tracemalloc.start()
    result = score_folders(
        tmp_path / "pred", tmp_path / "gt", labels=label_map, scheduler="serial", workers=1
    )
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 << 20, peak
    ref = score_reference(pairs, 8001, ignore=255, foreground=[1, 8000])
    got = {c.id: (c.tp, c.fp, c.fn) for c in result.report.classes}
    for c in (0, 1, 8000):
        assert got[c] == tuple(ref["totals"][c]), c
    run = CliRunner().invoke(
        cli,
        [
            "score",
            str(tmp_path / "pred"),
            str(tmp_path / "gt"),
            "--labels",
            str(labels),
            "--confusion",
            str(tmp_path / "cm.csv"),
        ],
    )
    assert run.exit_code == 2 and "too large to write" in run.output


def test_ignore_outlines_do_not_make_a_perfect_prediction_fail_boundary_dice(tmp_path):
    """PASCAL VOC outlines every object with 255. The outline is no other class for the band:
    a prediction equal to the true map on every scored pixel has no boundary error."""
    truth = np.zeros((40, 40), np.uint8)
    truth[10:30, 10:30] = 1
    truth[14:20, 14:20] = 2
    gt = truth.copy()
    ring = np.zeros_like(gt, bool)
    ring[8:32, 8:32] = True
    ring[12:28, 12:28] = False
    gt[ring] = 255  # an outline around object 1, which holds object 2 away from it
    write_png(tmp_path / "gt" / "a.png", gt)
    write_png(tmp_path / "pred" / "a.png", truth)
    report = score_folders(tmp_path / "pred", tmp_path / "gt", boundary=1).report
    by_id = {c.id: c.metrics.global_ for c in report.classes}
    assert by_id[0].boundary_dice == 1.0  # the image edge
    assert by_id[1].boundary_dice == 1.0  # around object 2, inside object 1
    assert by_id[2].boundary_dice == 1.0
    shifted = np.roll(truth, 2, axis=1)
    write_png(tmp_path / "pred" / "a.png", shifted)
    report = score_folders(tmp_path / "pred", tmp_path / "gt", boundary=1).report
    assert {c.id: c.metrics.global_ for c in report.classes}[2].boundary_dice < 0.5


# -- NIfTI label volumes ----------------------------------------------------------------------


def _nifti(path, array, spacing=(0.8, 0.8, 2.5)):
    nib = pytest.importorskip("nibabel")
    path.parent.mkdir(parents=True, exist_ok=True)
    image = nib.Nifti1Image(array, np.diag([*spacing, 1.0]))
    image.header.set_zooms(spacing)
    nib.save(image, str(path))


def test_nifti_volumes_pair_and_score_like_masks(tmp_path):
    """Volumes go through the same pairing, checks and engine: per-case counts equal the
    brute-force reference, .nii pairs with .nii.gz, and the report is the usual one."""
    rng = np.random.default_rng(5)
    pairs = []
    for i, suffix in enumerate((".nii.gz", ".nii")):
        gt = rng.integers(0, 4, (12, 10, 6)).astype(np.uint8)
        pred = np.where(rng.random(gt.shape) < 0.7, gt, rng.integers(0, 4, gt.shape)).astype(
            np.uint8
        )
        _nifti(tmp_path / "gt" / f"case{i}.nii.gz", gt)
        _nifti(tmp_path / "pred" / f"case{i}{suffix}", pred)
        pairs.append((gt, pred))
    errors, page = tmp_path / "errors", tmp_path / "page.html"
    run = CliRunner().invoke(
        cli,
        [
            "score",
            str(tmp_path / "pred"),
            str(tmp_path / "gt"),
            "--errors",
            str(errors),
            "--html",
            str(page),
        ],
    )
    assert run.exit_code == 0, run.output
    from PIL import Image

    with Image.open(errors / "case0.png") as img:  # the worst slice of the volume
        assert img.size == (10, 12)
    assert page.stat().st_size > 0
    report = score_folders(tmp_path / "pred", tmp_path / "gt").report
    assert report.images_scored == 2 and not report.problems
    ref = score_reference(pairs, 4, ignore=255)
    np.testing.assert_array_equal(_totals(report), ref["totals"])
    assert [im.key for im in report.images] == ["case0", "case1"]


def test_volumes_on_other_grids_are_named(tmp_path):
    gt = np.zeros((8, 8, 4), np.uint8)
    _nifti(tmp_path / "gt" / "a.nii.gz", gt)
    _nifti(tmp_path / "pred" / "a.nii.gz", gt, spacing=(1.0, 1.0, 1.0))
    _nifti(tmp_path / "gt" / "b.nii.gz", gt)
    _nifti(tmp_path / "pred" / "b.nii.gz", np.zeros((8, 8, 5), np.uint8))
    _nifti(tmp_path / "gt" / "c.nii.gz", gt)
    write_png(tmp_path / "pred" / "c.png", np.zeros((8, 8), np.uint8))
    run = CliRunner().invoke(cli, ["score", str(tmp_path / "pred"), str(tmp_path / "gt")])
    assert run.exit_code == 2, run.output
    out = run.output
    assert f"{tmp_path / 'pred' / 'a.nii.gz'}: differs from the ground truth" in out
    assert "spacing" in out
    assert "shape (8, 8, 5), not (8, 8, 4)" in out
    assert f"{tmp_path / 'pred' / 'c.png'}: 2-D, paired with a volume" in out
    _nifti(tmp_path / "gt2" / "d.nii.gz", gt)
    _nifti(tmp_path / "pred2" / "d.nii.gz", gt)
    run = CliRunner().invoke(
        cli, ["score", str(tmp_path / "pred2"), str(tmp_path / "gt2"), "--boundary", "1"]
    )
    assert run.exit_code == 2
    assert "3-D volume: Boundary Dice bands are measured on 2-D masks" in run.output


@pytest.mark.parametrize("device", ["cpu", "torch"])
def test_surface_distances_are_the_mean_of_each_cases_values(tmp_path, device, monkeypatch):
    """--surface: per class, the mean over the cases where both volumes hold it of the values
    polymask.score.surface gives (itself held equal to MONAI's in tests/test_surface.py), with
    each volume's spacing from its header; one-sided cases counted apart. On a device (here
    CPU torch standing in for CUDA) the workers decode, and this process counts and measures
    with the torch distance transform: the same values to 1e-6."""
    from polymask.io.volumes import read_volume
    from polymask.score.surface import surface_metrics

    rel = 1e-12
    if device == "torch":
        pytest.importorskip("torch")
        import polymask.score.volume_pairs as volume_pairs
        from polymask.score import run as score_run

        monkeypatch.setattr(score_run, "_engine_device", lambda options: "cpu")
        real, backends = volume_pairs.surface_metrics, []

        def spy(*args, **kwargs):
            backends.append((kwargs["backend"], kwargs["device"]))
            return real(*args, **kwargs)

        monkeypatch.setattr(volume_pairs, "surface_metrics", spy)
        rel = 1e-6

    spacing = (0.8, 0.8, 2.5)
    rng = np.random.default_rng(9)
    cases = []
    for i in range(3):
        gt = np.zeros((20, 18, 8), np.uint8)
        gt[3:15, 4:14, 2:6] = 1
        gt[10:18, 2:8, 1:7] = 2
        pred = np.roll(gt, int(rng.integers(-2, 3)), axis=0)
        if i == 2:
            pred[pred == 2] = 0  # class 2 missed in the last case: one-sided
        _nifti(tmp_path / "gt" / f"c{i}.nii.gz", gt, spacing)
        _nifti(tmp_path / "pred" / f"c{i}.nii.gz", pred, spacing)
        stored = read_volume(tmp_path / "gt" / f"c{i}.nii.gz")[1].spacing  # float32 in the file
        cases.append(surface_metrics(gt, pred, 3, stored, tolerance=1.5))
    json_path = tmp_path / "r.json"
    args = ["score", str(tmp_path / "pred"), str(tmp_path / "gt"), "--surface"]
    run = CliRunner().invoke(cli, [*args, "--tolerance", "1.5", "--json", str(json_path)])
    assert run.exit_code == 0, run.output
    assert "Surface distances per class" in run.output
    report = json.loads(json_path.read_text())
    by_id = {c["id"]: c["surface"] for c in report["classes"]}
    assert by_id[0] is None
    for c, finite in ((1, [0, 1, 2]), (2, [0, 1])):
        for name in ("hd", "hd95", "assd"):
            expected = np.mean([cases[k][name][c] for k in finite])
            assert by_id[c][name] == pytest.approx(expected, rel=rel)
        expected = np.mean([cases[k]["surface_dice"][c] for k in range(3)])
        assert by_id[c]["surface_dice"] == pytest.approx(expected, rel=rel)
    assert by_id[2]["one_sided"] == 1 and by_id[2]["images"] == 2
    assert by_id[2]["surface_dice"] < by_id[1]["surface_dice"]
    if device == "torch":
        assert backends == [("torch", "cpu")] * 3
    run = CliRunner().invoke(cli, [*args, "--spacing", "1,1,1"])
    assert run.exit_code == 2 and "the file's header says" in run.output
