"""Checks that a decoded pair of masks holds class ids, before it is scored.

The checks only ask which values a mask holds: the largest, those at or above a limit, whether
one value occurs. :class:`ArrayValues` answers from the array (a few reductions over its
pixels); :class:`CountedValues` from a histogram of it. The CPU scorer counts a joint
histogram of every 8-bit pair anyway (:func:`polymask.score.confusion.byte_table`), and its row and
column sums answer every question exactly with no further pass over the pixels; the masked
maximum alone (the largest class id, ignore pixels left out) cost as much as a third of
scoring an image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from polymask.errors import Problem

MAX_DISCOVERED_CLASSES = 1024


class Values(Protocol):
    """What the checks ask of a mask's values."""

    def at_least(self, limit: int) -> list[int]:
        """Distinct values >= ``limit``, ascending."""

    def has(self, value: int) -> bool: ...

    def top_except(self, value: int | None) -> int:
        """The largest value other than ``value`` (0 when there is none)."""


class ArrayValues:
    """The values of an array, found by reductions over its pixels."""

    def __init__(self, array: np.ndarray):
        self.array = array

    def _top(self) -> int:
        return int(self.array.max()) if self.array.size else 0

    def at_least(self, limit: int) -> list[int]:
        if self._top() < limit:
            return []
        return [int(v) for v in np.unique(self.array[self.array >= limit])]

    def has(self, value: int) -> bool:
        return bool((self.array == value).any())

    def top_except(self, value: int | None) -> int:
        top = self._top()
        if value is None or top != value:
            return top
        return int(self.array.max(where=self.array != value, initial=0))


class CountedValues:
    """The values of a mask known from its histogram (``counts[v]``: pixels of value v)."""

    def __init__(self, counts: np.ndarray):
        self.present = np.flatnonzero(counts)

    def at_least(self, limit: int) -> list[int]:
        return [int(v) for v in self.present[self.present >= limit]]

    def has(self, value: int) -> bool:
        return bool((self.present == value).any())

    def top_except(self, value: int | None) -> int:
        rest = self.present[self.present != value] if value is not None else self.present
        return int(rest[-1]) if rest.size else 0


PRED_IGNORE_HINT = "; --pred-ignore exclude leaves such pixels out of scoring"
"""Said where a prediction holds the ignore index: the option that accepts it."""


def without_predicted_ignore(
    gt: np.ndarray, pred: np.ndarray | None, ignore_index: int | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The pair with the pixels the prediction marks ``ignore_index`` left out of scoring, as the
    ground truth's are: ignore in the ground truth and background in the prediction there, so
    that every count, band and surface leaves them out. The arrays themselves when there are
    none (one comparison over the pixels); new ones otherwise, the inputs untouched."""
    if (
        pred is None
        or ignore_index is None
        or not np.issubdtype(pred.dtype, np.integer)
        or ignore_index > np.iinfo(pred.dtype).max
    ):
        return gt, pred
    marked = pred == ignore_index
    if not marked.any():
        return gt, pred
    dtype = np.promote_types(gt.dtype, np.min_scalar_type(ignore_index))
    return np.where(marked, ignore_index, gt.astype(dtype, copy=False)), np.where(marked, 0, pred)


def value_problems(
    gt: tuple[Path, Values],
    pred: tuple[Path, Values] | None,
    num_classes: int | None,
    ignore_index: int | None,
) -> tuple[list[Problem], int]:
    """Problems with the values of a pair (each mask named by its path) and, when
    ``num_classes`` is None (classes discovered; then a prediction may not hold the ignore
    value), the largest class id the pair holds, ignore pixels left out (else 0)."""
    limit = num_classes if num_classes is not None else MAX_DISCOVERED_CLASSES
    checks = [(*gt, ignore_index)] + ([(*pred, None)] if pred is not None else [])
    problems = []
    for path, values, allowed in checks:
        bad = [v for v in values.at_least(limit) if v != allowed][:5]
        if bad:
            what = "outside the label map" if num_classes is not None else "too large a class id"
            ignore_note = f", ignore {allowed}" if allowed is not None else ""
            hint = PRED_IGNORE_HINT if allowed is None and ignore_index in bad else ""
            problems.append(
                Problem(
                    str(path),
                    f"value {', '.join(map(str, bad))} {what} "
                    f"(classes 0..{limit - 1}{ignore_note}){hint}",
                )
            )
        elif (
            allowed is None
            and num_classes is None
            and ignore_index is not None
            and values.has(ignore_index)
        ):
            problems.append(
                Problem(
                    str(path),
                    f"value {ignore_index} is the ignore index, not a class{PRED_IGNORE_HINT}",
                )
            )
    if num_classes is not None or problems:
        return problems, 0
    return problems, max(values.top_except(allowed) for _, values, allowed in checks)
