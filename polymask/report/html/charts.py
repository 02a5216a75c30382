"""Charts drawn with matplotlib (the ``plot`` extra, imported only here): SVG text to inline in
a page, PNG bytes for a file.

Output is byte-identical from run to run: no date in the metadata, and SVG element ids hashed
from a fixed salt instead of a random one. Text is kept as text in SVG (the page's fonts draw
it, and it can be searched and copied), and labels from data are never parsed as mathtext: a
class named ``$x`` would otherwise fail to draw.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from polymask.report.html.page import class_label

PLOT_HINT = 'pip install "polymask[plot]"'
RC = {
    "svg.fonttype": "none",
    "svg.hashsalt": "polymask",
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
DICE_COLOR, IOU_COLOR = "#1f6fb2", "#9ecae1"


def have_matplotlib() -> bool:
    """Whether charts can be drawn: matplotlib imports (it is an optional extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def _figure(width: float, height: float) -> Iterator:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    with matplotlib.rc_context(RC):
        fig, ax = plt.subplots(figsize=(width, height), dpi=100)
        try:
            yield fig, ax
        finally:
            plt.close(fig)


def _svg(fig) -> str:
    """The figure as an ``<svg>`` element (no XML declaration or doctype: it is inlined)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def literal(text: str) -> str:
    """``text`` drawn as it is: matplotlib reads text between two ``$`` as mathtext, and an
    escaped ``\\$`` as a plain ``$``."""
    return text.replace("$", r"\$")


def _hex(rgb: Sequence[int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _rows_height(rows: int) -> float:
    """Inches for ``rows`` bars: a readable row each, within what a page can show."""
    return min(1.2 + 0.28 * max(rows, 1), 60.0)


def frequency_chart(
    ids: list[int],
    names: list[str],
    pixels: list[int],
    colors: list[Sequence[int]],
    fmt: str = "png",
) -> bytes | str:
    """A horizontal bar chart of pixels per class on a log scale: PNG bytes, or SVG text with
    ``fmt="svg"``.

    A log scale keeps a class of 100 pixels visible next to a background of millions. Bars
    are filled with ``colors`` (RGB per class) and edged in grey, so black and near-white
    classes still show; each carries its share of all pixels, and a class without pixels gets
    no bar and the word "absent".
    """
    from matplotlib.ticker import LogLocator

    labels = [literal(class_label(i, n)) for i, n in zip(ids, names, strict=True)]
    total = sum(pixels) or 1
    present = [p for p in pixels if p > 0]
    # a decade below the smallest count, so that its bar has a length
    lo = 10 ** math.floor(math.log10(min(present)) - 1e-9) if present else 1
    hi = 10 ** math.ceil(math.log10(max(present) * 3)) if present else 10
    width = 7.5 + 0.06 * max((len(s) for s in labels), default=0)
    with _figure(min(width, 14.0), _rows_height(len(ids))) as (fig, ax):
        rows = range(len(ids))
        for r, n, rgb in zip(rows, pixels, colors, strict=True):
            if n > 0:
                ax.barh(r, n - lo, left=lo, height=0.7, color=_hex(rgb), edgecolor="#787878")
                ax.text(n * 1.15, r, f"{100 * n / total:.3g}%", va="center", fontsize=8)
            else:
                ax.text(lo * 1.15, r, "absent", va="center", fontsize=8, color="#969696")
        ax.set_xscale("log")
        ax.set_xlim(lo, hi)
        ax.xaxis.set_major_locator(LogLocator(base=10))
        ax.set_yticks(list(rows), labels)
        ax.set_ylim(len(ids) - 0.5, -0.5)
        ax.set_xlabel("pixels (log scale); label: share of all non-ignore pixels")
        ax.set_title("Pixels per class", loc="left")
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        fig.tight_layout()
        return _svg(fig) if fmt == "svg" else _png(fig)


def scores_chart(names: list[str], dice: list[float | None], iou: list[float | None]) -> str:
    """SVG of Dice and IoU per class, side by side on 0..1; an undefined value is written,
    not drawn as 0."""
    with _figure(8.5, _rows_height(2 * len(names)) * 0.75) as (fig, ax):
        rows = range(len(names))
        for offset, values, color, label in (
            (-0.2, dice, DICE_COLOR, "Dice"),
            (0.2, iou, IOU_COLOR, "IoU"),
        ):
            ys = [r + offset for r in rows]
            ax.barh(ys, [v or 0.0 for v in values], height=0.38, color=color, label=label)
            for y, v in zip(ys, values, strict=True):
                text = "undefined" if v is None else f"{v:.3f}"
                ax.text((v or 0.0) + 0.01, y, text, va="center", fontsize=7)
        ax.set_xlim(0, 1.1)
        ax.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
        return _class_bars_svg(fig, ax, names, "Dice and IoU per class (global)")


def distances_chart(
    names: list[str],
    hd95: list[float | None],
    assd: list[float | None],
    one_sided: list[int],
    percentile: float,
) -> str:
    """SVG of HD95 and ASSD per class, side by side in spacing units (shorter is better). A
    class measured in no image where both masks hold it has no distance to draw: it says so,
    and each label names the images where only one mask holds the class (infinite distances,
    left out of the means)."""
    finite = [v for v in (*hd95, *assd) if v is not None]
    top = max(finite, default=0.0) or 1.0
    with _figure(8.5, _rows_height(2 * len(names)) * 0.75) as (fig, ax):
        rows = range(len(names))
        for offset, values, color, label in (
            (-0.2, hd95, DICE_COLOR, f"HD{percentile:g}"),
            (0.2, assd, IOU_COLOR, "ASSD"),
        ):
            ys = [r + offset for r in rows]
            ax.barh(ys, [v or 0.0 for v in values], height=0.38, color=color, label=label)
            for y, v, k in zip(ys, values, one_sided, strict=True):
                text = "no image with both" if v is None else f"{v:.3g}"
                if k:
                    text += f" ({k} one-sided)"
                ax.text((v or 0.0) + 0.01 * top, y, text, va="center", fontsize=7)
        ax.set_xlim(0, 1.3 * top)
        ax.set_xlabel("spacing units; mean over the images where both masks hold the class")
        return _class_bars_svg(fig, ax, names, "Surface distances per class")


def _class_bars_svg(fig, ax, names: list[str], title: str) -> str:
    """A chart of two bars per class, one class a row, finished: class names down the side
    taken literally, the first class on top, the title and legend above, a light grid."""
    ax.set_yticks(list(range(len(names))), [literal(n) for n in names])
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_title(title, loc="left")
    ax.legend(loc="lower right", frameon=False, ncols=2, bbox_to_anchor=(1.0, 1.0))
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    fig.tight_layout()
    return _svg(fig)


def confusion_heatmap(matrix, names: list[str]) -> bytes:
    """PNG of the confusion matrix, each row as fractions of its true class
    (:func:`polymask.report.confusion.confusion_png`), its labels taken literally."""
    from polymask.report.confusion import confusion_png

    return confusion_png(matrix, [literal(n) for n in names], normalize=True)
