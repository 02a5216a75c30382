"""score_folders against a brute-force reference and torchmetrics, and its input checks."""

from __future__ import annotations

import importlib.util
import math
import tempfile
from contextlib import nullcontext
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from polymask.errors import UsageError
from polymask.io.masks import write_png
from polymask.labels import LabelMap
from polymask.score.run import ScoreOptions, score_folders
from polymask.score.summary import apply_gates, parse_class_thresholds
from tests.score_reference import score_reference

IGNORE = 255
ENGINES = ["numpy"] + (["torch"] if importlib.util.find_spec("torch") else [])


def _approx(value, expected, tol=1e-12):
    if expected is None or (isinstance(expected, float) and math.isnan(expected)):
        return value is None
    return value == pytest.approx(expected, rel=tol, abs=tol)


def _write(root: Path, pairs, missing=(), extra=0):
    for i, (gt, pred) in enumerate(pairs):
        key = f"set{i % 2}/img{i:03d}"
        write_png(root / "gt" / f"{key}.png", gt)
        if i not in missing:
            write_png(root / "pred" / f"{key}.png", pred)
    for j in range(extra):
        write_png(root / "pred" / f"extra{j}.png", pairs[0][1])
    (root / "pred").mkdir(parents=True, exist_ok=True)


@st.composite
def datasets(draw):
    c = draw(st.integers(2, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(draw(st.integers(1, 5))):
        h, w = draw(st.integers(1, 12)), draw(st.integers(1, 12))
        # few classes per image so that empty classes and FP-on-empty cases occur
        present = rng.choice(c, size=rng.integers(1, c + 1), replace=False)
        gt = rng.choice(present, size=(h, w)).astype(np.uint8)
        gt[rng.random((h, w)) < 0.15] = IGNORE
        pred = np.where(
            rng.random((h, w)) < 0.6, np.where(gt == IGNORE, 0, gt), rng.integers(0, c, (h, w))
        ).astype(np.uint8)
        pairs.append((gt, pred))
    return c, pairs


@settings(max_examples=25, deadline=None)
@given(
    data=datasets(),
    empty=st.sampled_from(["nan", "one", "zero"]),
    engine=st.sampled_from(ENGINES),
    missing=st.sampled_from(["skip", "zero"]),
    missing_index=st.integers(0, 5),
    boundary=st.sampled_from([None, 1, 2]),
)
def test_matches_brute_force_reference(data, empty, engine, missing, missing_index, boundary):
    """Random masks with ignore pixels, absent classes, a missing prediction (if the index falls
    in range), under every empty policy, on both backends of the engine."""
    c, pairs = data
    names = ["_background_", *[f"c{i}" for i in range(1, c)]]
    gone = {missing_index} & set(range(len(pairs)))
    options = ScoreOptions(
        labels=LabelMap.from_names(names),
        empty=empty,
        workers=1,
        device="cpu",
        batch_pixels=150,
        missing=missing,
        boundary=boundary,
    )
    # "cpu" resolves to the numpy backend; a torch device name, even "cpu", takes the GPU path:
    # workers decode, this process counts batches with the torch backend
    device = (
        patch("polymask.score.run.resolve_device", lambda _: "cpu")
        if engine == "torch"
        else nullcontext()
    )
    with tempfile.TemporaryDirectory() as tmp, device:
        root = Path(tmp)
        _write(root, pairs, missing=gone)
        result = score_folders(root / "pred", root / "gt", options)
    scored = {i: (gt, None if i in gone else pred) for i, (gt, pred) in enumerate(pairs)}
    if missing == "skip":
        scored = {i: pair for i, pair in scored.items() if i not in gone}
    fill = {"nan": math.nan, "one": 1.0, "zero": 0.0}[empty]
    ref = score_reference(list(scored.values()), c, IGNORE, fill, boundary=boundary)
    r = result.report
    assert r.images_scored == len(scored) and not r.problems
    assert r.missing_predictions == [f"set{i % 2}/img{i:03d}" for i in gone]
    for k, cls in enumerate(r.classes):
        assert (cls.tp, cls.fp, cls.fn) == tuple(int(v) for v in ref["totals"][k])
        assert _approx(cls.metrics.global_.dice, ref["global"][k])
        assert _approx(cls.metrics.mean_per_image.dice, ref["mean-per-image"][k])
        if boundary is not None:
            assert _approx(cls.metrics.global_.boundary_dice, ref["boundary global"][k])
    assert _approx(r.summary.global_.dice, ref["mean global"])
    assert _approx(r.summary.mean_per_image.dice, ref["mean mean-per-image"])
    # per-image rows in key order
    keys = {f"set{i % 2}/img{i:03d}": n for n, i in enumerate(scored)}
    assert [im.key for im in r.images] == sorted(keys)
    for image in r.images:
        expected = [ref["per image"][keys[image.key]][k] for k in range(1, c)]
        kept = [v for v in expected if not math.isnan(v)]
        assert _approx(image.mean_dice, sum(kept) / len(kept) if kept else None)


def test_matches_torchmetrics(tmp_path):
    """torchmetrics' dice_score on index masks: global and samplewise, no ignore pixels."""
    torch = pytest.importorskip("torch")
    seg = pytest.importorskip("torchmetrics.functional.segmentation")
    rng = np.random.default_rng(7)
    c = 5
    gts = rng.integers(0, c - 1, (6, 16, 20)).astype(np.uint8)  # class 4 absent everywhere
    preds = np.where(rng.random(gts.shape) < 0.7, gts, rng.integers(0, c, gts.shape))
    preds = preds.astype(np.uint8)
    _write(tmp_path, list(zip(gts, preds, strict=True)))
    result = score_folders(
        tmp_path / "pred", tmp_path / "gt", workers=1, device="cpu", include_background=True
    )
    assert result.report.settings.num_classes == c
    args = dict(num_classes=c, average="none", input_format="index")
    p, g = torch.from_numpy(preds).long(), torch.from_numpy(gts).long()
    tm_global = seg.dice_score(p, g, aggregation_level="global", **args)[0].numpy()
    tm_images = seg.dice_score(p, g, aggregation_level="samplewise", **args).numpy()
    tm_mpi = np.nanmean(tm_images, axis=0)  # nan for class 4: undefined in every image
    for k, cls in enumerate(result.report.classes):
        assert _approx(cls.metrics.global_.dice, float(tm_global[k]), 1e-6)  # float32
        assert _approx(
            cls.metrics.mean_per_image.dice, None if np.isnan(tm_mpi[k]) else float(tm_mpi[k]), 1e-6
        )
    tm_iou = seg.mean_iou(p, g, num_classes=c, per_class=True, input_format="index").numpy()
    keys = sorted(f"set{i % 2}/img{i:03d}" for i in range(6))
    for n, key in enumerate(keys):
        i = int(key[-3:])
        expected = [v for v in tm_iou[i] if v >= 0]  # torchmetrics marks undefined as -1
        assert _approx(result.report.images[n].mean_iou, float(np.mean(expected)), 1e-6)


def _pairs(n=3, shape=(4, 5), value=1):
    gt = np.zeros(shape, np.uint8)
    gt[1:3, 1:4] = value
    return [(gt, gt.copy()) for _ in range(n)]


def test_missing_policies(tmp_path):
    pairs = _pairs()
    pairs[1][0][0, 0] = IGNORE  # an ignored pixel in the image whose prediction is missing
    _write(tmp_path, pairs, missing={1}, extra=1)
    args = (tmp_path / "pred", tmp_path / "gt")
    err = score_folders(*args, workers=1).report
    assert err.missing_predictions == ["set1/img001"] and err.extra_predictions == ["extra0"]
    assert [p.message for p in err.problems] == ["no prediction for this ground truth"]
    assert err.problems[0].file.endswith("set1/img001.png")
    skip = score_folders(*args, workers=1, missing="skip").report
    assert not skip.problems and skip.images_scored == 2
    assert skip.summary.global_.dice == 1.0
    zero = score_folders(*args, workers=1, missing="zero").report
    assert zero.images_scored == 3 and not zero.problems
    cls = zero.classes[1]
    assert (cls.tp, cls.fp, cls.fn) == (12, 0, 6)  # the missing image's 6 pixels are FN
    assert zero.summary.global_.dice == pytest.approx(24 / 30)
    assert zero.summary.mean_per_image.dice == pytest.approx(2 / 3)
    assert zero.worst[0].key == "set1/img001" and zero.worst[0].mean_dice == 0


def test_input_errors_name_the_file_and_value(tmp_path):
    pairs = _pairs(4)
    pairs[1] = (pairs[1][0], np.full((4, 6), 1, np.uint8))  # size differs
    bad = pairs[2][1].copy()
    bad[0, 0] = 7
    pairs[2] = (pairs[2][0], bad)
    _write(tmp_path, pairs)
    (tmp_path / "gt" / "set1" / "img003.png").write_bytes(b"not a png")
    (tmp_path / "gt" / "labels.txt").write_text("__ignore__\n_background_\nroad\n")
    r = score_folders(tmp_path / "pred", tmp_path / "gt", workers=1).report
    assert r.images_scored == 1  # the others are reported, the good one is scored
    problems = {Path(p.file).relative_to(tmp_path).as_posix(): p.message for p in r.problems}
    assert "size 6x4 differs" in problems["pred/set1/img001.png"]
    assert problems["pred/set0/img002.png"] == "value 7 outside the label map (classes 0..1)"
    assert "cannot read image" in problems["gt/set1/img003.png"]
    assert [c.name for c in r.classes] == ["_background_", "road"]


def test_ground_truth_value_outside_labels(tmp_path):
    gt, pred = _pairs(1)[0]
    gt[0, 0], gt[0, 1] = 3, IGNORE
    _write(tmp_path, [(gt, pred)])
    r = score_folders(
        tmp_path / "pred",
        tmp_path / "gt",
        workers=1,
        labels=LabelMap.from_names(["_background_", "a"]),
    ).report
    assert r.problems[0].message == "value 3 outside the label map (classes 0..1, ignore 255)"


def test_discovered_classes_refuse_ignore_in_predictions(tmp_path):
    gt, pred = _pairs(1)[0]
    pred[0, 0] = IGNORE
    _write(tmp_path, [(gt, pred)])
    r = score_folders(tmp_path / "pred", tmp_path / "gt", workers=1).report
    assert r.problems[0].message == (
        "value 255 is the ignore index, not a class; "
        "--pred-ignore exclude leaves such pixels out of scoring"
    )


def test_palette_pngs_are_read_as_indices(tmp_path):
    """A palette PNG whose colours differ from its indices is scored by index."""
    gt = np.array([[0, 1], [2, 2]], np.uint8)
    for folder in ("gt", "pred"):
        img = Image.fromarray(gt, mode="P")
        img.putpalette([255, 255, 255, 10, 20, 30, 0, 0, 0] + [0] * 759)
        (tmp_path / folder).mkdir()
        img.save(tmp_path / folder / "a.png")
    r = score_folders(tmp_path / "pred", tmp_path / "gt", workers=1).report
    assert r.settings.num_classes == 3 and r.summary.global_.dice == 1.0


def test_worker_pool_gives_the_same_report(tmp_path):
    rng = np.random.default_rng(3)
    pairs = [
        (rng.integers(0, 3, (8, 8)).astype(np.uint8), rng.integers(0, 3, (8, 8)).astype(np.uint8))
        for _ in range(6)
    ]
    _write(tmp_path, pairs)
    one = score_folders(tmp_path / "pred", tmp_path / "gt", workers=1, boundary=1)
    two = score_folders(tmp_path / "pred", tmp_path / "gt", workers=2, boundary=1)
    assert one.report == two.report


def test_gates_and_thresholds(tmp_path):
    pairs = _pairs(2)
    pairs[1] = (pairs[1][0], np.zeros_like(pairs[1][0]))  # second image misses class 1
    _write(tmp_path, pairs)
    r = score_folders(tmp_path / "pred", tmp_path / "gt", workers=1).report
    assert r.classes[1].metrics.global_.dice == pytest.approx(12 / 18)
    names = [c.name for c in r.classes]
    assert apply_gates(r, fail_under=0.6).passed
    gated = apply_gates(r, fail_under=0.7, fail_under_class=parse_class_thresholds("1=0.5", names))
    assert not gated.passed and [g.passed for g in gated.gates] == [False, True]
    assert not apply_gates(r, fail_under=0.6, aggregate="mean-per-image").passed  # 0.5
    with pytest.raises(UsageError, match="unknown class 'road'"):
        parse_class_thresholds("road=0.9", names)
    with pytest.raises(UsageError, match="expected CLASS=THRESHOLD"):
        parse_class_thresholds("0.9", names)


def test_decoding_stays_a_bounded_number_of_pairs_ahead():
    """The pool's feeder may not run ahead of the results taken, or masks pile up in memory."""
    import threading

    from polymask.score.run import _Bounded

    bounded = _Bounded(list(range(50)), 4)
    items = iter(bounded)
    assert [next(items) for _ in range(4)] == [0, 1, 2, 3]
    got = []
    feeder = threading.Thread(target=lambda: got.append(next(items, None)), daemon=True)
    feeder.start()
    feeder.join(0.2)
    assert feeder.is_alive() and got == []  # a fifth pair waits for a result to be taken
    bounded.consumed()
    feeder.join(5)
    assert got == [4]
    # a run that ends early frees a feeder waiting at the gate: the iteration ends
    feeder = threading.Thread(target=lambda: got.append(next(items, None)), daemon=True)
    feeder.start()
    feeder.join(0.2)
    assert feeder.is_alive()
    bounded.stop()
    feeder.join(5)
    assert not feeder.is_alive() and got == [4, None]


def test_an_error_while_counting_on_the_device_path_ends_the_run(tmp_path):
    """The device path (workers decode, this process counts): an error in the counting, or a
    Ctrl-C, must stop the pool and reach the caller, not leave it waiting for its feeder."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        f"""
        import numpy as np
        from polymask.io.masks import write_png
        from polymask.score import run
        from polymask.score.pairing import MaskPair
        from polymask.score.types import ScoreOptions

        work = []
        for i in range(300):
            path = {str(tmp_path)!r} + f"/m{{i}}.png"
            write_png(path, np.zeros((8, 8), np.uint8))
            work.append(MaskPair(str(i), path, path))

        class Failing:
            c, n = 1, 0
            def update(self, gt, pred, names):
                self.n += 1
                if self.n == 40:
                    raise RuntimeError("counting failed")

        state = run._Run(None, None, [], None)
        try:
            run._count_here(work, Failing(), ScoreOptions(workers=2), state)
        except RuntimeError as exc:
            print("raised:", exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "raised: counting failed" in done.stdout, done.stderr
