"""``polymask stats``: counts against brute force, gates, outputs, and masks vs annotations."""

from __future__ import annotations

import csv
import io
import json
import math
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from polymask.cli.main import cli
from polymask.io.masks import voc_palette, write_png
from polymask.labels import LabelMap
from polymask.settings import Settings
from polymask.stats.compute import (
    ExactSum,
    StatsAccumulator,
    _counter_median,
    collect,
    find_masks,
    histogram,
    summarize,
)
from polymask.stats.report import StatsReport

IGNORE = 255


def _random_masks(folder, seed=0, n=6):
    """Masks of two sizes with classes 0..4 (class 3 never), ignore pixels in some."""
    rng = np.random.default_rng(seed)
    masks = {}
    for i in range(n):
        h, w = (20, 30) if i % 2 else (17, 11)
        m = rng.choice([0, 0, 0, 1, 2, 4], size=(h, w)).astype(np.uint8)
        if i % 3 == 0:
            m[: rng.integers(1, h), 0] = IGNORE
        if i == 4:
            m[m == 4] = 0  # class 4 missing from one image
        write_png(folder / f"sub/m{i}.png" if i % 2 else folder / f"m{i}.png", m)
        masks[i] = m
    return list(masks.values())


def _run(*args):
    result = CliRunner().invoke(cli, ["stats", *map(str, args)])
    return result


def _report(folder, *args) -> StatsReport:
    result = _run(folder, "--json", "-", "-j", "1", *args)
    assert result.exit_code == 0, result.output
    return StatsReport.model_validate_json(result.stdout)


def test_counts_equal_brute_force_unique(tmp_path):
    masks = _random_masks(tmp_path)
    report = _report(tmp_path)

    pixels, images, fractions = Counter(), Counter(), {}
    for m in masks:
        values, counts = np.unique(m, return_counts=True)
        valid = m.size - int(np.count_nonzero(m == IGNORE))
        for v, n in zip(values.tolist(), counts.tolist(), strict=True):
            pixels[v] += n
            images[v] += 1
            fractions.setdefault(v, []).append(n / valid)
    ignore = pixels.pop(IGNORE)
    total = sum(pixels.values())

    assert report.images == len(masks)
    assert report.ignore_pixels == ignore
    assert report.ignore_images == images[IGNORE]
    assert report.pixels == total
    assert [c.id for c in report.classes] == sorted(pixels)
    for c in report.classes:
        assert c.pixels == pixels[c.id]
        assert c.images == images[c.id]
        assert c.fraction == pytest.approx(pixels[c.id] / total)
        assert c.mean_fraction_where_present == pytest.approx(np.mean(fractions[c.id]))
    sizes = Counter((m.shape[1], m.shape[0]) for m in masks)
    assert {(s.width, s.height): s.images for s in report.image_sizes} == sizes
    assert report.classes_absent is None  # no label map: nothing to be absent from
    counts = np.array([pixels[i] for i in sorted(pixels)])
    assert report.imbalance_ratio == pytest.approx(counts.max() / counts.min())


def test_sixteen_bit_masks(tmp_path):
    m = np.zeros((4, 5), dtype=np.uint16)
    m[0, :3] = 300
    m[3, 4] = 1000
    write_png(tmp_path / "wide.png", m, palette=False)
    report = _report(tmp_path)
    assert [(c.id, c.pixels) for c in report.classes] == [(0, 16), (300, 3), (1000, 1)]
    assert len(report.weight_vectors["inverse_frequency"]) == 1001


def test_parallel_workers_give_the_same_report(tmp_path):
    _random_masks(tmp_path, seed=3, n=9)
    serial = _run(tmp_path, "--json", "-", "-j", "1")
    parallel = _run(tmp_path, "--json", "-", "-j", "2")
    assert serial.exit_code == parallel.exit_code == 0
    assert serial.stdout == parallel.stdout


def test_tiny_case_weights_by_hand(tmp_path):
    """Two 5-px images: [0,0,0,1,1] and [0,0,0,1,2]; class 3 in labels.txt but absent."""
    write_png(tmp_path / "a.png", np.array([[0, 0, 0, 1, 1]], dtype=np.uint8))
    write_png(tmp_path / "b.png", np.array([[0, 0, 0, 1, 2]], dtype=np.uint8))
    (tmp_path / "labels.txt").write_text("_background_\nroad\ncar\nbike\n")
    r = _report(tmp_path)
    w = {c.name: c.weights for c in r.classes}
    # pixels 6, 3, 1, 0 -> inverse frequency 1/3, 2/3, 2, 0 (mean 1 over present)
    assert [
        w[n].inverse_frequency for n in ("_background_", "road", "car", "bike")
    ] == pytest.approx([1 / 3, 2 / 3, 2, 0])
    # freq 6/10, 3/10, 1/5 (car's only image has 5 px): median 0.3 -> 0.5, 1, 1.5
    assert [w[n].median_frequency for n in ("_background_", "road", "car")] == pytest.approx(
        [0.5, 1, 1.5]
    )
    assert r.weight_vectors["generalized_dice"] == pytest.approx([3 / 41, 12 / 41, 108 / 41, 0])
    assert r.classes_absent == [3]
    assert r.imbalance_ratio == 6 and r.imbalance_ratio_foreground == 3
    assert any("'bike'" in a and "never appear" in a for a in r.advice)


def test_json_is_strict_and_csv_markdown_agree(tmp_path):
    masks = tmp_path / "masks"  # reports go beside the inputs, never among them
    write_png(masks / "a.png", np.zeros((4, 4), dtype=np.uint8))
    (masks / "labels.txt").write_text("_background_\nrare\n")
    out = tmp_path / "out"
    result = _run(
        masks,
        "--json",
        out / "r.json",
        "--csv",
        out / "r.csv",
        "--markdown",
        out / "r.md",
        "-j",
        "1",
    )
    assert result.exit_code == 0, result.output

    def no_constants(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    doc = json.loads((out / "r.json").read_text(), parse_constant=no_constants)
    rare = doc["classes"][1]
    assert rare["mean_fraction_where_present"] is None and rare["pixels"] == 0
    assert doc["imbalance_ratio"] == 1.0 and doc["normalized_entropy"] == 0.0
    assert doc["imbalance_ratio_foreground"] is None

    rows = list(csv.DictReader(io.StringIO((out / "r.csv").read_text())))
    assert [(r["id"], r["name"], r["pixels"]) for r in rows] == [
        ("0", "_background_", "16"),
        ("1", "rare", "0"),
    ]
    md = (out / "r.md").read_text()
    assert "| 1 | rare | 0 |" in md
    assert "| 0 | _background_ | 16 |" in md


def test_plot_draws_a_bar_in_each_present_class_colour(tmp_path):
    m = np.zeros((30, 30), dtype=np.uint8)
    m[:3, :3] = 1
    masks = tmp_path / "masks"
    write_png(masks / "a.png", m)
    (masks / "labels.txt").write_text("_background_\naeroplane\nbicycle\n")
    result = _run(masks, "--plot", tmp_path / "chart.png", "-j", "1")
    assert result.exit_code == 0, result.output
    colours = {c for _, c in Image.open(tmp_path / "chart.png").convert("RGB").getcolors(1 << 16)}
    palette = voc_palette()
    assert tuple(palette[3:6]) in colours  # class 1 has pixels: its bar is drawn
    assert tuple(palette[6:9]) not in colours  # class 2 is absent: no bar


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--max-imbalance", "110"], 0, "passed --max-imbalance 110"),
        (["--max-imbalance", "100"], 1, "FAILED --max-imbalance 100: imbalance 1:106.0 exceeds"),
        (["--max-foreground-imbalance", "3"], 0, "passed"),
        (["--max-foreground-imbalance", "2"], 1, "foreground imbalance 1:3.0 exceeds"),
        (["--min-images-per-class", "2"], 1, "'bike' (1)"),
        (["--min-images-per-class", "1"], 0, "every class is in at least 1 image"),
        (["--require-all-classes"], 1, "never present: bike"),
    ],
)
def test_gates_exit_codes(tmp_path, args, code, words):
    """Background 97 + 9 px, car 3 px, bike 1 px (b.png is 90 px ignore): imbalance 106,
    foreground 3."""
    a = np.zeros((10, 10), dtype=np.uint8)
    a[0, :3] = 1
    b = np.zeros((10, 10), dtype=np.uint8)
    b[0, 0] = 2
    b[1:, :] = IGNORE
    write_png(tmp_path / "a.png", a)
    write_png(tmp_path / "b.png", b)
    labels = tmp_path / "labels.txt"
    labels.write_text("_background_\ncar\nbike\n")
    if args == ["--require-all-classes"]:
        labels.write_text("_background_\ncar\nbike\nbus\n")
        words = "never present: bus"
    result = _run(tmp_path, "-j", "1", *args)
    assert result.exit_code == code, result.output
    assert words in result.stdout
    as_json = _run(tmp_path, "-j", "1", "--json", "-", *args)
    assert as_json.exit_code == code
    gates = StatsReport.model_validate_json(as_json.stdout).gates
    assert [g.passed for g in gates] == [code == 0]
    assert ("FAILED" in as_json.stderr) == (code == 1)


def test_require_all_classes_needs_a_label_map(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((2, 2), dtype=np.uint8))
    result = _run(tmp_path, "--require-all-classes", "-j", "1")
    assert result.exit_code == 2
    assert "needs a label map" in result.output


def test_bad_mask_is_named_and_others_counted(tmp_path):
    write_png(tmp_path / "good.png", np.ones((2, 3), dtype=np.uint8))
    Image.new("RGB", (2, 2)).save(tmp_path / "colour.png")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    result = _run(tmp_path, "--json", "-", "-j", "1")
    assert result.exit_code == 2  # unreadable inputs, as in score
    assert f"{tmp_path / 'colour.png'}: mode RGB image is not a class-index mask" in result.stderr
    assert str(tmp_path / "broken.png") in result.stderr
    report = StatsReport.model_validate_json(result.stdout)
    assert report.images == 1 and report.files_failed == 2 and report.pixels == 6


def test_nothing_to_read_and_two_stdout_reports_are_usage_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    result = _run("--annotations", tmp_path / "empty")
    assert result.exit_code == 2 and "no annotation files found" in result.output
    result = _run("--masks", tmp_path / "empty")
    assert result.exit_code == 2 and "no mask PNGs found" in result.output
    write_png(tmp_path / "a.png", np.zeros((2, 2), dtype=np.uint8))
    result = _run(tmp_path / "a.png", "--json", "-", "--csv", "-")
    assert result.exit_code == 2 and "only one of" in result.output


def test_mixed_inputs_need_a_choice(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "a").mkdir()
    write_png(tmp_path / "m" / "x.png", np.zeros((2, 2), dtype=np.uint8))
    (tmp_path / "a" / "x.json").write_text("{}")
    result = _run(tmp_path / "m", tmp_path / "a")
    assert result.exit_code == 2
    assert "--masks or --annotations" in result.output


# ---- annotations ------------------------------------------------------------------------------


def _labelme(path, shapes, w=40, h=30):
    doc = {
        "version": "5.4.1",
        "flags": {},
        "imagePath": path.with_suffix(".jpg").name,
        "imageData": None,
        "imageWidth": w,
        "imageHeight": h,
        "shapes": [
            {"label": lab, "points": pts, "group_id": g, "shape_type": kind, "flags": {}}
            for lab, kind, pts, g in shapes
        ],
    }
    path.write_text(json.dumps(doc))


def _build_annotations(folder):
    folder.mkdir()
    _labelme(
        folder / "a.json",
        [
            ("cat", "rectangle", [[2, 2], [11, 9]], None),
            ("cat", "polygon", [[20, 3], [30, 3], [25, 12]], None),
            ("dog", "rectangle", [[5, 15], [35, 28]], None),
            ("cat", "rectangle", [[8, 18], [12, 22]], None),  # on top of the dog
        ],
    )
    _labelme(
        folder / "b.json",
        [
            ("dog", "polygon", [[1, 1], [20, 1], [20, 10], [1, 10]], 7),
            ("dog", "rectangle", [[25, 20], [30, 25]], 7),  # same group: one object
            ("__ignore__", "rectangle", [[0, 26], [39, 29]], None),
        ],
        w=40,
        h=30,
    )


def test_annotations_and_written_masks_agree(tmp_path):
    _build_annotations(tmp_path / "ann")
    masks = tmp_path / "masks"
    assert (
        CliRunner()
        .invoke(cli, ["rasterize", str(tmp_path / "ann"), "-o", str(masks), "-j", "1"])
        .exit_code
        == 0
    )
    from_ann = _report(tmp_path / "ann")
    from_masks = _report(masks)
    assert from_ann.source == "annotations" and from_masks.source == "masks"
    _assert_same_pixels(from_ann, from_masks)

    objects = {c.name: (c.instances, c.object_area) for c in from_ann.classes}
    assert objects["cat"][0] == 3
    assert objects["dog"][0] == 2  # one in a.json, one grouped object of two shapes in b.json
    # objects measured on the instance masks rasterize writes agree with the stats
    inst = tmp_path / "inst"
    CliRunner().invoke(
        cli,
        [
            "rasterize",
            str(tmp_path / "ann"),
            "-o",
            str(masks),
            "--force",
            "--instances",
            str(inst),
            "-j",
            "1",
        ],
    )
    areas: dict[str, list[int]] = {}
    names = LabelMap.from_file(masks / "labels.txt").names
    for stem in ("a", "b"):
        cls = np.asarray(Image.open(masks / f"{stem}.png"))
        ids = np.asarray(Image.open(inst / f"{stem}.png"))
        for i in np.unique(ids[ids > 0]):
            (c,) = np.unique(cls[ids == i])
            areas.setdefault(names[int(c)], []).append(int(np.count_nonzero(ids == i)))
    for name, found in areas.items():
        count, area = objects[name]
        assert count == len(found)
        assert (area.min, area.median, area.max) == (min(found), np.median(found), max(found))


def test_conformance_annotations_and_masks_agree(conformance, tmp_path):
    root = conformance / "labelme"
    masks = tmp_path / "masks"
    result = CliRunner().invoke(
        cli,
        [
            "rasterize",
            str(root / "annotations"),
            "-o",
            str(masks),
            "--labels",
            str(root / "labels.txt"),
            "-j",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    from_ann = _report(root / "annotations", "--labels", root / "labels.txt")
    from_masks = _report(masks)  # names from the labels.txt rasterize wrote
    _assert_same_pixels(from_ann, from_masks)
    assert from_ann.classes_absent == from_masks.classes_absent
    assert len(from_ann.classes_absent) == 14


def test_conformance_object_counts_match_labelme_instance_masks(conformance):
    """LabelMe's own SegmentationObject PNGs give the objects per class."""
    root = conformance / "labelme" / "instance"
    report = _report(root / "annotations", "--labels", root / "labels.txt")
    expected = Counter()
    for png in sorted((root / "expected" / "SegmentationObject").glob("*.png")):
        obj = np.asarray(Image.open(png))
        cls = np.asarray(Image.open(root / "expected" / "SegmentationClass" / png.name))
        for i in np.unique(obj[(obj > 0) & (obj < IGNORE)]):
            values, counts = np.unique(cls[obj == i], return_counts=True)
            expected[int(values[np.argmax(counts)])] += 1
    found = {c.id: c.instances for c in report.classes if c.instances}
    assert found == dict(expected)


def _assert_same_pixels(a: StatsReport, b: StatsReport) -> None:
    assert a.images == b.images
    assert a.image_sizes == b.image_sizes
    assert a.ignore_pixels == b.ignore_pixels
    assert [(c.id, c.name, c.pixels, c.images) for c in a.classes] == [
        (c.id, c.name, c.pixels, c.images) for c in b.classes
    ]
    assert a.weight_vectors == b.weight_vectors
    assert a.imbalance_ratio == b.imbalance_ratio


# ---- the streaming pieces ---------------------------------------------------------------------


@given(st.lists(st.floats(0, 1), max_size=60), st.randoms())
def test_exact_sum_does_not_depend_on_order(values, rng):
    forward, shuffled = ExactSum(), ExactSum()
    for v in values:
        forward.add(v)
    rng.shuffle(values)
    for v in values:
        shuffled.add(v)
    assert forward.value == shuffled.value == math.fsum(values)


@given(st.lists(st.integers(1, 50), min_size=1, max_size=40))
def test_counter_median_equals_numpy(values):
    assert _counter_median(Counter(values)) == np.median(values)


def test_collect_library_api(tmp_path):
    """The library path the command uses, without the command."""
    masks = _random_masks(tmp_path, seed=5, n=4)
    acc, problems, failed = collect(
        find_masks([tmp_path]), "masks", Settings(ignore_index=IGNORE, workers=1)
    )
    assert not problems and failed == 0
    report = summarize(acc, None, "masks")
    assert report.images == len(masks)
    assert report.pixels == sum(int(np.count_nonzero(m != IGNORE)) for m in masks)


def _report_of(*class_maps, labels=None, beta=0.9999):
    acc = StatsAccumulator(IGNORE, with_instances=False)
    for m in class_maps:
        acc.add(histogram(m))
    return summarize(acc, labels, "masks", beta=beta)


def test_advice_follows_the_numbers():
    m = np.zeros((100, 100), dtype=np.uint8)
    m[:2, :2] = 1  # 4 px of class 1 in one of 10 images: bg 99.96%
    r = _report_of(
        m,
        *[np.zeros((100, 100), np.uint8)] * 9,
        labels=LabelMap.from_names(["_background_", "bicycle"]),
    )
    assert r.advice[0].startswith("background is 100.0% of pixels; imbalance 1:24,999 — ")
    assert "class 'bicycle' appears in 1 of 10 images" in r.advice[1]
    assert not any("effective-number" in a for a in r.advice)

    half = np.zeros((400, 400), dtype=np.uint8)
    half[:200] = 1  # 80,000 px each: balanced, and past saturation at beta 0.9999
    r = _report_of(half)
    assert (
        r.advice[0] == "classes are roughly balanced (imbalance 1:1.0); plain cross-entropy is fine"
    )
    assert any("effective-number weights are all close to 1" in a for a in r.advice)
    assert "class 1 appears in 1 of 1 images" in r.advice[1]
    rest = [a for a in r.advice if "effective-number" not in a]
    assert _report_of(half, beta=1 - 1e-7).advice == rest


def test_masks_only_behind_a_link_are_judged_masks(tmp_path):
    """The folder's kind is judged from the files stats will read, links followed."""
    real = tmp_path / "real"
    real.mkdir()
    write_png(real / "a.png", np.array([[0, 1], [1, 1]], dtype=np.uint8))
    top = tmp_path / "top"
    top.mkdir()
    (top / "sub").symlink_to(real, target_is_directory=True)
    result = CliRunner().invoke(cli, ["stats", str(top), "--json", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["images"] == 1
