"""The pieces every report page is built of: the document with its style and script, sections,
tables (sortable by a click on a column), images, legends and notes.

A page is one file that needs nothing at view time: style, script, charts and pictures are all
inside it, so it opens from a CI artifact or a mail attachment. Every string that comes from
data (class names, file names, keys, messages) goes through :func:`esc`; the page's Content
Security Policy then allows no script but its own (by hash), no request to any server and
images only from ``data:`` URIs, so a name that slipped through could still do nothing.
"""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

STYLE = """
:root { --ink: #1d2330; --muted: #5b6475; --line: #d9dde5; --band: #f5f7fa; --bad: #b3261e;
  --good: #1b7a3a; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #fff; }
header { padding: 18px 28px 12px; border-bottom: 1px solid var(--line); background: var(--band); }
header h1 { margin: 0 0 4px; font-size: 22px; }
header p { margin: 2px 0; color: var(--muted); }
nav { margin-top: 8px; }
nav a { margin-right: 14px; color: #1f5fa8; text-decoration: none; }
main { padding: 8px 28px 40px; max-width: 1400px; }
section { margin-top: 26px; }
h2 { font-size: 18px; margin: 0 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 16px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 10px; font-variant-numeric: tabular-nums; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { padding: 4px 10px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: var(--band); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; }
tbody tr:nth-child(even) { background: #fafbfc; }
tbody tr:hover { background: #eef3fb; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " \\2195"; color: #a0a7b4; }
table.sortable th[aria-sort="ascending"]::after { content: " \\25B2"; color: var(--ink); }
table.sortable th[aria-sort="descending"]::after { content: " \\25BC"; color: var(--ink); }
.wrap { overflow-x: auto; }
table.heatmap td { min-width: 44px; text-align: center; border: 1px solid #fff; }
table.heatmap th.vertical { vertical-align: bottom; }
table.heatmap th.vertical span { writing-mode: vertical-rl; transform: rotate(180deg);
  white-space: nowrap; }
.chart svg { max-width: 100%; height: auto; }
.chart img { max-width: 100%; height: auto; }
.note { padding: 8px 12px; border-left: 4px solid #e0a800; background: #fff8e1; margin: 8px 0; }
.bad { color: var(--bad); font-weight: 600; }
.good { color: var(--good); font-weight: 600; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
  font-weight: 600; }
.badge.good { background: var(--good); color: #fff; }
.badge.bad { background: var(--bad); color: #fff; }
.muted { color: var(--muted); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: 12.5px; }
pre { background: var(--band); padding: 8px 10px; overflow-x: auto; }
ul.plain { padding-left: 18px; margin: 6px 0; }
.cards { display: flex; flex-direction: column; gap: 18px; }
figure.card { margin: 0; padding: 10px 12px; border: 1px solid var(--line); border-radius: 6px; }
figure.card figcaption { margin-bottom: 8px; }
.panels { display: grid; grid-template-columns: repeat(var(--n, 4), minmax(140px, 320px));
  gap: 10px; overflow-x: auto; }
.panel { display: flex; flex-direction: column; align-items: stretch; min-width: 0; }
.panel img { display: block; width: 100%; height: auto; max-height: 480px; object-fit: contain;
  border: 1px solid var(--line); background: #000; }
.panel .label { font-size: 12px; color: var(--muted); margin-top: 2px; }
.panel .empty { display: flex; align-items: center; justify-content: center; padding: 8px;
  border: 1px dashed var(--line); color: var(--muted); font-size: 12px; text-align: center; }
img.pixelated { image-rendering: pixelated; }
ul.legend { list-style: none; padding: 0; margin: 6px 0 0; display: flex; flex-wrap: wrap;
  gap: 4px 14px; font-size: 12.5px; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 5px;
  vertical-align: -1px; border: 1px solid #555; }
"""

SCRIPT = """
(function () {
  function value(row, col) {
    var cell = row.cells[col];
    return cell.hasAttribute("data-v") ? cell.getAttribute("data-v") : cell.textContent;
  }
  function sortBy(th) {
    var table = th.closest("table"), body = table.tBodies[0], col = th.cellIndex;
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var numeric = th.classList.contains("num");
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, col), y = value(b, col);
      if (x === "" || y === "") { return (x === "") - (y === ""); }
      var order = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
  }
  document.querySelectorAll("table.sortable thead th").forEach(function (th) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(th); }
    });
  });
})();
"""


def _policy() -> str:
    digest = base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )


def esc(value: object) -> str:
    """Text from data, safe inside an element and inside a quoted attribute."""
    return html.escape(str(value), quote=True)


def class_label(class_id: int, name: str | None) -> str:
    """``3 car``; the id alone where the class has no name but its number."""
    return str(class_id) if name in (None, "", str(class_id)) else f"{class_id} {name}"


def fmt(x: float | None, digits: int = 4) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def signed(x: float | None) -> str:
    return "—" if x is None else f"{x:+.4f}"


@dataclass(frozen=True)
class Column:
    title: str
    numeric: bool = False
    tip: str = ""
    """A tooltip that says what the column means."""


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, and the value a click on its column sorts by (None: the text;
    '' for an undefined value, which sorts last either way)."""

    text: str
    value: str | None = None
    cls: str = ""


def num(x: float | int | None, text: str | None = None) -> Cell:
    """A numeric cell sorted by its full value, shown as ``text`` (four decimals by default)."""
    if x is None:
        return Cell(text or "—", "")
    shown = text if text is not None else (f"{x:,}" if isinstance(x, int) else fmt(x))
    return Cell(shown, repr(x))


def table(
    columns: Sequence[Column],
    rows: Iterable[Sequence[Cell | str]],
    sortable: bool = False,
    caption: str = "",
    row_class: Sequence[str] | None = None,
) -> str:
    """An HTML table; plain strings are text cells. Every text is escaped here."""
    head = "".join(
        "<th"
        + (' class="num"' if c.numeric else "")
        + (f' title="{esc(c.tip)}"' if c.tip else "")
        + f">{esc(c.title)}</th>"
        for c in columns
    )
    body = []
    for i, row in enumerate(rows):
        cells = []
        for column, cell in zip(columns, row, strict=True):
            cell = cell if isinstance(cell, Cell) else Cell(cell)
            classes = " ".join(filter(None, ["num" if column.numeric else "", cell.cls]))
            attrs = f' class="{classes}"' if classes else ""
            if cell.value is not None:
                attrs += f' data-v="{esc(cell.value)}"'
            cells.append(f"<td{attrs}>{esc(cell.text)}</td>")
        cls = f' class="{esc(row_class[i])}"' if row_class and row_class[i] else ""
        body.append(f"<tr{cls}>{''.join(cells)}</tr>")
    return (
        f'<div class="wrap"><table{" class=sortable" if sortable else ""}>'
        + (f"<caption>{esc(caption)}</caption>" if caption else "")
        + f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def section(anchor: str, title: str, *parts: str) -> str:
    return f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{"".join(parts)}</section>'


def paragraph(text: str, cls: str = "") -> str:
    return (f'<p class="{cls}">' if cls else "<p>") + f"{esc(text)}</p>"


def note(text: str) -> str:
    return f'<div class="note">{esc(text)}</div>'


def bullets(items: Iterable[str], limit: int | None = None) -> str:
    """A list of texts; beyond ``limit``, a count of the rest (a page stays small)."""
    items = list(items)
    shown = items if limit is None else items[:limit]
    out = "".join(f"<li>{esc(i)}</li>" for i in shown)
    if len(items) > len(shown):
        out += f'<li class="muted">and {len(items) - len(shown):,} more (see the JSON report)</li>'
    return f'<ul class="plain">{out}</ul>'


def data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image(uri: str, alt: str, width: int, height: int, pixelated: bool = False) -> str:
    cls = ' class="pixelated"' if pixelated else ""
    return f'<img src="{uri}" alt="{esc(alt)}" width="{width}" height="{height}"{cls}>'


def chart(svg_or_img: str) -> str:
    """A chart made by :mod:`polymask.report.html.charts` (its SVG escapes its own text)."""
    return f'<div class="chart">{svg_or_img}</div>'


def legend(entries: Iterable[tuple[Sequence[int], str]]) -> str:
    """Colour swatches with their labels."""
    items = "".join(
        f'<li><span class="swatch" style="background:rgb({int(r)},{int(g)},{int(b)})"></span>'
        f"{esc(label)}</li>"
        for (r, g, b), label in entries
    )
    return f'<ul class="legend">{items}</ul>'


def badge(passed: bool, text: str) -> str:
    return f'<span class="badge {"good" if passed else "bad"}">{esc(text)}</span>'


def document(
    title: str,
    lines: Sequence[str],
    nav: Sequence[tuple[str, str]],
    body: str,
    verdict: str = "",
) -> str:
    """The whole page: head with style, script and policy; a header of text ``lines``, the
    ``verdict`` (a :func:`badge`) and links to the sections in ``nav`` (anchor, title); then
    ``body``, HTML made of this module's pieces."""
    links = "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in nav)
    header = "".join(f"<p>{esc(line)}</p>" for line in lines)
    if verdict:
        header += f"<p>{verdict}</p>"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_policy()}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>\n"
        f"<body><header><h1>{esc(title)}</h1>{header}<nav>{links}</nav></header>\n"
        f"<main>{body}</main>\n<script>{SCRIPT}</script></body></html>\n"
    )
