"""``score --baseline``: paired bootstrap of Dice changes, regression gates, baseline checks."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.errors import UsageError
from polymask.io.masks import write_png
from polymask.score import bootstrap as BS
from polymask.score.baseline import Baseline, compare
from polymask.score.bootstrap import Counts, PairedDice, percentile_interval, resample_weights
from polymask.score.pairing import Pairing
from polymask.score.run import ScoreResult
from polymask.score.summary import build_report
from polymask.score.types import PerImage, ScoreOptions

# --- the bootstrap against a direct implementation -------------------------------------------


def _dice_ref(tp, fp, fn, empty):
    """Dice per class, one class at a time, from the definition."""
    fill = {"nan": np.nan, "one": 1.0, "zero": 0.0}[empty]
    return np.array(
        [
            fill if t + p + n == 0 else 2 * t / (2 * t + p + n)
            for t, p, n in zip(tp, fp, fn, strict=True)
        ]
    )


def _naive_replicates(current, baseline, aggregate, empty, include, count, seed):
    """A for-loop over replicates: draw N indices, evaluate both runs on them, subtract."""
    rng = np.random.default_rng(seed)
    n = current[0].shape[0]
    out = []
    for _ in range(count):
        idx = rng.integers(0, n, n)
        values = []
        for tp, fp, fn in (current, baseline):
            if aggregate == "global":
                dice = _dice_ref(tp[idx].sum(0), fp[idx].sum(0), fn[idx].sum(0), empty)
            else:
                per = np.array([_dice_ref(tp[i], fp[i], fn[i], empty) for i in idx])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
                    dice = np.nanmean(per, axis=0)
            chosen = dice[include]
            mean = np.nanmean(chosen) if (~np.isnan(chosen)).any() else np.nan
            values.append(np.append(dice, mean))
        out.append(values[0] - values[1])
    return np.array(out)


def _random_counts(rng, n, c):
    """Counts with absent classes (all zero) and a class in one image only, so that some
    replicates and per-image values are undefined."""
    tp, fp, fn = (rng.integers(0, 50, (n, c)) for _ in range(3))
    absent = rng.random((n, c)) < 0.3
    for a in (tp, fp, fn):
        a[absent] = 0
        a[1:, -1] = 0  # the last class: only in image 0
    return tp, fp, fn


@pytest.mark.parametrize("aggregate", ["global", "mean-per-image"])
@pytest.mark.parametrize("empty", ["nan", "one"])
@pytest.mark.parametrize("seed", [0, 7])
def test_bootstrap_equals_a_direct_loop(aggregate, empty, seed, monkeypatch):
    monkeypatch.setattr(BS, "CHUNK_ELEMENTS", 3 * 11)  # chunks of 3 replicates, a short last
    rng = np.random.default_rng(100 + seed)
    current, baseline = _random_counts(rng, 11, 4), _random_counts(rng, 11, 4)
    include = np.array([False, True, True, True])
    paired = PairedDice(Counts(*current), Counts(*baseline), aggregate, empty, include)
    fast = paired.replicates(200, seed)
    ref = _naive_replicates(current, baseline, aggregate, empty, include, 200, seed)
    assert np.isnan(ref).any() == (empty == "nan")  # the undefined cases are exercised
    np.testing.assert_allclose(fast, ref, rtol=0, atol=1e-12)


def test_chunked_draws_equal_successive_draws_of_size_n():
    n, sizes = 7, [3, 5, 1]  # an odd n: 32-bit draws that straddle calls
    chunked = np.concatenate(
        [resample_weights(rng, n, b) for rng in [np.random.default_rng(5)] for b in sizes]
    )
    rng = np.random.default_rng(5)
    direct = np.array([np.bincount(rng.integers(0, n, n), minlength=n) for _ in range(9)])
    np.testing.assert_array_equal(chunked, direct)


# --- hand-computed cases ------------------------------------------------------------------------

# two images, background and car (4 pixels in A, 2 in B). Car, current: A tp 4 fp 2 fn 0
# (Dice 0.8), B tp 1 fp 0 fn 1 (2/3); baseline: no errors. Background: perfect in both.
CUR = Counts(np.array([[10, 4], [10, 1]]), np.array([[0, 2], [0, 0]]), np.array([[0, 0], [0, 1]]))
BASE = Counts(np.array([[10, 4], [10, 2]]), np.zeros((2, 2), int), np.zeros((2, 2), int))
CAR_ONLY = np.array([False, True])


@pytest.mark.parametrize(
    ("aggregate", "car_now"),
    [
        ("global", 10 / 13),  # 2*5 / (2*5 + 2 + 1)
        ("mean-per-image", (0.8 + 2 / 3) / 2),
    ],
)
def test_point_deltas_by_hand(aggregate, car_now):
    now, before = PairedDice(CUR, BASE, aggregate, "nan", CAR_ONLY).point()
    assert now.tolist() == pytest.approx([1.0, car_now, car_now], abs=1e-15)
    assert before.tolist() == [1.0, 1.0, 1.0]


def test_interval_by_hand():
    """Two images: a resample is AA, AB, BA or BB, a quarter each, so with many replicates the
    2.5th and 97.5th percentiles are the smallest and largest possible deltas. Globally: BB
    gives car 2*2 / (2*2 + 2) = 2/3 (delta -1/3), AB 10/13, AA 16/20 (delta -1/5)."""
    deltas = PairedDice(CUR, BASE, "global", "nan", CAR_ONLY).replicates(2000, 0)
    low, high, defined = percentile_interval(deltas)
    assert low[1] == pytest.approx(-1 / 3) and high[1] == pytest.approx(-1 / 5)
    assert defined.tolist() == [2000, 2000, 2000]


def test_interval_of_one_image_is_its_delta():
    one = Counts(CUR.tp[:1], CUR.fp[:1], CUR.fn[:1])
    base = Counts(BASE.tp[:1], BASE.fp[:1], BASE.fn[:1])
    low, high, _ = percentile_interval(
        PairedDice(one, base, "global", "nan", CAR_ONLY).replicates(50, 3)
    )
    assert low[1] == high[1] == pytest.approx(0.8 - 1)


def test_interval_needs_95_percent_of_replicates_defined():
    deltas = np.zeros((100, 2))
    deltas[:5, 0] = np.nan  # 95 defined: an interval
    deltas[:6, 1] = np.nan  # 94: none
    low, high, defined = percentile_interval(deltas)
    assert defined.tolist() == [95, 94]
    assert (low[0], high[0]) == (0.0, 0.0) and np.isnan(low[1]) and np.isnan(high[1])


def _result(keys, counts: Counts, names, empty="nan", ignore=255) -> ScoreResult:
    per = PerImage(list(keys), counts.tp, counts.fp, counts.fn)
    pairing = Pairing()
    options = ScoreOptions(empty=empty)
    return ScoreResult(
        build_report(Path("p"), Path("g"), pairing, per, names, options, ignore), per, names
    )


def _baseline(keys, counts: Counts, names, ignore=255) -> Baseline:
    return Baseline("base.json", "report", list(keys), counts, list(names), ignore)


def test_compare_by_hand_and_gate_rows():
    reg = compare(
        _result("AB", CUR, ["background", "car"]),
        _baseline(
            "BA", Counts(*(a[::-1] for a in (BASE.tp, BASE.fp, BASE.fn))), ["background", "car"]
        ),
        "global",
        0,
        0,
        0.1,
    )
    car = reg.classes[1]
    assert (car.baseline, car.current) == (1.0, pytest.approx(10 / 13))
    assert car.delta == pytest.approx(-3 / 13) and car.worse  # drop > 0.1, no interval
    assert car.ci_low is None and car.replicates_defined == 0
    assert reg.mean.delta == pytest.approx(-3 / 13)
    assert not reg.classes[0].foreground and reg.classes[0].delta == 0.0
    assert reg.images_compared == 2 and reg.ground_truth_changed == []


def test_changed_ground_truth_is_listed():
    names = ["background", "car"]
    there = Counts(BASE.tp.copy(), BASE.fp, BASE.fn)
    there.tp[1, 1] = 3  # B's car had 3 pixels there, 2 here
    reg = compare(_result("AB", CUR, names), _baseline("AB", there, names), "global", 0, 0, None)
    assert reg.ground_truth_changed == ["B"]


def test_current_values_equal_the_reports_own():
    rng = np.random.default_rng(3)
    counts = Counts(*_random_counts(rng, 9, 4))
    names = ["background", "a", "b", "c"]
    for aggregate in ("global", "mean-per-image"):
        result = _result([f"k{i}" for i in range(9)], counts, names)
        reg = compare(
            result, _baseline(result.per_image.keys, counts, names), aggregate, 10, 0, None
        )
        report = result.report
        for row, cls in zip(reg.classes, report.classes, strict=True):
            assert row.current == pytest.approx(cls.metrics.get(aggregate).dice, abs=1e-12)
            assert row.delta == 0.0 or row.delta is None
        assert reg.mean.current == pytest.approx(report.summary.get(aggregate).dice, abs=1e-12)


def test_images_in_one_run_only_are_listed_and_no_overlap_refused():
    names = ["background", "car"]
    reg = compare(
        _result("AB", CUR, names), _baseline(["B", "C"], BASE, names), "global", 0, 0, None
    )
    assert (reg.images_compared, reg.only_in_baseline, reg.only_in_current) == (1, ["C"], ["A"])
    with pytest.raises(UsageError, match=r"no image is scored in both runs \(2 here, 2 there\)"):
        compare(_result("AB", CUR, names), _baseline("CD", BASE, names), "global", 0, 0, None)


@pytest.mark.parametrize(
    ("names", "ignore", "message"),
    [
        (["background", "truck"], 255, "class 1 is 'truck' there, 'car' here"),
        (["background", "car", "sky"], 255, "3 classes there (background, car, sky), 2 here"),
        (["background", "car"], 0, "ignore index 0 there, 255 here"),
    ],
)
def test_incompatible_baselines_name_the_difference(names, ignore, message):
    c = len(names)
    there = Counts(*(np.zeros((2, c), int) for _ in range(3)))
    with pytest.raises(UsageError, match=re.escape(message)):
        compare(
            _result("AB", CUR, ["background", "car"]),
            _baseline("AB", there, names, ignore),
            "global",
            0,
            0,
            None,
        )


def test_classes_found_from_masks_are_padded():
    """Without a label map a run that saw no value 2 has two classes: the third is zero."""
    there = Counts(*(np.pad(a, ((0, 0), (0, 1))) for a in (BASE.tp, BASE.fp, BASE.fn)))
    there.fp[0, 2] = 5  # the baseline predicted value 2 in image A
    reg = compare(
        _result("AB", CUR, ["background", "1"]),
        _baseline("AB", there, ["background", "1", "2"]),
        "global",
        0,
        0,
        None,
    )
    assert [r.name for r in reg.classes] == ["background", "1", "2"]
    assert reg.classes[2].baseline == 0.0 and reg.classes[2].current is None
    assert reg.mean.baseline == pytest.approx(0.5)  # car 1.0, class 2 0.0


# --- the command line ---------------------------------------------------------------------------

LABELS = "__ignore__\n_background_\nroad\ncar\n"


def _masks(folder: Path, car_missed: list[int]):
    """Image i: road on top, a 10x10 car of which the first car_missed[i] pixels are missed."""
    for i, k in enumerate(car_missed):
        mask = np.zeros((16, 16), np.uint8)
        mask[0:3] = 1
        mask[5:15, 5:15] = 2
        rows, cols = np.nonzero(mask == 2)
        mask[rows[:k], cols[:k]] = 0
        write_png(folder / f"img{i:02d}.png", mask)


@pytest.fixture
def runs(tmp_path):
    """Ground truth and three prediction folders of 20 images: base misses 5 car pixels an
    image; worse misses 25; noisy misses 1 or 9, 9 in eleven images (a tiny drop overall)."""
    _masks(tmp_path / "gt", [0] * 20)
    (tmp_path / "gt" / "labels.txt").write_text(LABELS)
    _masks(tmp_path / "base", [5] * 20)
    _masks(tmp_path / "worse", [25 + i % 3 for i in range(20)])
    _masks(tmp_path / "noisy", [9 if i % 2 == 0 or i == 19 else 1 for i in range(20)])
    return tmp_path


def _run(*args):
    return CliRunner().invoke(cli, ["score", "-j", "1", "--device", "cpu", *map(str, args)])


def _report(runs, name="base.json", preds="base", *extra):
    r = _run(runs / preds, runs / "gt", "--json", runs / name, *extra)
    assert r.exit_code == 0, r.output
    return runs / name


def test_a_significant_regression_fails_with_exit_1(runs):
    base = _report(runs)
    md = runs / "r.md"
    r = _run(
        runs / "worse",
        runs / "gt",
        "--baseline",
        base,
        "--fail-on-regression",
        "0.02",
        "--markdown",
        md,
        "--json",
        runs / "r.json",
    )
    assert r.exit_code == 1, r.output
    assert "gate failed: regression of dice of car (global)" in r.output
    assert "gate failed: regression of mean dice (global)" in r.output
    assert "dice of road" not in r.output.split("gate failed")[-1]
    doc = json.loads((runs / "r.json").read_text())
    car = doc["regression"]["classes"][2]
    # per image: baseline car 2*95/(2*95+5), current 2*(100-m)/(2*(100-m)+m), m = 25..27
    assert car["baseline"] == pytest.approx(190 / 195)
    assert car["ci_high"] < 0 and car["worse"]
    gates = {g["name"]: g for g in doc["gates"]}
    assert not gates["regression of dice of car"]["passed"]
    assert gates["regression of dice of road"]["passed"]
    text = md.read_text()
    assert "### Against the baseline" in text
    assert "❌ 1 class worse by more than 0.02: car -0." in text
    assert "| car | 0.9744 |" in text


def test_a_noisy_tiny_drop_passes_but_fails_without_an_interval(runs):
    base = _report(runs)
    args = (runs / "noisy", runs / "gt", "--baseline", base, "--fail-on-regression", "0")
    r = _run(*args, "--json", runs / "r.json")
    assert r.exit_code == 0, r.output
    car = json.loads((runs / "r.json").read_text())["regression"]["classes"][2]
    assert car["delta"] < 0 < car["ci_high"] and car["ci_low"] < 0 and not car["worse"]
    assert "No class and not the mean Dice worse than the baseline." in r.output
    no_interval = _run(*args, "--bootstrap", "0")
    assert no_interval.exit_code == 1, no_interval.output  # the drop alone decides
    assert "regression of dice of car (global) -0." in no_interval.output


def test_a_folder_of_baseline_predictions_equals_its_report(runs):
    base = _report(runs)
    from_report = _report(runs, "a.json", "worse", "--baseline", base)
    from_folder = _report(runs, "b.json", "worse", "--baseline", runs / "base")
    a, b = (json.loads(p.read_text())["regression"] for p in (from_report, from_folder))
    assert (a.pop("source"), b.pop("source")) == ("report", "predictions")
    assert (a.pop("baseline"), b.pop("baseline")) == (str(base), str(runs / "base"))
    assert a == b


def test_the_same_seed_gives_the_same_bytes(runs):
    base = _report(runs)
    one = _report(runs, "1.json", "noisy", "--baseline", base, "--seed", "4")
    two = _report(runs, "2.json", "noisy", "--baseline", base, "--seed", "4")
    other = _report(runs, "3.json", "noisy", "--baseline", base, "--seed", "5")
    assert one.read_bytes() == two.read_bytes()
    ci = [json.loads(p.read_text())["regression"]["mean"]["ci_low"] for p in (one, other)]
    assert ci[0] != ci[1]


def test_a_baseline_of_other_classes_exits_2_naming_the_difference(runs):
    (runs / "labels2.txt").write_text("__ignore__\n_background_\nroad\ntruck\n")
    base = _report(runs, "base.json", "base", "--labels", runs / "labels2.txt")
    r = _run(runs / "worse", runs / "gt", "--baseline", base)
    assert r.exit_code == 2
    assert f"--baseline {base}: class 2 is 'truck' there, 'car' here" in r.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (lambda text: text[: len(text) // 2], "not valid JSON (EOF while parsing"),
        (
            lambda text: '{"images": []}',
            "not a polymask score report: polymask_version: Field required",
        ),
        (
            lambda text: text.replace('"tp": [', '"old": ['),
            "not a polymask score report: worst[0].tp: Field required (and ",
        ),
    ],
    ids=["truncated", "another-document", "no-counts"],
)
def test_a_baseline_that_is_not_a_score_report_exits_2_naming_the_file(runs, content, message):
    bad = runs / "bad.json"
    bad.write_text(content(_report(runs).read_text()))
    r = _run(runs / "worse", runs / "gt", "--baseline", bad)
    assert r.exit_code == 2
    assert f"--baseline {bad}: {message}" in r.output
    if "tp" in message:
        assert "a report written before reports carried per-image counts" in r.output
    assert "Traceback" not in r.output


def test_a_baseline_whose_counts_are_not_one_per_class_exits_2(runs):
    doc = json.loads(_report(runs).read_text())
    doc["images"][4]["fp"].pop()
    bad = runs / "bad.json"
    bad.write_text(json.dumps(doc))
    r = _run(runs / "worse", runs / "gt", "--baseline", bad)
    assert r.exit_code == 2
    assert f"--baseline {bad}: images[4].fp ('img04') has 2 values for 3 classes" in r.output


def test_a_baseline_with_problems_exits_2_naming_them(runs):
    (runs / "base" / "img03.png").unlink()
    r = _run(runs / "worse", runs / "gt", "--baseline", runs / "base")
    assert r.exit_code == 2
    assert "1 problems scoring the baseline predictions" in r.output
    assert "img03.png: no prediction for this ground truth" in r.output


def test_images_of_one_run_only_are_reported(runs):
    base = _report(runs)
    (runs / "worse" / "img03.png").unlink()
    r = _run(
        runs / "worse",
        runs / "gt",
        "--missing",
        "skip",
        "--baseline",
        base,
        "--json",
        runs / "r.json",
    )
    assert r.exit_code == 0, r.output
    assert "1 images scored only in the baseline (left out): img03" in r.output
    reg = json.loads((runs / "r.json").read_text())["regression"]
    assert (reg["images_compared"], reg["only_in_baseline"]) == (19, ["img03"])


def test_gate_without_baseline_is_a_usage_error(runs):
    r = _run(runs / "worse", runs / "gt", "--fail-on-regression", "0.01")
    assert r.exit_code == 2 and "--fail-on-regression needs --baseline" in r.output


def test_github_annotations_for_failing_regression_gates(runs):
    base = _report(runs)
    r = _run(
        runs / "worse",
        runs / "gt",
        "--baseline",
        base,
        "--fail-on-regression",
        "0.02",
        "--output-format",
        "github",
    )
    assert r.exit_code == 1
    lines = r.output.splitlines()
    car = [
        line
        for line in lines
        if line.startswith("::error title=polymask score::regression of dice of car")
    ]
    assert len(car) == 1 and car[0].endswith("drop tolerated 0.02: FAILED")
    assert any(line.startswith("::notice title=polymask score::1 class worse") for line in lines)
