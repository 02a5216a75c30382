"""From per-image counts to the score report, and the CI gates evaluated on it.

:mod:`polymask.score.run` streams folders into per-image counts; this module turns them into the
:class:`~polymask.score.report.ScoreReport` (both aggregates, means over foreground classes, the
worst images) and checks ``--fail-under`` / ``--fail-under-class`` against it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from polymask import __version__
from polymask.errors import UsageError
from polymask.score import metrics as M
from polymask.score.report import (
    Aggregate,
    Aggregates,
    ClassScore,
    GateResult,
    ImageScore,
    ImageSurface,
    Metrics,
    NotMask,
    ProblemEntry,
    ScoreReport,
    Settings,
    SurfaceScore,
)
from polymask.score.surface import SURFACE_METRICS
from polymask.score.types import PerImage, ScoreOptions


def _value(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def _metrics(values: dict[str, np.ndarray], i: int | None, fg: np.ndarray) -> Metrics:
    """Metrics of class ``i``, or (``i`` None) the means over the classes in ``fg``."""
    if i is None:
        return Metrics(**{k: M.class_mean(v, fg) for k, v in values.items()})
    return Metrics(**{k: _value(v[i]) for k, v in values.items()})


def _surface(values: np.ndarray, i: int) -> SurfaceScore | None:
    """Class ``i``'s surface distances over the images: means of the finite values (an image
    where one mask lacks the class has infinite distances, counted apart, and surface Dice 0,
    which enters its mean); None where no image defines any (background, absent classes)."""
    hd, hd95, assd, sdice = values[:, :, i].T
    finite = np.isfinite(hd)
    one_sided = int(np.isinf(hd).sum())
    if not finite.any() and not one_sided:
        return None

    def mean(v: np.ndarray, where: np.ndarray) -> float | None:
        return float(v[where].mean()) if where.any() else None

    return SurfaceScore(
        hd=mean(hd, finite),
        hd95=mean(hd95, finite),
        assd=mean(assd, finite),
        surface_dice=mean(sdice, ~np.isnan(sdice)),
        images=int(finite.sum()),
        one_sided=one_sided,
    )


def _image_surfaces(values: np.ndarray) -> list[ImageSurface]:
    """Each image's (4, C) surface distances as lists, null where undefined or infinite
    (strict JSON has neither; a one-sided case keeps its surface Dice of 0)."""
    finite = np.where(np.isfinite(values), values, np.nan).tolist()
    return [
        ImageSurface(
            **{
                name: [None if math.isnan(x) else x for x in row]
                for name, row in zip(SURFACE_METRICS, image, strict=True)
            }
        )
        for image in finite
    ]


def build_report(
    preds: Path,
    gt: Path,
    pairing,
    per_image: PerImage,
    names: list[str],
    options: ScoreOptions,
    ignore: int | None,
) -> ScoreReport:
    """The report model: per-class values under both aggregates, means, worst images."""
    c = len(names)
    fg = M.foreground(c, options.include_background)
    totals = [a.sum(axis=0) for a in (per_image.tp, per_image.fp, per_image.fn)]
    global_values = M.from_counts(*totals, options.empty)
    if per_image.band_gt is not None:
        bands = [
            a.sum(axis=0) for a in (per_image.band_gt, per_image.band_pred, per_image.band_hit)
        ]
        global_values.update(M.boundary_from_counts(*bands, options.empty))
    image_values = per_image.metrics(options.empty)
    mpi_values = {k: M.mean_per_image(v) for k, v in image_values.items()}
    tp, fp, fn = totals
    classes = [
        ClassScore(
            id=i,
            name=names[i],
            foreground=bool(fg[i]),
            tp=int(tp[i]),
            fp=int(fp[i]),
            fn=int(fn[i]),
            gt_pixels=int(tp[i] + fn[i]),
            pred_pixels=int(tp[i] + fp[i]),
            images_with_class=int(((per_image.tp[:, i] + per_image.fn[:, i]) > 0).sum()),
            metrics=Aggregates(
                **{
                    "global": _metrics(global_values, i, fg),
                    "mean-per-image": _metrics(mpi_values, i, fg),
                }
            ),
            surface=_surface(per_image.surface, i) if per_image.surface is not None else None,
        )
        for i in range(c)
    ]
    dice, iou = (M.class_means(image_values[k], fg) for k in ("dice", "iou"))
    # the counts ride along so that any report can be a later run's --baseline
    surfaces = (
        _image_surfaces(per_image.surface)
        if per_image.surface is not None
        else [None] * len(per_image.keys)
    )
    images = [
        ImageScore(key=key, mean_dice=d, mean_iou=u, tp=a, fp=b, fn=n, surface=s)
        for key, d, u, a, b, n, s in zip(
            per_image.keys,
            dice,
            iou,
            per_image.tp.tolist(),
            per_image.fp.tolist(),
            per_image.fn.tolist(),
            surfaces,
            strict=True,
        )
    ]
    ranked = sorted(
        (im for im in images if im.mean_dice is not None), key=lambda im: (im.mean_dice, im.key)
    )
    return ScoreReport(
        polymask_version=__version__,
        preds=str(preds),
        gt=str(gt),
        settings=Settings(
            num_classes=c,
            ignore_index=ignore,
            empty=options.empty,
            include_background=options.include_background,
            missing=options.missing,
            pred_ignore=options.pred_ignore,
            boundary=options.boundary,
            surface_tolerance=options.surface.tolerance if options.surface else None,
            surface_percentile=options.surface.percentile if options.surface else None,
        ),
        images_scored=len(per_image.keys),
        missing_predictions=list(pairing.missing),
        extra_predictions=pairing.extra,
        not_masks=[NotMask(file=str(p), reason=r) for p, r in pairing.unreadable.items()],
        problems=[
            ProblemEntry(
                file=p.file,
                message=p.message,
                path=p.path,
                code=p.code,
                line=p.line,
                column=p.column,
            )
            for p in sorted(
                pairing.problems, key=lambda p: (p.file, p.line or 0, p.path, p.message)
            )
        ],
        summary=Aggregates(
            **{
                "global": _metrics(global_values, None, fg),
                "mean-per-image": _metrics(mpi_values, None, fg),
            }
        ),
        classes=classes,
        worst=ranked[: options.worst],
        images=images,
        gates=[],
        passed=True,
    )


def parse_threshold_spec(spec: str) -> dict[str, float]:
    """``road=0.9,person=0.7`` -> {class name or id: threshold}, checked without knowing the
    classes, so that a bad gate is refused before the scoring it would judge.

    Each threshold is a Dice in [0, 1]: a NaN gate would pass or fail by accident (every
    comparison with NaN is false), and one above 1 can never be met. A class given twice is
    refused rather than one of its thresholds silently dropped.
    """
    out: dict[str, float] = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        name, sep, value = item.rpartition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"expected CLASS=THRESHOLD, got {item!r}")
        try:
            threshold = float(value)
        except ValueError:
            raise UsageError(f"{item!r}: threshold {value!r} is not a number") from None
        if not 0 <= threshold <= 1:  # false for NaN too
            raise UsageError(f"{item!r}: threshold {value!r} is not a Dice in [0, 1]")
        if name in out:
            raise UsageError(f"class {name!r} is given two thresholds")
        out[name] = threshold
    return out


def parse_class_thresholds(spec: str, names: list[str]) -> dict[int, float]:
    """``road=0.9,person=0.7`` (names or ids) -> {class id: threshold}; see
    :func:`parse_threshold_spec` for what is refused."""
    by_name = {n: i for i, n in enumerate(names)}
    out: dict[int, float] = {}
    for name, threshold in parse_threshold_spec(spec).items():
        if name in by_name:
            cls = by_name[name]
        elif name.isdigit() and int(name) < len(names):
            cls = int(name)
        else:
            raise UsageError(f"unknown class {name!r}; classes: {', '.join(names)}")
        if cls in out:
            raise UsageError(f"class {names[cls]!r} is given two thresholds (by name and id)")
        out[cls] = threshold
    return out


def apply_gates(
    report: ScoreReport,
    fail_under: float | None = None,
    fail_under_class: dict[int, float] | None = None,
    aggregate: Aggregate = "global",
) -> ScoreReport:
    """The report with its gates evaluated: mean Dice and per-class Dice against thresholds.

    An undefined value (null) fails its gate: a threshold on a class that never occurs cannot
    be claimed met.
    """
    gates = []
    if fail_under is not None:
        value = report.summary.get(aggregate).dice
        gates.append(
            GateResult(
                name="mean dice",
                aggregate=aggregate,
                threshold=fail_under,
                value=value,
                passed=value is not None and value >= fail_under,
            )
        )
    for cls, threshold in sorted((fail_under_class or {}).items()):
        score = report.classes[cls]
        value = score.metrics.get(aggregate).dice
        gates.append(
            GateResult(
                name=f"dice of {score.name}",
                aggregate=aggregate,
                threshold=threshold,
                value=value,
                passed=value is not None and value >= threshold,
            )
        )
    return report.model_copy(update={"gates": gates, "passed": all(g.passed for g in gates)})
