"""A score against a baseline: Dice changes per class with paired bootstrap intervals, and the
regression gates on them.

A baseline is the per-image counts of an earlier run: a report written by ``score --json``
(every report carries each image's TP, FP and FN per class), or a folder of baseline predictions
scored against the same ground truth with the same options. Both runs are then evaluated on the
images scored in both (:mod:`polymask.score.bootstrap`), under the current run's settings: the
counts do not depend on the ``empty`` or ``include_background`` policies, so a baseline made
under others is still compared like with like. What changes the counts themselves is refused
(exit 2): other classes, another ignore index. When classes were found from the masks (no label
map: names ``background``, ``1``, ``2``...), a run that saw fewer values simply never saw the
others, so the shorter list is padded with zero counts.

Images scored in only one run are listed, not refused: a test set grows. Images whose ground
truth counts differ between the runs are listed too, since their deltas mix a change of model
with a change of truth. No image in common is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import ValidationError

from polymask.errors import UsageError
from polymask.formats.common import json_path
from polymask.io.storage import as_path
from polymask.score import metrics as M
from polymask.score.bootstrap import Counts, PairedDice, percentile_interval
from polymask.score.report import (
    Aggregate,
    GateResult,
    Regression,
    RegressionRow,
    ScoreReport,
)
from polymask.score.run import ScoreResult

SHOWN_PROBLEMS = 3
"""Problems of a baseline folder quoted in the error; the rest are counted."""


@dataclass
class Baseline:
    """The per-image counts of an earlier run and what they were counted under."""

    given: str
    source: Literal["report", "predictions"]
    keys: list[str]
    counts: Counts
    names: list[str]
    ignore_index: int | None


def read_baseline_report(path: str) -> Baseline:
    """The counts of a report written by ``score --json``; a file that is not one (not JSON,
    cut short, another report, one from before reports carried per-image counts) is a
    :class:`UsageError` naming the file and what is wrong."""
    try:
        data = as_path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"--baseline {path}: {exc.strerror or exc}") from None
    try:
        report = ScoreReport.model_validate_json(data)
    except ValidationError as exc:
        raise UsageError(f"--baseline {path}: {_why_not(exc)}") from None
    c = report.settings.num_classes
    if len(report.classes) != c:
        raise UsageError(
            f"--baseline {path}: settings.num_classes is {c} but {len(report.classes)} "
            "classes are listed"
        )
    seen: set[str] = set()
    for i, image in enumerate(report.images):
        for field in ("tp", "fp", "fn"):
            if len(getattr(image, field)) != c:
                raise UsageError(
                    f"--baseline {path}: images[{i}].{field} ({image.key!r}) has "
                    f"{len(getattr(image, field))} values for {c} classes"
                )
        if image.key in seen:
            raise UsageError(f"--baseline {path}: image {image.key!r} is listed twice")
        seen.add(image.key)
    counts = [
        np.array([getattr(im, f) for im in report.images], np.int64).reshape(-1, c)
        for f in ("tp", "fp", "fn")
    ]
    return Baseline(
        path,
        "report",
        [im.key for im in report.images],
        Counts(*counts),
        [cls.name for cls in report.classes],
        report.settings.ignore_index,
    )


def _why_not(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    if first["type"] == "json_invalid":
        return f"not valid JSON ({first['msg'].removeprefix('Invalid JSON: ')})"
    where = json_path(first["loc"]) or "the document"
    more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
    hint = ""
    if first["type"] == "missing" and first["loc"][-1] in ("tp", "fp", "fn"):
        hint = (
            "; a report written before reports carried per-image counts: score the baseline "
            "predictions again with --json, or give their folder"
        )
    return f"not a polymask score report: {where}: {first['msg']}{more}{hint}"


def baseline_from_result(given: str, result: ScoreResult) -> Baseline:
    """The counts of baseline predictions just scored; any problem scoring them (a missing
    or unreadable prediction) is a :class:`UsageError`, as it would be for the current run."""
    problems = result.report.problems
    if problems:
        shown = "; ".join(f"{p.file}: {p.message}" for p in problems[:SHOWN_PROBLEMS])
        more = (
            f" and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
        )
        raise UsageError(
            f"--baseline {given}: {len(problems)} problems scoring the baseline predictions: "
            f"{shown}{more}"
        )
    per = result.per_image
    return Baseline(
        given,
        "predictions",
        per.keys,
        Counts(per.tp, per.fp, per.fn),
        result.class_names,
        result.report.settings.ignore_index,
    )


def _found_names(names: list[str]) -> bool:
    """Whether the classes were found from the masks (the scorer's names for them)."""
    return names == ["background" if i == 0 else str(i) for i in range(len(names))]


def _rows(counts: Counts, rows: list[int], c: int) -> Counts:
    """The counts of the images at ``rows``, padded with zero counts to ``c`` classes."""
    width = ((0, 0), (0, c - counts.tp.shape[1]))
    return Counts(*(np.pad(a[rows], width) for a in (counts.tp, counts.fp, counts.fn)))


def _check_compatible(baseline: Baseline, names: list[str], ignore_index: int | None) -> None:
    """Refuse a baseline whose counts mean other things than this run's, naming the first
    difference."""
    where = f"--baseline {baseline.given}"
    if baseline.ignore_index != ignore_index:
        raise UsageError(
            f"{where}: ignore index {baseline.ignore_index} there, {ignore_index} here: the "
            "runs counted different pixels"
        )
    if _found_names(baseline.names) and _found_names(names):
        return
    if len(baseline.names) != len(names):
        raise UsageError(
            f"{where}: {len(baseline.names)} classes there ({', '.join(baseline.names)}), "
            f"{len(names)} here ({', '.join(names)})"
        )
    for i, (there, here) in enumerate(zip(baseline.names, names, strict=True)):
        if there != here:
            raise UsageError(f"{where}: class {i} is {there!r} there, {here!r} here")


def compare(
    result: ScoreResult,
    baseline: Baseline,
    aggregate: Aggregate,
    bootstrap: int,
    seed: int,
    tolerance: float | None,
) -> Regression:
    """Per-class and mean Dice of both runs on their common images, the deltas and their
    paired bootstrap 95% intervals (``bootstrap`` replicates drawn from ``seed``; 0: none).

    A row is *worse* when its drop exceeds ``tolerance`` (0 without one) and, with intervals,
    its whole interval lies below zero: a drop the resampling cannot tell from noise is not
    called a regression. Without intervals the drop alone decides.
    """
    settings = result.report.settings
    names = result.class_names
    _check_compatible(baseline, names, settings.ignore_index)
    c = max(len(names), len(baseline.names))
    names = names if len(names) == c else baseline.names
    per = result.per_image
    here = dict(zip(per.keys, range(len(per.keys)), strict=True))
    there_at = dict(zip(baseline.keys, range(len(baseline.keys)), strict=True))
    common = sorted(here.keys() & there_at.keys())
    if not common:
        raise UsageError(
            f"--baseline {baseline.given}: no image is scored in both runs "
            f"({len(here)} here, {len(there_at)} there)"
        )
    current = _rows(Counts(per.tp, per.fp, per.fn), [here[k] for k in common], c)
    there = _rows(baseline.counts, [there_at[k] for k in common], c)
    truth_changed = np.any(current.tp + current.fn != there.tp + there.fn, axis=1)
    include = M.foreground(c, settings.include_background)
    paired = PairedDice(current, there, aggregate, settings.empty, include)
    now, before = paired.point()
    low, high = np.full(c + 1, np.nan), np.full(c + 1, np.nan)
    defined = np.zeros(c + 1, np.int64)
    if bootstrap:
        low, high, defined = percentile_interval(paired.replicates(bootstrap, seed))
    rows = []
    for j in range(c + 1):
        delta = now[j] - before[j]
        # an undefined delta or interval compares false: never worse
        worse = bool(delta < -(tolerance or 0.0)) and (not bootstrap or bool(high[j] < 0))
        rows.append(
            RegressionRow(
                id=None if j == c else j,
                name="mean" if j == c else names[j],
                foreground=bool(include[j]) if j < c else True,
                baseline=_value(before[j]),
                current=_value(now[j]),
                delta=_value(delta),
                ci_low=_value(low[j]),
                ci_high=_value(high[j]),
                replicates_defined=int(defined[j]),
                worse=worse,
            )
        )
    return Regression(
        baseline=baseline.given,
        source=baseline.source,
        aggregate=aggregate,
        images_compared=len(common),
        only_in_baseline=sorted(there_at.keys() - here.keys()),
        only_in_current=sorted(here.keys() - there_at.keys()),
        ground_truth_changed=[
            k for k, changed in zip(common, truth_changed, strict=True) if changed
        ],
        bootstrap=bootstrap,
        seed=seed,
        tolerance=tolerance,
        mean=rows[-1],
        classes=rows[:-1],
    )


def _value(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def apply_regression(report: ScoreReport, regression: Regression) -> ScoreReport:
    """The report with its regression section and, with a tolerance, its regression gates:
    one on the mean Dice and one per class in the mean, each failing when its row is worse."""
    gates = list(report.gates)
    if regression.tolerance is not None:
        rows = [regression.mean, *(r for r in regression.classes if r.foreground)]
        gates += [
            GateResult(
                name="regression of mean dice"
                if r.id is None
                else f"regression of dice of {r.name}",
                kind="regression",
                aggregate=regression.aggregate,
                threshold=0.0 - regression.tolerance,  # never -0.0
                value=r.delta,
                ci_low=r.ci_low,
                ci_high=r.ci_high,
                passed=not r.worse,
            )
            for r in rows
        ]
    return report.model_copy(
        update={
            "regression": regression,
            "gates": gates,
            "passed": all(g.passed for g in gates),
        }
    )
