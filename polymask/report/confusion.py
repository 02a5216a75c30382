"""The class-by-class confusion matrix of a score run, as CSV or as a heatmap.

Rows are true classes, columns predicted classes, cells pixels (ignored pixels never counted;
pairs without a prediction are not in the matrix, as they have no predicted class).
Normalised per true class, a row holds the fractions of that class's pixels predicted as each
class: the diagonal is the recall, and the rest of the row says where the misses went. A class
with no true pixels has an empty row then, not zeros: there is nothing to divide.

The heatmap is drawn by matplotlib (the ``plot`` extra), imported only here.
"""

from __future__ import annotations

import csv
import io

import numpy as np


def normalized_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its sum; NaN for rows that sum to 0."""
    totals = matrix.sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, matrix / totals, np.nan)


def confusion_csv(matrix: np.ndarray, names: list[str], normalize: bool = False) -> str:
    """One row per true class: its name, then the pixels (or the fractions, to 6 decimals)
    predicted as each class, in the order of ``names``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["true \\ predicted", *names])
    values = normalized_rows(matrix) if normalize else matrix
    for name, row in zip(names, values, strict=True):
        if normalize:
            cells = ["" if np.isnan(v) else f"{v:.6f}" for v in row]
        else:
            cells = [str(int(v)) for v in row]
        writer.writerow([name, *cells])
    return out.getvalue()


MAX_ANNOTATED = 25
"""Up to this many classes each cell shows its value; beyond, the cells are too small."""


def confusion_png(matrix: np.ndarray, names: list[str], normalize: bool = False) -> bytes:
    """A heatmap of the matrix as PNG bytes: fractions of each true class on a linear scale
    with ``normalize``, else pixels on a log scale (the diagonal outweighs the errors by orders
    of magnitude, which a linear scale would hide)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import colors
    from matplotlib import pyplot as plt

    c = len(names)
    side = min(max(4.0, 0.45 * c + 2.5), 40.0)
    fig, ax = plt.subplots(figsize=(side + 1.5, side), dpi=100)
    try:
        if normalize:
            values = normalized_rows(matrix)
            image = ax.imshow(np.ma.masked_invalid(values), cmap="Blues", vmin=0, vmax=1)
            label = "fraction of the true class's pixels"
        else:
            values = matrix.astype(np.float64)
            top = max(float(values.max()), 1.0)
            shown = np.ma.masked_less_equal(values, 0)
            image = ax.imshow(shown, cmap="Blues", norm=colors.LogNorm(vmin=1, vmax=top))
            label = "pixels (log scale; blank: none)"
        fig.colorbar(image, ax=ax, label=label, fraction=0.046, pad=0.04)
        ax.set_xticks(range(c), names, rotation=60, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(c), names)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        ax.set_title("Confusion matrix" + (" (per true class)" if normalize else ""))
        if c <= MAX_ANNOTATED:
            _annotate(ax, values, normalize)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        return buf.getvalue()
    finally:
        plt.close(fig)


def _annotate(ax, values: np.ndarray, normalize: bool) -> None:
    finite = values[np.isfinite(values)]
    high = float(finite.max()) if finite.size else 0.0
    for (i, j), v in np.ndenumerate(values):
        if not np.isfinite(v) or v == 0:
            continue
        text = f"{v:.2f}" if normalize else _short(int(v))
        dark = v > (0.5 if normalize else np.sqrt(max(high, 1.0)))
        ax.text(
            j, i, text, ha="center", va="center", fontsize=7, color="white" if dark else "black"
        )


def _short(n: int) -> str:
    """1234567 -> 1.2M: cells are small."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)
