"""``score --html`` and ``stats --html``: the pages against the JSON reports, escaping, what the
page says when matplotlib is missing, and the error kinds and pictures behind the galleries,
checked against hand-made cases, brute force and the scorer's own counts."""

from __future__ import annotations

import html
import json
import re
import sys

import numpy as np
import pytest

from polymask.visualize import (
    CORRECT,
    ERROR_KINDS,
    FN,
    FP,
    FP_COLOR,
    IGNORED,
    TP,
    TP_COLOR,
    WRONG,
    error_kinds,
    error_map,
    outline,
    sample,
    shrink_max,
)
from tests.html_cases import HOSTILE, KEYS, NAMES, masks, run, score, write_dataset


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("html"))


@pytest.fixture(scope="module")
def scored(dataset, tmp_path_factory):
    """The score page (with photographs) and the JSON report of the same run."""
    out = tmp_path_factory.mktemp("scored")
    r = score(dataset, "--html", out / "p.html", "--json", out / "r.json", "--images",
              dataset / "img", "--worst", "3")  # fmt: skip
    assert r.exit_code == 0, r.output
    return (out / "p.html").read_text("utf-8"), json.loads((out / "r.json").read_text())


def _section(page: str, anchor: str) -> str:
    found = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert found, f"no section {anchor}"
    return found.group(1)


def _rows(fragment: str) -> list[list[tuple[str, str | None]]]:
    """(text, data-v) of each body cell of the first table in ``fragment``."""
    body = re.search(r"<tbody>(.*?)</tbody>", fragment, re.S).group(1)
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = re.findall(r"<td([^>]*)>(.*?)</td>", row, re.S)
        rows.append([(html.unescape(text), _attr(attrs, "data-v")) for attrs, text in cells])
    return rows


def _attr(attrs: str, name: str) -> str | None:
    found = re.search(rf'{name}="([^"]*)"', attrs)
    return html.unescape(found.group(1)) if found else None


# ---- the pictures -------------------------------------------------------------------------------


def test_error_kinds_by_hand():
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 0]])
    pred = np.array([[0, 3, 1, 2], [0, 2, 1, 1]])
    expected = [[CORRECT, FP, TP, WRONG], [FN, TP, IGNORED, FP]]
    np.testing.assert_array_equal(error_kinds(gt, pred, 255), expected)
    drawn = error_map(gt, pred, 255)  # over black: alpha 0.6, true positives at half
    assert tuple(drawn[0, 1]) == tuple(np.rint(0.6 * np.array(FP_COLOR)).astype(int))
    assert tuple(drawn[0, 2]) == tuple(np.rint(0.3 * np.array(TP_COLOR)).astype(int))
    assert tuple(drawn[0, 0]) == (0, 0, 0)
    colours = {tuple(drawn[i, j]) for i, j in [(0, 1), (0, 2), (0, 3), (1, 0), (1, 2)]}
    assert len(colours) == 5  # five kinds, five colours


def test_error_kinds_agree_with_the_scorers_counts(dataset, scored):
    """Summed over the foreground classes, the scorer's FP is this map's FP + wrong class and
    its FN is FN + wrong class; TP is TP."""
    _, report = scored
    for image in report["images"]:
        gt, pred = masks(0)[image["key"]]
        counts = np.bincount(error_kinds(gt, pred, 255).ravel(), minlength=6)
        tp, fp, fn = (sum(image[k][1:]) for k in ("tp", "fp", "fn"))
        assert counts[TP] == tp
        assert counts[FP] + counts[WRONG] == fp
        assert counts[FN] + counts[WRONG] == fn


def test_outline_is_the_inner_band_of_each_region():
    classes = np.zeros((7, 7), np.uint8)
    classes[1:6, 1:6] = 2
    one, two = outline(classes, 1), outline(classes, 2)
    ring = np.zeros((7, 7), bool)
    ring[1:6, 1:6] = True
    ring[2:5, 2:5] = False
    np.testing.assert_array_equal(one, ring)
    band = classes != 0
    band[3, 3] = False  # two pixels deep from every side: all but the centre
    np.testing.assert_array_equal(two, band)


def test_shrinking_keeps_the_heaviest_kind_of_each_block():
    rng = np.random.default_rng(1)
    kinds = rng.choice([CORRECT, TP, TP, TP, FP, WRONG], size=(37, 53)).astype(np.uint8)
    small = shrink_max(kinds, 9, 14)
    for i in range(9):
        for j in range(14):
            r0, r1 = i * 37 // 9, (i + 1) * 37 // 9
            c0, c1 = j * 53 // 14, (j + 1) * 53 // 14
            assert small[i, j] == kinds[r0:r1, c0:c1].max()
    one_miss = np.zeros((100, 100), np.uint8)
    one_miss[57, 33] = FN
    assert (shrink_max(one_miss, 10, 10) == FN).sum() == 1  # a 1-pixel miss survives 10x


def test_sampling_takes_block_centres():
    classes = np.arange(36).reshape(6, 6)
    np.testing.assert_array_equal(sample(classes, 2, 3), classes[[1, 4]][:, [1, 3, 5]])


# ---- the score page ---------------------------------------------------------------------------


def test_score_page_numbers_equal_the_json_report(scored):
    page, report = scored
    rows = _rows(_section(page, "classes"))
    assert [r[1][0].removesuffix(" (not in the means)") for r in rows] == NAMES
    for row, c in zip(rows, report["classes"], strict=True):
        g = c["metrics"]["global"]
        for (text, value), expected in zip(
            row[2:7],
            [g["dice"], g["iou"], g["precision"], g["recall"],
             c["metrics"]["mean-per-image"]["dice"]],
            strict=True,
        ):  # fmt: skip
            if expected is None:
                assert (text, value) == ("—", "")
            else:
                assert text == f"{expected:.4f}" and float(value) == expected
        assert int(row[7][1]) == c["gt_pixels"] and int(row[8][1]) == c["pred_pixels"]
    means = _rows(_section(page, "summary"))
    assert means[0][1][0] == f"{report['summary']['global']['dice']:.4f}"


def test_score_page_escapes_every_name(scored):
    page, _ = scored
    assert HOSTILE not in page and "alert(1)</" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "a&amp;b&lt;c&gt;" in page and "a&b<c>" not in page
    assert "cars &amp; trucks" in page
    # the chart draws the names as text (escaped by matplotlib's SVG writer), $ not as math
    svg = re.search(r"<svg.*?</svg>", page, re.S).group(0)
    assert "$x$ price" in svg and "<script" not in svg


def test_score_page_draws_the_worst_images_with_their_errors(scored):
    page, report = scored
    worst = _section(page, "worst")
    cards = re.findall(r'<figure class="card">(.*?)</figure>', worst, re.S)
    assert len(cards) == 3 == len(report["worst"])
    for card, w in zip(cards, report["worst"], strict=True):
        assert html.escape(w["key"]) in card
        photo = w["key"] != "zero"  # every image but zero has a photograph
        assert card.count("data:image/jpeg") == (4 if photo else 0)
        assert card.count("data:image/png") == (0 if photo else 3)
        gt, pred = masks(0)[w["key"]]
        counts = np.bincount(error_kinds(gt, pred, 255).ravel(), minlength=6)
        for kind, short, _, _ in ERROR_KINDS:
            assert f"{short} {counts[kind]:,} px" in html.unescape(card)


def test_score_page_shows_the_confusion_matrix_and_the_baseline(dataset, tmp_path):
    r = score(dataset, "--json", tmp_path / "base.json")
    assert r.exit_code == 0
    r = score(dataset, "--html", tmp_path / "p.html", "--baseline", tmp_path / "base.json",
              "--json", tmp_path / "p.json",
              "--bootstrap", "50")  # fmt: skip
    assert r.exit_code == 0, r.output
    page = (tmp_path / "p.html").read_text()
    matrix = np.array(json.loads((tmp_path / "p.json").read_text())["confusion"])
    heatmap = re.search(r'<table class="heatmap">(.*?)</table>', page, re.S).group(1)
    cells = [_attr(a, "data-v") for a in re.findall(r"<td([^>]*)>", heatmap)]
    fractions = matrix / matrix.sum(axis=1, keepdims=True)  # every class has true pixels
    np.testing.assert_array_equal(np.array(cells, float).reshape(matrix.shape), fractions)
    rows = _rows(_section(page, "baseline"))
    assert [r[0][0] for r in rows][-1] == "mean"
    assert all(r[3][0] == "+0.0000" for r in rows if r[3][1])  # the same predictions


def test_score_page_is_the_same_bytes_every_run(dataset, tmp_path):
    for name in ("1.html", "2.html"):
        assert score(dataset, "--html", tmp_path / name, "--images", dataset / "img").exit_code == 0
    assert (tmp_path / "1.html").read_bytes() == (tmp_path / "2.html").read_bytes()


def test_without_matplotlib_the_page_says_so_and_keeps_its_tables(dataset, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib fails
    assert score(dataset, "--html", tmp_path / "p.html").exit_code == 0
    page = html.unescape((tmp_path / "p.html").read_text())
    assert 'Charts need matplotlib: pip install "polymask[plot]"' in page
    assert "<svg" not in page
    assert len(_rows(_section((tmp_path / "p.html").read_text(), "classes"))) == len(NAMES)
    assert run("stats", dataset / "gt", "-j", "1", "--html", tmp_path / "s.html").exit_code == 0
    assert 'pip install "polymask[plot]"' in html.unescape((tmp_path / "s.html").read_text())
    r = run("stats", dataset / "gt", "-j", "1", "--plot", tmp_path / "c.png")
    assert r.exit_code == 2 and "polymask[plot]" in r.output
    assert not (tmp_path / "c.png").exists()


def test_html_to_stdout_takes_stdout_alone(dataset):
    r = score(dataset, "--html", "-")
    assert r.exit_code == 0 and r.stdout.startswith("<!DOCTYPE html>")
    r = score(dataset, "--html", "-", "--json", "-")
    assert r.exit_code == 2 and "only one of" in r.output
    r = run("stats", dataset / "gt", "--html", "-", "--csv", "-")
    assert r.exit_code == 2 and "only one of" in r.output


# ---- the stats page ---------------------------------------------------------------------------


def test_stats_page_numbers_equal_the_json_report(dataset, tmp_path):
    r = run("stats", dataset / "gt", "-j", "1", "--html", tmp_path / "s.html",
            "--json", tmp_path / "s.json")  # fmt: skip
    assert r.exit_code == 0, r.output
    page = (tmp_path / "s.html").read_text()
    report = json.loads((tmp_path / "s.json").read_text())
    rows = _rows(_section(page, "classes"))
    assert [r[1][0] for r in rows] == NAMES
    for row, c in zip(rows, report["classes"], strict=True):
        assert int(row[2][1]) == c["pixels"] and row[2][0] == f"{c['pixels']:,}"
        assert float(row[3][1]) == c["fraction"] and int(row[4][1]) == c["images"]
        assert float(row[6][1]) == c["weights"]["inverse_frequency"]
    assert HOSTILE not in page and "&lt;script&gt;" in page
    for advice in report["advice"]:
        assert html.escape(advice) in page


def test_stats_page_shows_each_rare_class_where_it_has_the_most_pixels(tmp_path):
    from polymask.io.masks import write_png

    for key, n in (("a", 5), ("b", 9), ("c", 9)):  # b and c tie: the first in input order
        m = np.zeros((30, 30), np.uint8)
        m[:, :10] = 1
        m[20, 15 : 15 + n] = 2
        write_png(tmp_path / "m" / f"{key}.png", m)
    (tmp_path / "m" / "labels.txt").write_text("_background_\nroad\nrare & odd\n")
    r = run("stats", tmp_path / "m", "-j", "2", "--html", tmp_path / "s.html")
    assert r.exit_code == 0, r.output
    rare = html.unescape(_section((tmp_path / "s.html").read_text(), "rare"))
    cards = re.findall(r'<figure class="card">(.*?)</figure>', rare, re.S)
    assert len(cards) == 2  # the two foreground classes, rarest first
    assert "2 rare & odd" in cards[0] and "shown: b (30x30)" in cards[0]
    assert "9 px of the class there" in cards[0]
    assert "1 road" in cards[1] and "shown: a (30x30)" in cards[1]  # 300 px in each: a first


def test_stats_page_counts_each_mask_once_and_reads_again_only_those_shown(tmp_path, monkeypatch):
    """The image shown for a rare class is found by the counting pass itself: with 40 masks
    and two foreground classes, 40 reads count them and 2 draw them."""
    import polymask.score.sources as sources
    import polymask.stats.compute as compute
    from polymask.io.masks import write_png

    for i in range(40):
        m = np.zeros((8, 8), np.uint8)
        m[: 1 + i % 7, 0] = 1
        m[0, 1 : 1 + i % 5] = 2
        write_png(tmp_path / "m" / f"{i:02d}.png", m)
    counted, drawn = [], []
    real_count, real_draw = compute.read_mask, sources.read_source

    def count(path, *args, **kwargs):
        counted.append(path)
        return real_count(path, *args, **kwargs)

    def draw(source, *args, **kwargs):
        drawn.append(source)
        return real_draw(source, *args, **kwargs)

    monkeypatch.setattr(compute, "read_mask", count)
    monkeypatch.setattr("polymask.report.html.gallery.read_source", draw)
    r = run("stats", tmp_path / "m", "-j", "1", "--html", tmp_path / "s.html")
    assert r.exit_code == 0, r.output
    assert len(counted) == 40 and len(set(counted)) == 40
    # class 2 has most pixels (4) first in 04.png, class 1 (7) first in 06.png
    assert sorted(p.name for p in drawn) == ["04.png", "06.png"]
    rare = html.unescape(_section((tmp_path / "s.html").read_text(), "rare"))
    assert "shown: 04 (8x8)" in rare and "shown: 06 (8x8)" in rare


def test_html_page_of_annotations_draws_them_again(tmp_path):
    """Annotations as stats input: the rare class is drawn from the annotation file again."""
    from tests.helpers import write_labelme

    write_labelme(tmp_path / "d" / "x.json", [{"label": "car", "points": [[2, 2], [9, 2], [9, 9]]},
                  {"label": "road", "points": [[0, 15], [39, 15], [39, 29], [0, 29]]}])  # fmt: skip
    r = run("stats", tmp_path / "d", "-j", "1", "--html", tmp_path / "s.html")
    assert r.exit_code == 0, r.output
    rare = html.unescape(_section((tmp_path / "s.html").read_text(), "rare"))
    assert "shown: x (40x30)" in rare and rare.count("data:image/png") == 4


def test_keys_of_every_card_match_the_report(scored):
    page, report = scored
    worst = [html.unescape(k) for k in re.findall(r"<figcaption><b>(.*?)</b>", page)]
    assert worst == [w["key"] for w in report["worst"]]
    assert set(worst) <= set(KEYS)
