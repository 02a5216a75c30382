"""polymask's volume scores against two peers, on the same inputs.

- **nnU-Net v2** (``nnunetv2.evaluation.evaluate_predictions``): the per-case Dice and IoU of
  NIfTI files, read by its own reader (SimpleITK), from ``compute_metrics``, and the per-class
  means of its ``summary.json`` (``compute_metrics_on_folder_simple``), against polymask's
  library (:func:`~polymask.score.volume_pairs.score_volume_pair`) and ``polymask score --json``.
  They must be equal: both count TP, FP and FN per class with the ignored ground truth left
  out, and both leave a class absent from both volumes undefined (nnU-Net: NaN, left out of its
  ``nanmean`` over cases; polymask: null under the default ``--empty nan``). Under ``--empty
  one`` or ``zero`` polymask counts such a case as 1 or 0 and its means differ from nnU-Net's.
- **DeepMind's surface-distance**: other definitions. Its surface is made of surface elements
  centred on voxel corners (a 2x2(x2) neighbourhood of mixed voxels), weighted by their length
  or area; its HD95 is the first distance where the cumulative area reaches 95 % (no
  interpolation); its average distances come as two directed means. polymask's surface is the
  set of boundary voxel centres, each counted once. The tests pin where the two agree exactly
  (the Hausdorff distance of translated boxes) and, on a case worked out by hand, where they
  differ.

A peer that cannot be imported skips its tests, or fails them where ``POLYMASK_REQUIRE_PEERS=1``
(CI sets it: the Makefile installs nnU-Net from ``tests/requirements-peers.txt`` and
surface-distance with the dev extra), so that a broken install cannot pass as green.
"""

from __future__ import annotations

import importlib
import json
import math
import os

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.score import metrics as M
from polymask.score.surface import surface_metrics
from polymask.score.volume_pairs import SurfaceOptions, score_volume_pair

nib = pytest.importorskip("nibabel")
pytest.importorskip("scipy")

SPACING = (0.7, 0.9, 2.5)
SHAPE = (19, 14, 9)
CLASSES = 5
IGNORE = 5
"""nnU-Net's convention: the ignore label is the one above the classes."""
LABELS = list(range(CLASSES))


def _peer(module: str, install: str):
    """The peer module, else a skip (a failure under ``POLYMASK_REQUIRE_PEERS=1``)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        reason = f"{module} is not importable ({exc}): {install}"
        if os.environ.get("POLYMASK_REQUIRE_PEERS") == "1":
            pytest.fail(f"POLYMASK_REQUIRE_PEERS=1: {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def nnunet():
    return _peer(
        "nnunetv2.evaluation.evaluate_predictions",
        "pip install --no-deps -r tests/requirements-peers.txt",
    )


@pytest.fixture(scope="module")
def deepmind():
    return _peer("surface_distance", "pip install surface-distance (in the dev extra)")


# nnU-Net -------------------------------------------------------------------------------------


def _boxes(rng, classes) -> np.ndarray:
    """A ground truth: one random box per class, later classes over earlier ones."""
    out = np.zeros(SHAPE, np.uint8)
    for c in classes:
        size = rng.integers(3, 9, 3)
        lo = [rng.integers(0, n - s + 1) for n, s in zip(SHAPE, size, strict=True)]
        out[tuple(slice(a, a + s) for a, s in zip(lo, size, strict=True))] = c
    return out


def _noisy(gt, rng, values) -> np.ndarray:
    """A prediction: the ground truth with a fifth of its voxels set to one of ``values``."""
    pred = gt.copy()
    flip = rng.random(SHAPE) < 0.2
    pred[flip] = rng.choice(values, int(flip.sum()))
    return pred


def _cases(rng) -> dict[str, tuple[np.ndarray, np.ndarray, type]]:
    """(ground truth, prediction, stored type of the prediction) of three cases:

    - ``a``: every class on both sides;
    - ``b``: class 2 in the prediction only, class 3 in the ground truth only, class 4 in
      neither (the undefined case); its prediction stored as float32, as some tools do;
    - ``c``: ignored ground truth (label 5) over two slices, classes predicted under it.
    """
    a = _boxes(rng, [1, 2, 3, 4])
    b = _boxes(rng, [1, 3])
    b_pred = _noisy(b, rng, [0, 1, 2])
    b_pred[b_pred == 3] = 0
    c = _boxes(rng, [1, 2, 3, 4])
    c_pred = _noisy(c, rng, LABELS)
    c[:, :, 3:5] = IGNORE
    return {
        "case_a": (a, _noisy(a, rng, LABELS), np.uint8),
        "case_b": (b, b_pred, np.float32),
        "case_c": (c, c_pred, np.int16),
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """The cases as .nii.gz in gt/ and pred/, spacing 0.7 x 0.9 x 2.5 mm, placed off origin."""
    root = tmp_path_factory.mktemp("nnunet")
    affine = np.diag([*SPACING, 1.0])
    affine[:3, 3] = (-80.0, 12.5, 300.0)
    cases = _cases(np.random.default_rng(7))
    for key, (gt, pred, stored) in cases.items():
        for sub, array in (("gt", gt), ("pred", pred.astype(stored))):
            (root / sub).mkdir(exist_ok=True)
            nib.save(nib.Nifti1Image(array, affine), str(root / sub / f"{key}.nii.gz"))
    (root / "labels.txt").write_text("_background_\nliver\nkidney\nspleen\npancreas\n")
    b_gt, b_pred, _ = cases["case_b"]
    assert 2 not in b_gt and 2 in b_pred and 3 in b_gt and 3 not in b_pred
    assert 4 not in b_gt and 4 not in b_pred and IGNORE in cases["case_c"][0]
    return root, sorted(cases)


@pytest.fixture(scope="module")
def nnunet_cases(nnunet, dataset):
    """nnU-Net's ``compute_metrics`` of every case: {key: {label: metrics}}."""
    from nnunetv2.imageio.simpleitk_reader_writer import SimpleITKIO

    root, keys = dataset
    return {
        key: nnunet.compute_metrics(
            str(root / "gt" / f"{key}.nii.gz"),
            str(root / "pred" / f"{key}.nii.gz"),
            SimpleITKIO(),
            LABELS,
            ignore_label=IGNORE,
        )["metrics"]
        for key in keys
    }


def _nnunet_rows(metrics: dict, names=("TP", "FP", "FN")) -> np.ndarray:
    return np.array([[metrics[c][n] for c in LABELS] for n in names], dtype=np.float64)


def _score(root, *extra) -> dict:
    out = root / f"report{len(extra)}.json"
    run = CliRunner().invoke(
        cli,
        [
            "score",
            *map(str, (root / "pred", root / "gt", "--labels", root / "labels.txt")),
            *("--ignore-index", str(IGNORE), "-j", "1", "--device", "cpu"),
            *("--json", str(out), *extra),
        ],
    )
    assert run.exit_code == 0, run.output
    return json.loads(out.read_text())


def test_undefined_and_one_sided_classes_are_as_designed(nnunet_cases):
    """The cases hold what the comparison is about: a NaN (absent from both), a Dice of 0
    from each side, and ignored voxels that change the counts."""
    b = nnunet_cases["case_b"]
    assert math.isnan(b[4]["Dice"]) and math.isnan(b[4]["IoU"])
    assert b[2]["Dice"] == 0 and b[2]["FP"] > 0 and b[3]["Dice"] == 0 and b[3]["FN"] > 0
    c = nnunet_cases["case_c"]
    assert sum(c[r]["TP"] + c[r]["FN"] for r in LABELS) < np.prod(SHAPE)


def test_library_counts_dice_and_iou_equal_nnunet_compute_metrics(dataset, nnunet_cases):
    root, keys = dataset
    for key in keys:
        theirs = nnunet_cases[key]
        ours = score_volume_pair(
            key,
            root / "gt" / f"{key}.nii.gz",
            root / "pred" / f"{key}.nii.gz",
            CLASSES,
            IGNORE,
            SurfaceOptions(),
        )
        assert ours.problems == []
        np.testing.assert_array_equal(ours.counts, _nnunet_rows(theirs), err_msg=key)
        values = M.from_counts(*ours.counts)
        for ours_name, their_name in (("dice", "Dice"), ("iou", "IoU")):
            np.testing.assert_array_equal(
                values[ours_name], _nnunet_rows(theirs, (their_name,))[0], err_msg=key
            )


@pytest.fixture(scope="module")
def folder_runs(nnunet, dataset):
    """``polymask score --json``'s report and nnU-Net's ``summary.json`` of the cases."""
    root, _ = dataset
    summary_file = root / "summary.json"
    nnunet.compute_metrics_on_folder_simple(
        str(root / "gt"),
        str(root / "pred"),
        LABELS,
        str(summary_file),
        num_processes=1,
        ignore_label=IGNORE,
    )
    return _score(root), json.loads(summary_file.read_text())


def test_cli_json_equals_nnunet_per_case_and_summary(dataset, nnunet_cases, folder_runs):
    """``polymask score --json``: each case's TP, FP, FN are nnU-Net's, and the per-class
    ``mean-per-image`` Dice and IoU, and their foreground mean, are its ``summary.json``'s
    ``mean`` and ``foreground_mean`` (the same means of the same values)."""
    _, keys = dataset
    report, summary = folder_runs
    assert [image["key"] for image in report["images"]] == keys
    for image in report["images"]:
        got = np.array([image["tp"], image["fp"], image["fn"]], dtype=np.float64)
        np.testing.assert_array_equal(got, _nnunet_rows(nnunet_cases[image["key"]]))
    for entry in report["classes"]:
        theirs = summary["mean"][str(entry["id"])]
        ours = entry["metrics"]["mean-per-image"]
        assert ours["dice"] == pytest.approx(theirs["Dice"], rel=1e-12, abs=0)
        assert ours["iou"] == pytest.approx(theirs["IoU"], rel=1e-12, abs=0)
    # nnU-Net's foreground mean: of the per-class means, background left out, as polymask's
    ours = report["summary"]["mean-per-image"]
    assert ours["dice"] == pytest.approx(summary["foreground_mean"]["Dice"], rel=1e-12)
    assert ours["iou"] == pytest.approx(summary["foreground_mean"]["IoU"], rel=1e-12)


def test_benchmark_agreement_check_reads_nnunets_summary(folder_runs):
    """benchmarks/volumes.py times nnU-Net only after this check passes on its summary: it
    accepts the real one and names a count or a mean that differs."""
    from benchmarks.volumes import nnunet_disagreements

    report, summary = folder_runs
    assert nnunet_disagreements(report, summary, LABELS) == []
    changed = json.loads(json.dumps(summary))
    changed["metric_per_case"][1]["metrics"]["2"]["FP"] += 1
    changed["mean"]["3"]["Dice"] += 1e-6
    assert nnunet_disagreements(report, changed, LABELS) == [
        f"case_b class 2: fp {summary['metric_per_case'][1]['metrics']['2']['FP']} (polymask) "
        f"!= {changed['metric_per_case'][1]['metrics']['2']['FP']}",
        f"class 3: mean Dice {report['classes'][3]['metrics']['mean-per-image']['dice']} "
        f"(polymask) != {changed['mean']['3']['Dice']}",
    ]


def test_empty_one_departs_from_nnunet_where_a_class_is_absent_from_both(dataset, nnunet_cases):
    """Under ``--empty one`` the case without class 4 enters its mean as a perfect 1, where
    nnU-Net leaves it out: polymask's mean is then nnU-Net's values with that NaN made 1."""
    root, keys = dataset
    report = _score(root, "--empty", "one")
    dice = [nnunet_cases[key][4]["Dice"] for key in keys]
    assert np.isnan(dice).sum() == 1
    pancreas = report["classes"][4]["metrics"]["mean-per-image"]["dice"]
    assert pancreas == pytest.approx(np.mean(np.nan_to_num(dice, nan=1.0)), rel=1e-12)
    assert pancreas != pytest.approx(np.nanmean(dice))


# DeepMind's surface-distance -------------------------------------------------------------------

BOXES = [
    # (spacing, box size, shift), all in voxels along (axis 0, 1, 2)
    ((0.8, 0.8, 2.5), (5, 4, 3), (1, 0, 0)),
    ((0.8, 0.8, 2.5), (5, 4, 3), (0, 0, 1)),
    ((0.7, 3.0, 0.8), (3, 3, 4), (0, 3, 2)),
    ((1.0, 0.9765625, 0.7), (5, 1, 3), (1, 0, 3)),
    ((0.5, 0.7, 2.0), (2, 4, 5), (-2, 2, -1)),
    ((0.9, 0.9, 3.0), (4, 4, 2), (0, 0, 0)),
    ((0.8, 1.2, 2.5), (2, 2, 2), (4, -3, 2)),  # apart: no overlap at all
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the peer's scipy.ndimage.filters
@pytest.mark.parametrize(("spacing", "size", "shift"), BOXES)
def test_hausdorff_of_translated_boxes_agrees_with_deepmind(deepmind, spacing, size, shift):
    """A box and its copy moved by t voxels: both definitions give HD = |t * spacing|.

    Every point of either surface is a point of the other moved by t, so no distance exceeds
    |t * s|; the corner of the moved box farthest along t lies outside the other box, and its
    nearest point there is the matching corner, |t * s| away. That holds for polymask's surface
    (boundary voxel centres) and for DeepMind's (the box's outline half a voxel further out,
    sampled at voxel corners) alike, so the two agree to rounding (polymask scales the
    coordinates before subtracting them).
    """
    gt = np.zeros((20, 18, 16), np.uint8)
    pred = np.zeros_like(gt)
    lo = np.array([6, 6, 6])
    gt[tuple(slice(a, a + n) for a, n in zip(lo, size, strict=True))] = 1
    pred[tuple(slice(a + t, a + t + n) for a, n, t in zip(lo, size, shift, strict=True))] = 1
    expected = math.hypot(*(t * s for t, s in zip(shift, spacing, strict=True)))
    theirs = deepmind.compute_surface_distances(gt == 1, pred == 1, spacing)
    assert deepmind.compute_robust_hausdorff(theirs, 100) == pytest.approx(expected, rel=1e-12)
    ours = surface_metrics(gt, pred, 2, spacing)["hd"][1]
    assert ours == pytest.approx(expected, rel=1e-12, abs=1e-12)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_stray_pixel_shows_where_the_definitions_differ(deepmind):
    """A 2x2 square (rows 2-3, cols 2-3) in both masks, and a stray pixel (2, 7) in the
    prediction only; spacing (1.5, 2.0) mm, tolerance 2 mm. Worked out by hand:

    polymask (surface = boundary pixel centres, counted): ground truth surface = the 4 square
    pixels, prediction surface = those 4 and the stray one, which lies 4 columns (8 mm) from
    the nearest, (2, 3). d_pg = [0, 0, 0, 0, 8], d_gp = [0, 0, 0, 0].
    HD = 8; HD95 = P95(d_pg), linear between the 4th and 5th sorted values: 0 + 0.8 * 8 = 6.4;
    ASSD = 8 / 9 (pooled mean of 9 distances); surface Dice = 8 / 9 (8 of 9 within 2 mm).

    DeepMind (surface = voxel corners whose 2x2 neighbourhood is mixed, each weighted by the
    length of the marching-squares contour in it: a diagonal cut 0.5 * hypot(1.5, 2) = 1.25,
    a straight piece 1.5 along axis 0, 2.0 along axis 1): the square has 8 such corners
    (4 diagonal cuts, 2 + 2 straight: length 4 * 1.25 + 2 * 2 + 2 * 1.5 = 12), all shared with
    the prediction, so every ground-truth distance is 0. The stray pixel adds 4 corners of
    1.25 each (prediction length 17): corners at columns 7 and 8 (on rows 2 and 3) lie 3 and
    4 corner steps (6 and 8 mm) from the square's outline at column 4.
    HD = 8. HD95: the prediction's cumulative length reaches 15.75 / 17 = 0.93 before the last
    corner, so the 95 % point is that corner's 8 (no interpolation).
    Average distances (directed, area-weighted): ground truth to prediction 0, prediction to
    ground truth (2 * 1.25 * 6 + 2 * 1.25 * 8) / 17 = 35 / 17.
    Surface Dice at 2 mm: (12 + 12) / (12 + 17) = 24 / 29.
    """
    gt = np.zeros((6, 10), np.uint8)
    gt[2:4, 2:4] = 1
    pred = gt.copy()
    pred[2, 7] = 1
    spacing = (1.5, 2.0)

    ours = surface_metrics(gt, pred, 2, spacing, tolerance=2.0)
    assert ours["hd"][1] == pytest.approx(8.0)
    assert ours["hd95"][1] == pytest.approx(6.4)
    assert ours["assd"][1] == pytest.approx(8 / 9)
    assert ours["surface_dice"][1] == pytest.approx(8 / 9)

    d = deepmind.compute_surface_distances(gt == 1, pred == 1, spacing)
    assert d["surfel_areas_gt"].sum() == pytest.approx(12.0)
    assert d["surfel_areas_pred"].sum() == pytest.approx(17.0)
    assert deepmind.compute_robust_hausdorff(d, 100) == pytest.approx(8.0)
    assert deepmind.compute_robust_hausdorff(d, 95) == pytest.approx(8.0)
    assert deepmind.compute_average_surface_distance(d) == pytest.approx((0.0, 35 / 17))
    assert deepmind.compute_surface_dice_at_tolerance(d, 2.0) == pytest.approx(24 / 29)
