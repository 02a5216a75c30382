"""The value checks answered from a histogram (the 8-bit CPU path) against the same checks
answered from the arrays, and the scorer's report on 8-bit masks against 16-bit ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from polymask.io.masks import write_png
from polymask.labels import LabelMap
from polymask.score.checks import ArrayValues, CountedValues, value_problems
from polymask.score.run import score_folders

small_values = st.sampled_from([0, 1, 2, 3, 7, 254, 255])
masks = arrays(np.uint8, st.tuples(st.integers(0, 6), st.integers(0, 6)), elements=small_values)


@settings(max_examples=100, deadline=None)
@given(a=masks, limit=st.integers(0, 256), value=small_values)
def test_counted_values_answer_as_the_array(a, limit, value):
    counted = CountedValues(np.bincount(a.ravel(), minlength=256))
    array = ArrayValues(a)
    assert counted.at_least(limit) == array.at_least(limit)
    assert counted.at_least(limit) == sorted({int(v) for v in a.ravel() if v >= limit})
    assert counted.has(value) == array.has(value) == bool(value in a)
    for skip in (value, None):
        rest = [int(v) for v in a.ravel() if v != skip]
        assert counted.top_except(skip) == array.top_except(skip) == max(rest, default=0)


@settings(max_examples=60, deadline=None)
@given(
    gt=masks,
    pred=masks,
    num_classes=st.sampled_from([None, 1, 3, 8]),
    ignore=st.sampled_from([None, 255, 7]),
)
def test_value_problems_agree(gt, pred, num_classes, ignore):
    def run(values):
        return value_problems(
            (Path("gt.png"), values(gt)), (Path("pred.png"), values(pred)), num_classes, ignore
        )

    assert run(lambda a: CountedValues(np.bincount(a.ravel(), minlength=256))) == run(ArrayValues)


def _write_both(root: Path, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """The same masks as 8-bit palette PNGs (joint-histogram path) and as 16-bit PNGs."""
    for i, (gt, pred) in enumerate(pairs):
        for depth, palette in (("8", True), ("16", False)):
            write_png(root / depth / "gt" / f"{i}.png", gt, palette=palette)
            write_png(root / depth / "pred" / f"{i}.png", pred, palette=palette)


@st.composite
def pairs_of_masks(draw):
    """Masks of classes 0..3, most pairs of one size; one pixel of another value (7, 254 or the
    ignore 255) in some masks."""

    def mask(shape):
        a = draw(arrays(np.uint8, shape, elements=st.integers(0, 3)))
        if draw(st.booleans()):
            y, x = draw(st.integers(0, shape[0] - 1)), draw(st.integers(0, shape[1] - 1))
            a[y, x] = draw(st.sampled_from([7, 254, 255]))
        return a

    sides = st.tuples(st.integers(1, 5), st.integers(1, 5))
    shape = draw(sides)
    return mask(shape), mask(draw(sides) if draw(st.integers(0, 5)) == 0 else shape)


@settings(max_examples=30, deadline=None)
@given(
    pairs=st.lists(pairs_of_masks(), min_size=1, max_size=4),
    labelled=st.booleans(),
    boundary=st.sampled_from([None, 1]),
)
def test_eight_and_sixteen_bit_masks_give_the_same_report(
    tmp_path_factory, pairs, labelled, boundary
):
    """Counts, discovered classes and every problem (values outside the labels, the ignore value
    in a prediction, sizes that differ) come out the same on both paths."""
    root = tmp_path_factory.mktemp("masks")
    _write_both(root, pairs)
    labels = LabelMap.from_names(["_background_", "a", "b"]) if labelled else None
    reports = []
    for depth in ("8", "16"):
        report = score_folders(
            root / depth / "pred",
            root / depth / "gt",
            workers=1,
            device="cpu",
            labels=labels,
            boundary=boundary,
        ).report
        reports.append(report.model_dump_json().replace(str(root / depth), "ROOT"))
    assert reports[0] == reports[1]
