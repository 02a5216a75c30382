"""Label statistics of a dataset: what ``polymask stats`` measures.

Each image is reduced to a small histogram in a worker (``np.bincount`` of its class ids, and
from annotations the pixel area of each instance); only those travel back, into a
:class:`StatsAccumulator` whose size depends on the number of classes, never on the number of
images. :func:`summarize` turns the totals into a :class:`~polymask.stats.report.StatsReport`:
per-class counts, imbalance, entropy, class weights (:mod:`polymask.stats.weights`) and advice
(:mod:`polymask.stats.advice`).

Conventions: class 0 is the background; pixels equal to the ignore index are counted on their
own and left out of every fraction and weight. Fractions of a class in an image are taken over
the image's non-ignore pixels.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from polymask.dataset import Item, burn_item
from polymask.errors import AnnotationError, Problem, UsageError
from polymask.formats import InputFile
from polymask.io.masks import MaskReadError, read_mask
from polymask.io.walk import find_files
from polymask.labels import BACKGROUND, LabelMap
from polymask.runtime.parallel import pmap
from polymask.settings import Settings
from polymask.stats import weights as class_weights
from polymask.stats.report import (
    ClassStats,
    ClassWeights,
    ImageSize,
    ObjectArea,
    ProblemEntry,
    Source,
    StatsReport,
)

# ---- per-image work (in workers) --------------------------------------------------------------


@dataclass
class ImageHistogram:
    """One image reduced to what the statistics need: a few numbers per class."""

    size: tuple[int, int]  # (width, height)
    classes: np.ndarray  # class ids with pixels, ascending
    pixels: np.ndarray  # pixels of each of those ids (the ignore index included)
    object_areas: dict[int, list[int]] | None = None  # class id -> pixels of each instance


@dataclass
class FileHistograms:
    """What one input file gave: its images' histograms and the problems met."""

    source: str
    images: list[ImageHistogram] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def histogram(classes: np.ndarray, instances: np.ndarray | None = None) -> ImageHistogram:
    """Pixels per class id of one class map and, given an instance map, each instance's area.

    An instance is a distinct non-zero id of the instance map; its pixels all carry one class,
    and an instance hidden entirely under later shapes has no pixels and is not counted.
    """
    flat = classes.ravel()
    pieces = range(0, flat.size, COUNT_PIECE)
    if len(pieces) <= 1:
        counts = np.bincount(flat)
    else:
        counts = np.zeros(int(flat.max()) + 1, np.int64)
        for start in pieces:
            counts += np.bincount(flat[start : start + COUNT_PIECE], minlength=counts.size)
    ids = np.flatnonzero(counts)
    hist = ImageHistogram((classes.shape[1], classes.shape[0]), ids, counts[ids])
    if instances is not None:
        found = [_instance_areas(flat, instances.ravel(), s, s + COUNT_PIECE) for s in pieces]
        keys, areas = found[0] if len(found) == 1 else _merge_areas(found)
        hist.object_areas = {}
        for cls, area in zip((keys >> 16).tolist(), areas.tolist(), strict=True):
            hist.object_areas.setdefault(cls, []).append(area)
    return hist


COUNT_PIECE = 1 << 20
"""Pixels counted at a time: ``np.bincount`` and the instance keys take 8 bytes a pixel, so
an image is counted in pieces of 1 Mpx (8 MiB of work arrays) and never costs 8 times its
mask (see the memory budget, :mod:`polymask.limits`)."""


def _instance_areas(
    classes: np.ndarray, instances: np.ndarray, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray]:
    """(class << 16 | instance) keys of the instance pixels in ``start:stop``, ascending, and
    the pixels of each: both ids fit in 16 bits."""
    inside = instances[start:stop] != 0
    pairs = classes[start:stop][inside].astype(np.int64) << 16 | instances[start:stop][inside]
    return np.unique(pairs, return_counts=True)


def _merge_areas(found: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    keys, where = np.unique(np.concatenate([k for k, _ in found]), return_inverse=True)
    areas = np.zeros(keys.size, np.int64)
    np.add.at(areas, where, np.concatenate([a for _, a in found]))
    return keys, areas


def find_masks(
    inputs: Iterable[str | Path], problems: list[Problem] | None = None
) -> list[InputFile]:
    """Mask PNGs named or found (recursively, through symbolic links) below the given folders,
    sorted; special files and looping links are skipped and named in ``problems``
    (:func:`polymask.io.walk.find_files`)."""
    found = {f: InputFile(f, root) for f, root in find_files(inputs, (".png",), problems).items()}
    if not found:
        raise UsageError(f"no mask PNGs found in {', '.join(map(str, inputs))}")
    return sorted(found.values(), key=lambda f: (str(f.root), f.key))


def mask_histograms(item: InputFile) -> FileHistograms:
    """Worker: the histogram of one mask PNG."""
    out = FileHistograms(str(item.path))
    try:
        out.images.append(histogram(read_mask(item.path)))
    except MaskReadError as exc:
        out.problems.append(Problem(str(item.path), str(exc).removeprefix(f"{item.path}: ")))
    return out


def annotation_histograms(item: Item, settings: Settings, label_map: LabelMap) -> FileHistograms:
    """Worker: one image item, burned in memory (nothing is written) as ``rasterize`` burns it."""
    out = FileHistograms(str(item.source.path))
    try:
        _, r = burn_item(item, settings, label_map, instances=True)
    except AnnotationError as exc:
        out.problems.extend(exc.problems)
        return out
    out.images.append(histogram(r.classes, r.instances))
    return out


# ---- streaming totals -------------------------------------------------------------------------


class ExactSum:
    """A running sum of floats that does not depend on the order of the terms.

    Workers finish in any order; summing fractions in arrival order would change the last
    digits from run to run. Shewchuk's exact partials (the algorithm behind ``math.fsum``) keep
    the sum exact, so the same inputs always give the same report. A handful of floats at most.
    """

    def __init__(self) -> None:
        self.partials: list[float] = []

    def add(self, x: float) -> None:
        i = 0
        for y in self.partials:
            if abs(x) < abs(y):
                x, y = y, x
            hi = x + y
            lo = y - (hi - x)
            if lo:
                self.partials[i] = lo
                i += 1
            x = hi
        self.partials[i:] = [x]

    @property
    def value(self) -> float:
        return math.fsum(self.partials)


@dataclass
class ClassTotals:
    pixels: int = 0
    images: int = 0
    image_pixels: int = 0  # non-ignore pixels of the images that contain the class
    fraction_sum: ExactSum = field(default_factory=ExactSum)  # of its fraction of each image
    instances: int = 0
    areas: Counter = field(default_factory=Counter)  # area -> instances: bounded by image size
    # (pixels, -input index) of the image holding the most of the class, the first input on ties:
    # the image the HTML page shows for a rare class, known without a second pass
    richest: tuple[int, int] = (0, 0)


class StatsAccumulator:
    """Running totals over images; memory grows with the classes, not with the images."""

    def __init__(self, ignore_index: int, with_instances: bool):
        self.ignore_index = ignore_index
        self.with_instances = with_instances
        self.images = 0
        self.ignore_pixels = 0
        self.ignore_images = 0
        self.sizes: Counter = Counter()
        self.classes: dict[int, ClassTotals] = {}

    def add(self, hist: ImageHistogram, index: int = 0) -> None:
        """Count one image, of the input at ``index`` in input order."""
        self.images += 1
        self.sizes[hist.size] += 1
        valid = int(hist.pixels[hist.classes != self.ignore_index].sum())
        for cls, n in zip(hist.classes.tolist(), hist.pixels.tolist(), strict=True):
            if cls == self.ignore_index:
                self.ignore_pixels += n
                self.ignore_images += 1
                continue
            t = self.classes.setdefault(cls, ClassTotals())
            t.pixels += n
            t.images += 1
            t.image_pixels += valid
            t.fraction_sum.add(n / valid)
            t.richest = max(t.richest, (n, -index))
        for cls, areas in (hist.object_areas or {}).items():
            if cls == self.ignore_index:
                continue
            t = self.classes.setdefault(cls, ClassTotals())
            t.instances += len(areas)
            t.areas.update(areas)

    def richest(self) -> dict[int, int]:
        """For each class, the input index of the image holding the most of it."""
        return {cid: -t.richest[1] for cid, t in self.classes.items()}


def collect(
    files: Iterable[InputFile] | Iterable[Item],
    source: Source,
    settings: Settings,
    label_map: LabelMap | None = None,
    on_file=None,
) -> tuple[StatsAccumulator, list[Problem], int]:
    """Stream every mask file, or every image item of annotations (:mod:`polymask.dataset`),
    through the workers (``settings.workers`` on ``settings.scheduler``) into one accumulator.
    Annotations are burned with ``label_map`` and the settings' pixel rules, as ``rasterize``
    would burn them.

    Returns the totals, the problems met and the number of files that had an error.
    ``on_file`` is called once per file or item finished (a progress bar's advance).
    """
    if source == "masks":
        worker = mask_histograms
    else:
        if label_map is None:
            raise ValueError("annotations need a label map")
        worker = partial(annotation_histograms, settings=settings, label_map=label_map)
    acc = StatsAccumulator(settings.ignore_index, with_instances=source == "annotations")
    problems: list[Problem] = []
    indexed = list(enumerate(files))  # results come in completion order, each with its index
    found = pmap(
        partial(_indexed, worker=worker), indexed, settings.workers, scheduler=settings.scheduler
    )
    for index, result in found:
        for hist in result.images:
            acc.add(hist, index)
        problems += result.problems
        if on_file is not None:
            on_file()
    problems.sort(key=lambda p: (p.file, p.line or 0, p.path))
    return acc, problems, len({p.file for p in problems if p.severity == "error"})


def _indexed(indexed: tuple[int, object], worker) -> tuple[int, FileHistograms]:
    """Worker: ``worker`` over one input, returned with the input's index."""
    index, item = indexed
    return index, worker(item)


# ---- the report ---------------------------------------------------------------------------------


def summarize(
    acc: StatsAccumulator,
    label_map: LabelMap | None,
    source: Source,
    beta: float = class_weights.DEFAULT_BETA,
    problems: list[Problem] | None = None,
    files_failed: int = 0,
) -> StatsReport:
    """The report for the totals: every measure computed from the accumulated counts."""
    from polymask.stats.advice import advice

    names = label_map.names if label_map is not None else {}
    ids = sorted(set(names) | (set(acc.classes) - {acc.ignore_index}))
    totals = [acc.classes.get(i, ClassTotals()) for i in ids]
    pixels = np.array([t.pixels for t in totals], dtype=np.int64)
    image_pixels = np.array([t.image_pixels for t in totals], dtype=np.int64)
    weights = class_weights.all_weights(pixels, image_pixels, beta)
    total = int(pixels.sum())
    fg = np.array([i != 0 for i in ids], dtype=bool)

    classes = []
    for k, (cid, t) in enumerate(zip(ids, totals, strict=True)):
        name = names.get(cid, BACKGROUND if cid == 0 and label_map is not None else None)
        area = None
        if t.areas:
            area = ObjectArea(min=min(t.areas), median=_counter_median(t.areas), max=max(t.areas))
        classes.append(
            ClassStats(
                id=cid,
                name=name,
                in_label_map=cid in names,
                pixels=t.pixels,
                fraction=t.pixels / total if total else 0.0,
                images=t.images,
                mean_fraction_where_present=t.fraction_sum.value / t.images if t.images else None,
                instances=t.instances if acc.with_instances else None,
                object_area=area,
                weights=ClassWeights(**{s: float(w[k]) for s, w in weights.items()}),
            )
        )
    vectors = {}
    for scheme, w in weights.items():
        vec = [0.0] * (max(ids) + 1 if ids else 0)
        for cid, value in zip(ids, w.tolist(), strict=True):
            vec[cid] = value
        vectors[scheme] = vec

    report = StatsReport(
        source=source,
        images=acc.images,
        files_failed=files_failed,
        image_sizes=[
            ImageSize(width=w, height=h, images=n)
            for (w, h), n in sorted(acc.sizes.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        pixels=total,
        ignore_index=acc.ignore_index,
        ignore_pixels=acc.ignore_pixels,
        ignore_images=acc.ignore_images,
        classes=classes,
        classes_absent=(
            [c.id for c in classes if c.in_label_map and c.pixels == 0]
            if label_map is not None
            else None
        ),
        imbalance_ratio=class_weights.imbalance_ratio(pixels),
        imbalance_ratio_foreground=class_weights.imbalance_ratio(pixels[fg]),
        normalized_entropy=class_weights.normalized_entropy(pixels),
        effective_number_beta=beta,
        weight_vectors=vectors,
        advice=[],
        problems=[
            ProblemEntry(file=p.file, message=p.message, path=p.path, line=p.line, code=p.code)
            for p in problems or []
        ],
    )
    report.advice = advice(report)
    return report


def _counter_median(counts: Counter) -> float:
    """Median of the multiset ``value -> multiplicity`` (mean of the middle two when even)."""
    n = sum(counts.values())
    values = sorted(counts)
    cumulative = np.cumsum([counts[v] for v in values])
    lo = values[int(np.searchsorted(cumulative, (n - 1) // 2, side="right"))]
    hi = values[int(np.searchsorted(cumulative, n // 2, side="right"))]
    return (lo + hi) / 2
