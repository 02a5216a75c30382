"""``score --surface`` in every output that shows per-class Dice: CSV (per image and class),
JSON (per class and per image), Markdown and the HTML page, with infinite and undefined values.

The truth is hand-computed: a 6x6 square against the same square shifted by k pixels along a
row. Each outline has 20 surface pixels, and the distances from one outline to the other are
the same multiset both ways (the pair is symmetric under a reflection):

- the trailing column of the ground truth (6 pixels) is k from the prediction's leading column;
- its leading column meets the prediction's top and bottom rows (which span its columns) at its
  corners: min(r, 5 - r, k, 5 - k) for rows r = 0..5;
- its top and bottom rows (columns 1..4) lie on the prediction's rows where the prediction
  covers them (distance 0), else k - c from its leading column.

So at tolerance 1: k = 1 gives HD 1, HD95 1, ASSD 10/20, surface Dice 20/20; k = 2 gives 2, 2,
20/20, 12/20; k = 3 gives 3, 3, 30/20, 10/20. A second test holds the per-image values of random
blobs equal to :func:`polymask.score.surface.surface_metrics` on the same arrays (itself held
equal to MONAI's in tests/test_surface.py).
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from polymask.cli.main import cli
from polymask.io.masks import write_png
from polymask.score.surface import SURFACE_METRICS, surface_metrics

NAMES = ["_background_", "shifted", "missed", "spurious", "never"]
HAND = {  # k: (hd, hd95, assd, surface Dice at tolerance 1), by the module docstring
    1: (1.0, 1.0, 0.5, 1.0),
    2: (2.0, 2.0, 1.0, 0.6),
    3: (3.0, 3.0, 1.5, 0.5),
}
INF = math.inf


def _pair(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 1 shifted by k; class 2 predicted exactly, but missed where k = 3 (one-sided);
    class 3 predicted on background where k = 1 (one-sided); class 4 nowhere."""
    gt = np.zeros((20, 20), np.uint8)
    gt[2:8, 2:8] = 1
    gt[12:18, 12:18] = 2
    pred = np.zeros_like(gt)
    pred[2:8, 2 + k : 8 + k] = 1
    if k != 3:
        pred[12:18, 12:18] = 2
    if k == 1:
        pred[12:15, 2:5] = 3
    return gt, pred


def _write(root: Path, pairs: dict[str, tuple[np.ndarray, np.ndarray]], names: list[str]) -> None:
    for key, (gt, pred) in pairs.items():
        write_png(root / "gt" / f"{key}.png", gt)
        write_png(root / "pred" / f"{key}.png", pred)
    (root / "gt" / "labels.txt").write_text("\n".join(names) + "\n", encoding="utf-8")


def _score(root: Path, *args: str) -> dict[str, str]:
    """Run ``score`` with every report; returns each report's text by its option."""
    out = root / "out"
    files = {opt: out / f"r.{opt}" for opt in ("json", "csv", "markdown", "html")}
    reports = [a for opt, path in files.items() for a in (f"--{opt}", str(path))]
    cmd = ["score", "-j", "1", "--device", "cpu", str(root / "pred"), str(root / "gt")]
    run = CliRunner().invoke(cli, [*cmd, *reports, *args])
    assert run.exit_code == 0, run.output
    return {opt: path.read_text("utf-8") for opt, path in files.items()}


def _strict_json(text: str) -> dict:
    def refuse(token: str):
        raise AssertionError(f"{token} in a strict JSON report")

    return json.loads(text, parse_constant=refuse)


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def shifted(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("shifted")
    _write(root, {f"k{k}": _pair(k) for k in HAND}, NAMES)
    return _score(root, "--surface")


def test_csv_rows_carry_each_images_distances_with_inf_where_one_sided(shifted):
    rows = _csv_rows(shifted["csv"])
    assert list(rows[0])[-4:] == list(SURFACE_METRICS)
    cell = {(r["image"], int(r["class_id"])): r for r in rows}
    for k, expected in HAND.items():
        got = [float(cell[f"k{k}", 1][m]) for m in SURFACE_METRICS]
        assert got == pytest.approx(expected, abs=1e-12)
        for c in (0, 4):  # background and a class absent from both: empty, as undefined Dice
            assert [cell[f"k{k}", c][m] for m in SURFACE_METRICS] == [""] * 4
    # missed (gt only) and spurious (pred only): infinite distances, surface Dice 0
    for key, c in (("k3", 2), ("k1", 3)):
        assert [float(cell[key, c][m]) for m in SURFACE_METRICS] == [INF, INF, INF, 0.0]
    assert [float(cell["k1", 2][m]) for m in SURFACE_METRICS] == [0.0, 0.0, 0.0, 1.0]
    assert [cell["k2", 3][m] for m in SURFACE_METRICS] == [""] * 4


def test_json_per_image_distances_are_null_where_infinite_or_undefined(shifted):
    report = _strict_json(shifted["json"])
    images = {im["key"]: im["surface"] for im in report["images"]}
    for k, expected in HAND.items():
        s = images[f"k{k}"]
        assert [s[m][1] for m in SURFACE_METRICS] == pytest.approx(expected, abs=1e-12)
        assert [s[m][0] for m in SURFACE_METRICS] == [None] * 4
        assert [s[m][4] for m in SURFACE_METRICS] == [None] * 4
        assert all(len(s[m]) == len(NAMES) for m in SURFACE_METRICS)
    for key, c in (("k3", 2), ("k1", 3)):  # one-sided: null distances beside surface Dice 0
        assert [images[key][m][c] for m in SURFACE_METRICS] == [None, None, None, 0.0]
    # the worst images carry the same values as the images
    worst = {im["key"]: im["surface"] for im in report["worst"]}
    assert all(worst[key] == images[key] for key in worst)
    # per-class lists of numbers and nulls stay on one line, as the counts do
    assert re.search(r'\n +"hd95": \[null, 3\.0, null, null, null\],\n', shifted["json"])


def test_json_per_class_means_leave_one_sided_images_out(shifted):
    report = _strict_json(shifted["json"])
    by_name = {c["name"]: c["surface"] for c in report["classes"]}
    assert by_name["_background_"] is None and by_name["never"] is None
    s = by_name["shifted"]
    means = [np.mean([HAND[k][i] for k in HAND]) for i in range(4)]
    assert [s[m] for m in SURFACE_METRICS] == pytest.approx(means, abs=1e-12)
    assert (s["images"], s["one_sided"]) == (3, 0)
    s = by_name["missed"]
    assert [s[m] for m in SURFACE_METRICS] == pytest.approx([0.0, 0.0, 0.0, 2 / 3], abs=1e-12)
    assert (s["images"], s["one_sided"]) == (2, 1)
    s = by_name["spurious"]  # only one-sided images: no distance mean, surface Dice 0
    assert [s[m] for m in SURFACE_METRICS] == [None, None, None, 0.0]
    assert (s["images"], s["one_sided"]) == (0, 1)


def _md_table(text: str, first_header: str) -> list[list[str]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return [rows[0], *rows[2:]]  # without the alignment row


def _check_markdown(out: dict[str, str], hd: str = "HD95") -> list[list[str]]:
    """The per-class table's surface columns show the JSON report's values; its rows."""
    report = _strict_json(out["json"])
    head, *rows = _md_table(out["markdown"], "class")
    assert head[-5:] == ["HD", hd, "ASSD", "surface Dice", "one-sided"]
    for row, c in zip(rows, report["classes"], strict=True):
        s = c["surface"]
        if s is None:
            assert row[-5:] == ["—"] * 5
            continue
        shown = ["—" if s[m] is None else f"{s[m]:.4f}" for m in SURFACE_METRICS]
        assert row[-5:] == [*shown, str(s["one_sided"])]
    return rows


def test_markdown_class_table_has_the_surface_columns_of_the_json(shifted):
    rows = _check_markdown(shifted)
    assert rows[1][-5:] == ["2.0000", "2.0000", "1.0000", "0.7000", "0"]  # by hand
    assert rows[3][-5:] == ["—", "—", "—", "0.0000", "1"]
    assert "Surface distances in spacing units (surface Dice at tolerance 1)" in shifted["markdown"]


def _class_table(page: str) -> tuple[list[str], list[list[tuple[str, str | None]]]]:
    """Titles and (text, data-v) cells of the page's per-class table."""
    section = re.search(r'<section id="classes">(.*?)</section>', page, re.S).group(1)
    titles = [html.unescape(t) for t in re.findall(r"<th[^>]*>(.*?)</th>", section)]
    body = re.search(r"<tbody>(.*?)</tbody>", section, re.S).group(1)
    rows = []
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S):
        cells = []
        for attrs, text in re.findall(r"<td([^>]*)>(.*?)</td>", row, re.S):
            value = re.search(r'data-v="([^"]*)"', attrs)
            cells.append((html.unescape(text), html.unescape(value.group(1)) if value else None))
        rows.append(cells)
    return titles, rows


def _check_html(out: dict[str, str], hd: str = "HD95") -> None:
    """The page's per-class surface columns show the JSON report's values and sort by
    their full values (data-v; empty for an undefined one, which sorts last)."""
    report = _strict_json(out["json"])
    titles, rows = _class_table(out["html"])
    assert titles[-5:] == ["HD", hd, "ASSD", "surface Dice", "one-sided"]
    for row, c in zip(rows, report["classes"], strict=True):
        s = c["surface"] or dict.fromkeys([*SURFACE_METRICS, "one_sided"])
        for (text, value), expected in zip(
            row[-5:], [*(s[m] for m in SURFACE_METRICS), s["one_sided"]], strict=True
        ):
            if expected is None:
                assert (text, value) == ("—", "")  # sorts last either way
            else:
                shown = str(expected) if isinstance(expected, int) else f"{expected:.4f}"
                assert text == shown and float(value) == expected


def test_html_class_table_shows_the_json_surface_values(shifted):
    _check_html(shifted)
    chart = re.search(r'<section id="classes">(.*?)</section>', shifted["html"], re.S).group(1)
    assert "Surface distances per class" in chart and chart.count("<svg") == 2


def test_without_surface_no_output_grows_surface_columns(tmp_path):
    _write(tmp_path, {f"k{k}": _pair(k) for k in HAND}, NAMES)
    out = _score(tmp_path)
    assert next(csv.reader(io.StringIO(out["csv"]))) == [
        "image", "class_id", "class", "dice", "iou", "precision", "recall",
        "tp", "fp", "fn", "gt_pixels", "pred_pixels",
    ]  # fmt: skip
    report = _strict_json(out["json"])
    assert all(im["surface"] is None for im in report["images"])
    assert all(c["surface"] is None for c in report["classes"])
    assert _md_table(out["markdown"], "class")[0][-1] == "GT pixels"
    assert "Surface distances" not in out["markdown"]
    titles, _ = _class_table(out["html"])
    assert titles[-1] == "images" and "Surface distances" not in out["html"]


def test_per_image_values_equal_the_surface_module_on_the_same_arrays(tmp_path):
    """Random blobs of four classes (some absent, some one-sided) with a 255 ignore border:
    every image's CSV and JSON values are those of surface_metrics on its arrays."""
    rng = np.random.default_rng(5)
    pairs = {}
    for n in range(4):
        gt = rng.integers(0, 4, (6, 8)).repeat(4, 0).repeat(4, 1).astype(np.uint8)
        pred = np.where(rng.random(gt.shape) < 0.1, rng.integers(0, 4, gt.shape), gt)
        pred = pred.astype(np.uint8)
        if n == 1:
            pred[pred == 3] = 0  # class 3 missed
        if n == 2:
            gt[gt == 2] = 1  # class 2 predicted only
        gt[0, :] = 255
        pairs[f"i{n}"] = (gt, pred)
    names = ["bg", "a", "b", "c"]
    _write(tmp_path, pairs, ["__ignore__", *names])
    out = _score(tmp_path, "--surface", "--tolerance", "2", "--percentile", "90")
    cell = {(r["image"], int(r["class_id"])): r for r in _csv_rows(out["csv"])}
    images = {im["key"]: im["surface"] for im in _strict_json(out["json"])["images"]}
    seen = set()
    for key, (gt, pred) in pairs.items():
        expected = surface_metrics(gt, pred, 4, None, 2.0, 90.0, ignore_index=255)
        for m in SURFACE_METRICS:
            for c in range(4):
                value = expected[m][c]
                text = cell[key, c][m]
                assert (text == "") if np.isnan(value) else float(text) == value
                assert images[key][m][c] == (value if np.isfinite(value) else None)
                seen.add("inf" if np.isinf(value) else "nan" if np.isnan(value) else "finite")
    assert seen == {"inf", "nan", "finite"}
    _check_markdown(out, "HD90")
    _check_html(out, "HD90")
