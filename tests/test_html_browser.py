"""The HTML pages in a real browser (headless Chromium through Playwright): no console error, no
request leaves the page, every picture decodes, the numbers shown are the JSON report's, and a
click on a column sorts the rows.

Skipped where Playwright or Chromium is missing, failed instead under
``POLYMASK_REQUIRE_BROWSER=1`` (CI: ``.ci/run`` installs Debian's chromium, the dev extra the
driver); ``POLYMASK_CHROMIUM`` names another browser.
Screenshots go to the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.html_cases import HOSTILE, NAMES, run, score, write_dataset

CHROMIUM = os.environ.get("POLYMASK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _missing(reason: str) -> None:
    """Skip, or fail where CI asks for the browser (``POLYMASK_REQUIRE_BROWSER=1``, set by
    ``.ci/run``): a browser test that skips there would pass without having run."""
    if os.environ.get("POLYMASK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"POLYMASK_REQUIRE_BROWSER=1: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    from playwright import sync_api as playwright
except ImportError:
    _missing("the browser tests need Playwright: pip install playwright (in the dev extra)")
if not Path(CHROMIUM).is_file():
    _missing(f"no Chromium at {CHROMIUM}: apt-get install chromium (or set POLYMASK_CHROMIUM)")


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = write_dataset(tmp_path_factory.mktemp("browser"))
    out = root / "out"
    r = score(root, "--html", out / "score.html", "--json", out / "score.json", "--images",
              root / "img", "--worst", "4", "--surface")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = run("stats", root / "gt", "-j", "1", "--html", out / "stats.html", "--json",
            out / "stats.json")  # fmt: skip
    assert r.exit_code == 0, r.output
    return out


class Visit:
    """A page opened from its file, with every console message, script error, dialog and
    request it made."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", self._dialog)
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(path.as_uri())
        self.page.wait_for_load_state("load")

    def _console(self, message) -> None:
        if message.type in ("error", "warning"):  # a refused script or image says so here
            self.errors.append(message.text)

    def _dialog(self, dialog) -> None:
        self.errors.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def check_clean(self, path: Path) -> None:
        assert self.errors == []
        assert [u for u in self.requests if u != path.as_uri() and not u.startswith("data:")] == []
        images = self.page.evaluate(
            "Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth])"
        )
        assert images and all(complete and width > 0 for _, complete, width in images), images

    def column(self, table: str, index: int) -> list[str]:
        return self.page.eval_on_selector_all(
            f"{table} tbody tr", f"rows => rows.map(r => r.cells[{index}].textContent)"
        )


def test_score_page_in_a_browser(browser, pages, tmp_path):
    path = pages / "score.html"
    report = json.loads((pages / "score.json").read_text())
    visit = Visit(browser, path)
    visit.check_clean(path)
    table = "#classes table.sortable"
    names = [n.removesuffix(" (not in the means)") for n in visit.column(table, 1)]
    assert names == NAMES  # the hostile name is text on the page, not markup
    dice = {c["name"]: c["metrics"]["global"]["dice"] for c in report["classes"]}
    shown = dict(zip(names, visit.column(table, 2), strict=True))
    for name, value in dice.items():
        assert shown[name] == ("—" if value is None else f"{value:.4f}")
    # a click on Dice sorts by it, ascending, undefined last; a second click, descending
    visit.page.click(f"{table} th:has-text('Dice') >> nth=0")
    ascending = sorted((v, n) for n, v in dice.items() if v is not None)
    assert visit.column(table, 1)[: len(ascending)] == [
        n + ("" if n != "_background_" else " (not in the means)") for _, n in ascending
    ]
    visit.page.click(f"{table} th:has-text('Dice') >> nth=0")
    order = [float(t) for t in visit.column(table, 2) if t != "—"]
    assert order == sorted(order, reverse=True) and len(order) == len(ascending)
    assert visit.page.get_attribute(f"{table} th >> nth=2", "aria-sort") == "descending"
    _check_surface_columns(visit, table, report)
    cards = visit.page.locator("#worst figure.card")
    assert cards.count() == len(report["worst"]) == 4
    assert visit.page.locator("#worst img").count() == 4 * 4 - 1  # one image has no photo
    visit.page.screenshot(path=str(tmp_path / "score.png"), full_page=True)
    assert HOSTILE in visit.page.inner_text("#classes")
    visit.check_clean(path)


def _check_surface_columns(visit: Visit, table: str, report: dict) -> None:
    """--surface: the distance columns show the JSON report's values, and a click on HD95
    sorts the classes by it, classes without distances last."""
    titles = visit.page.eval_on_selector_all(f"{table} thead th", "hs => hs.map(h => h.innerText)")
    fields = {"HD": "hd", "HD95": "hd95", "ASSD": "assd", "surface Dice": "surface_dice"}
    names = [n.removesuffix(" (not in the means)") for n in visit.column(table, 1)]
    surfaces = {c["name"]: c["surface"] for c in report["classes"]}
    assert any(surfaces.values()) and not all(surfaces.values())  # both kinds of row
    for title, field in fields.items():
        index = titles.index(title)
        for name, text in zip(names, visit.column(table, index), strict=True):
            s = surfaces[name]
            value = None if s is None else s[field]
            assert text == ("—" if value is None else f"{value:.4f}"), (title, name)
    index = titles.index("HD95")
    visit.page.click(f"{table} th >> nth={index}")
    hd95 = sorted((s["hd95"], n) for n, s in surfaces.items() if s and s["hd95"] is not None)
    order = [n.removesuffix(" (not in the means)") for n in visit.column(table, 1)]
    assert order[: len(hd95)] == [n for _, n in hd95]
    assert visit.column(table, index)[len(hd95) :] == ["—"] * (len(names) - len(hd95))


def test_stats_page_in_a_browser(browser, pages, tmp_path):
    path = pages / "stats.html"
    report = json.loads((pages / "stats.json").read_text())
    visit = Visit(browser, path)
    visit.check_clean(path)
    table = "#classes table.sortable"
    assert visit.column(table, 1) == NAMES
    assert visit.column(table, 2) == [f"{c['pixels']:,}" for c in report["classes"]]
    visit.page.click(f"{table} th:has-text('pixels')")
    pixels = [int(t.replace(",", "")) for t in visit.column(table, 2)]
    assert pixels == sorted(c["pixels"] for c in report["classes"])
    assert visit.page.locator("#rare figure.card").count() == 4
    assert visit.page.locator("#classes svg").count() == 1
    visit.page.screenshot(path=str(tmp_path / "stats.png"), full_page=True)
    visit.check_clean(path)
