"""Advice in plain sentences, drawn from a :class:`~polymask.stats.report.StatsReport`.

Each rule is a small function that looks at the numbers and returns sentences (or none), so a
rule can be read, tested and tuned on its own. The thresholds are named constants below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from polymask.stats.report import StatsReport

DOMINANT_FRACTION = 0.9
"""A class with this share of the pixels makes pixel-averaged cross-entropy about that class."""
STRONG_IMBALANCE = 100.0
"""Imbalance ratio from which plain cross-entropy is advised against."""
FOREGROUND_IMBALANCE = 10.0
"""Foreground imbalance from which per-class averaging or weights are advised."""
BALANCED = 3.0
"""Imbalance ratio up to which the classes count as roughly balanced."""
RARE_IMAGES = 5
RARE_SHARE = 0.01
"""A class in fewer than RARE_IMAGES images, or in less than RARE_SHARE of them, is rare."""
SATURATED = 5.0
"""``n (1 - beta)`` above which ``beta**n`` < 1%: the effective number no longer grows with n."""
SMALL_OBJECT = 32 * 32
"""Median object area (pixels) below which objects are small: COCO's 'small' threshold."""


def advice(report: StatsReport) -> list[str]:
    """Every sentence the rules produce, most consequential first."""
    out: list[str] = []
    rules = (
        _no_pixels,
        _imbalance,
        _foreground,
        _absent,
        _rare,
        _small,
        _unlisted,
        _ignore,
        _saturated_beta,
    )
    for rule in rules:
        out += rule(report)
    return out


def _name(report: StatsReport, class_id: int) -> str:
    """Class 0 is 'background' whatever the label map calls it; others by name, in quotes."""
    if class_id == 0:
        return "background"
    name = report.class_name(class_id)
    return f"'{name}'" if name != f"class {class_id}" else name


def ratio_text(ratio: float) -> str:
    """``1:420`` for large ratios, ``1:2.5`` for small ones."""
    return f"1:{ratio:,.0f}" if ratio >= 10 else f"1:{ratio:.1f}"


def _no_pixels(report: StatsReport) -> list[str]:
    if report.pixels:
        return []
    return [
        "no labelled pixels were found: nothing to learn from; check the inputs and --ignore-index"
    ]


def _imbalance(report: StatsReport) -> list[str]:
    ratio = report.imbalance_ratio
    if ratio is None:
        return []
    present = [c for c in report.classes if c.pixels]
    top = max(present, key=lambda c: c.pixels)
    low = min(present, key=lambda c: c.pixels)
    if top.fraction >= DOMINANT_FRACTION:
        return [
            f"{_name(report, top.id)} is {100 * top.fraction:.1f}% of pixels; imbalance "
            f"{ratio_text(ratio)} — pixel-averaged cross-entropy will be dominated by "
            f"{_name(report, top.id)}; train with Dice or Dice+CE, or use the weights above"
        ]
    if ratio >= STRONG_IMBALANCE:
        return [
            f"imbalance {ratio_text(ratio)}: {_name(report, low.id)} is "
            f"{100 * low.fraction:.2g}% of pixels — it barely moves pixel-averaged "
            "cross-entropy; train with Dice or Dice+CE, or use the weights above"
        ]
    if ratio <= BALANCED:
        return [
            f"classes are roughly balanced (imbalance {ratio_text(ratio)}); plain "
            "cross-entropy is fine"
        ]
    return [
        f"imbalance {ratio_text(ratio)} ({_name(report, top.id)} "
        f"{100 * top.fraction:.1f}% of pixels) — moderate: Dice+CE or weighted "
        "cross-entropy keeps the small classes in view"
    ]


def _foreground(report: StatsReport) -> list[str]:
    ratio = report.imbalance_ratio_foreground
    fg = [c for c in report.classes if c.id != 0 and c.pixels]
    if ratio is None or ratio < FOREGROUND_IMBALANCE or len(fg) < 2:
        return []
    big = max(fg, key=lambda c: c.pixels)
    small = min(fg, key=lambda c: c.pixels)
    return [
        f"among foreground classes {_name(report, big.id)} has {ratio:,.0f}x the pixels of "
        f"{_name(report, small.id)} — report Dice per class and average over classes "
        "(macro), not over pixels"
    ]


def _absent(report: StatsReport) -> list[str]:
    absent = report.classes_absent or []
    if not absent:
        return []
    names = ", ".join(_name(report, i) for i in absent)
    return [
        f"{len(absent)} class{'es' if len(absent) > 1 else ''} of the label map never "
        f"appear{'s' if len(absent) == 1 else ''}: {names} — a model cannot learn "
        "them from this data; add examples or drop them from the label map"
    ]


def _rare(report: StatsReport) -> list[str]:
    n = report.images
    rare = [
        c
        for c in report.classes
        if c.id != 0 and 0 < c.images and (c.images < RARE_IMAGES or c.images < RARE_SHARE * n)
    ]
    hint = (
        "too few to learn and to validate on; split train/val so each side has some, or "
        "oversample the images that contain them"
    )
    if len(rare) == 1:
        c = rare[0]
        who = _name(report, c.id)
        who = f"class {who}" if who.startswith("'") else who  # never "class class 7"
        return [f"{who} appears in {c.images} of {n} images — {hint}"]
    if rare:
        listed = ", ".join(f"{_name(report, c.id)} ({c.images})" for c in rare)
        return [f"{len(rare)} classes appear in only a few of the {n} images: {listed} — {hint}"]
    return []


def _small(report: StatsReport) -> list[str]:
    out = []
    for c in report.classes:
        if c.object_area is not None and c.object_area.median < SMALL_OBJECT:
            out.append(
                f"objects of {_name(report, c.id)} are small (median "
                f"{c.object_area.median:,.0f} px, under COCO's 32x32) — their Dice is "
                "noisy per image; check the input resolution keeps them visible"
            )
    return out


def _unlisted(report: StatsReport) -> list[str]:
    if report.classes_absent is None:
        return []
    return [
        f"mask value {c.id} is not in the label map ({c.pixels:,} pixels in {c.images} "
        "images) — a wrong labels.txt, or pixels that should be --ignore-index"
        for c in report.classes
        if not c.in_label_map and c.pixels and c.id != 0
    ]


def _ignore(report: StatsReport) -> list[str]:
    if not report.ignore_pixels:
        return []
    share = report.ignore_pixels / (report.ignore_pixels + report.pixels)
    images = f"{report.ignore_images} image{'s' if report.ignore_images != 1 else ''}"
    return [
        f"{100 * share:.1f}% of pixels ({images}) are ignore "
        f"({report.ignore_index}); they are left out above and must be left out of the loss "
        f"too (ignore_index={report.ignore_index})"
    ]


def _saturated_beta(report: StatsReport) -> list[str]:
    """With every class past saturation the effective-number weights are all about 1."""
    beta = report.effective_number_beta
    present = [c.pixels for c in report.classes if c.pixels]
    if len(present) < 2 or min(present) * (1 - beta) < SATURATED:
        return []
    suggestion = 1 - 1 / sorted(present)[len(present) // 2]
    return [
        f"effective-number weights are all close to 1 at beta {beta:g}: every class has "
        f"over {SATURATED / (1 - beta):,.0f} pixels; for re-weighting pass a beta nearer 1, "
        f"e.g. --beta {suggestion:.10g} (1 - 1/median class pixels)"
    ]
