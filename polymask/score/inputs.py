"""What ``score`` reads on each side, paired by key: masks, annotations or a COCO results file.

Models and teams keep predictions and ground truth in many forms. Each side of a run is read
into keyed sources (:mod:`polymask.score.sources`):

- a folder of **masks** (PNG, TIFF, BMP, ``.npy``/``.npz``): keyed by path without extension;
- **annotations** in any format polymask reads (a file, or a folder of them): read into the
  dataset index ``rasterize`` uses (:mod:`polymask.dataset`), keyed as ``rasterize`` names its
  masks, and drawn on the fly with the same settings and label map;
- a **COCO results file** (predictions only): its detections are matched to the ground truth's
  images by COCO image id, so its ground truth must be the COCO instances file it refers to.
  Every ground-truth image is paired (an image with no detection is predicted all
  background); a detection of an image the ground truth does not have is a problem.

A folder holding annotation files is read as annotations, one holding mask files as masks; one
holding both (masks and JSON files with other names) is ambiguous and refused, unless
``read_as`` says which. Every form then goes through the same pairing rules, the same missing
and extra policy and the same value checks as folders of masks. Each folder is listed once
(:func:`polymask.io.walk.list_folder`): telling its kind, finding its annotations and pairing
its masks all read that one listing, where a walk each would list 100,000 masks on a network
disk twice.

The label map follows the one rule (:mod:`polymask.settings`): the labels given; else, for
ground-truth masks, the ``labels.txt`` beside them; else, for ground-truth annotations, the
classes found in the annotations of both sides (COCO's own category ids when declared), as
``rasterize`` numbers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from polymask.errors import AnnotationError, Problem, UsageError
from polymask.formats import SUFFIXES, find_inputs
from polymask.formats.detect import coco_results
from polymask.io.maskformats import LISTED_SUFFIXES
from polymask.io.storage import as_path
from polymask.io.walk import Listing, list_folder, reusing
from polymask.labels import FoundLabels, LabelMap, masks_label_map
from polymask.score.pairing import (
    MASK_SUFFIXES,
    MaskPair,
    Pairing,
    mask_files,
    pair_folders,
    scan_masks,
    sort_out_others,
)
from polymask.score.sources import Burned, Painted, Source
from polymask.settings import Settings, resolve_label_map

if TYPE_CHECKING:  # the dataset index and the results reader are imported where annotations
    # or a results file are read: scoring two folders of masks (a CI gate) never loads them
    from polymask.dataset import Dataset
    from polymask.formats.coco_results import Results

Kind = Literal["masks", "annotations", "results"]
ReadAs = Literal["auto", "masks", "annotations"]
HEAD_BYTES = 1 << 12
SIDE_SUFFIXES = frozenset(SUFFIXES) | frozenset(LISTED_SUFFIXES)
"""What a side's folder is listed for: annotation files, masks and the images that are not."""


@dataclass
class Side:
    """One side of a run (PREDS or GT), read into sources by key."""

    path: Path
    kind: Kind
    sources: dict[str, Source] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    dataset: Dataset | None = None
    results: Results | None = None
    listing: Listing | None = None
    """The folder's one listing, kept for pairing its masks (:func:`pair_sides`)."""


def open_side(
    path: str | Path,
    settings: Settings,
    read_as: ReadAs = "auto",
    role: str = "PREDS",
    min_score: float | None = None,
) -> Side:
    """Read one side. ``role`` names it in messages (PREDS or GT); ``min_score`` drops
    detections of a results file below it. Raises :class:`UsageError` for a path that is
    neither, a single mask file, or a folder whose kind is ambiguous."""
    path = as_path(path)
    if path.is_dir():
        listing = list_folder(path, SIDE_SUFFIXES)
        with reusing(listing):
            kind = _folder_kind(path, role) if read_as == "auto" else read_as
            if kind == "masks":
                return Side(path, "masks", listing=listing)  # its masks are found when paired
            return _annotations(path, settings)
    if not path.exists():
        raise UsageError(f"{role} {path}: no such file or folder")
    if read_as != "masks" and is_results_file(path):
        if role == "GT":
            raise UsageError(
                f"GT {path} is a COCO results file (predictions): give it as PREDS, and the "
                "COCO instances file it refers to as GT"
            )
        from polymask.formats.coco_results import load_results

        try:
            results = load_results(path, min_score)
        except AnnotationError as exc:
            return Side(path, "results", problems=exc.problems)
        return Side(path, "results", problems=list(results.problems), results=results)
    if read_as == "masks" or path.suffix.lower() in MASK_SUFFIXES:
        raise UsageError(f"{role} {path}: a single mask; give the folder of masks")
    return _annotations(path, settings)


def is_results_file(path: Path) -> bool:
    """Whether a file starts as a COCO results list (detections with image and category ids)."""
    try:
        with path.open("rb") as f:
            head = f.read(HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return False
    return coco_results(head)


def _folder_kind(folder: Path, role: str) -> Kind:
    annotations = find_inputs([folder])
    if not annotations:
        return "masks"
    masks, _ = mask_files(folder)
    named = {f.key for f in annotations}
    strays = sorted(k for k in masks if k not in named)  # not an annotated image's own file
    if not strays:
        return "annotations"
    option = "--gt-as" if role == "GT" else "--preds-as"
    raise UsageError(
        f"{role} {folder} holds both masks ({masks[strays[0]].name}) and annotation files "
        f"({annotations[0].path.name}): say which to read with {option} masks|annotations"
    )


def _annotations(path: Path, settings: Settings) -> Side:
    from polymask.dataset import read_dataset

    problems: list[Problem] = []
    files = find_inputs([path], problems)
    dataset = read_dataset(files, settings)
    side = Side(path, "annotations", problems=problems + dataset.problems, dataset=dataset)
    side.sources = {item.key: Burned(item) for item in dataset.items}
    return side


def pair_sides(preds: Side, gt: Side) -> Pairing:
    """Pairs sorted by key, the ground truth without a prediction (missing), the predictions
    without ground truth (extra) and what was wrong finding them. The folders of masks are
    read from the listings :func:`open_side` made, which are then let go."""
    listings = [side.listing for side in (preds, gt) if side.listing is not None]
    with reusing(*listings):
        if preds.kind == "masks" and gt.kind == "masks":
            pairing = pair_folders(preds.path, gt.path)
        elif preds.kind == "results":
            pairing = _pair_results(preds, gt)
        else:
            pairing = _pair_keyed(preds, gt)
    preds.listing = gt.listing = None
    pairing.problems[:0] = gt.problems + preds.problems
    return pairing


def _pair_keyed(preds: Side, gt: Side) -> Pairing:
    """Pairs of a side of annotations with a side of masks or annotations. The files of a
    masks side that are not masks (a prediction saved as JPEG) are sorted out as
    :func:`~polymask.score.pairing.pair_folders` sorts them."""
    pred_scan = scan_masks(preds.path) if preds.kind == "masks" else None
    gt_scan = scan_masks(gt.path) if gt.kind == "masks" else None
    pred_sources = pred_scan.masks if pred_scan is not None else preds.sources
    gt_sources = gt_scan.masks if gt_scan is not None else gt.sources
    pairing = Pairing()
    unscorable: set[str] = set()
    for scan, scored in ((gt_scan, None), (pred_scan, gt_sources)):
        if scan is not None:
            pairing.problems += scan.problems
            unscorable |= sort_out_others(scan, scored, pairing)
    for key in sorted(gt_sources):
        if key in pred_sources:
            pairing.pairs.append(MaskPair(key, gt_sources[key], pred_sources[key]))
        elif key not in unscorable:
            pairing.missing[key] = gt_sources[key]
    others = gt_scan.others if gt_scan is not None else {}
    pairing.extra = sorted(set(pred_sources) - set(gt_sources) - set(others))
    return pairing


def _pair_results(preds: Side, gt: Side) -> Pairing:
    """Every COCO image of the ground truth with its detections (none: all background)."""
    from polymask.formats.coco_results import CODE as RESULTS_CODE

    results = preds.results
    check_sides(preds, gt)
    pairing = Pairing()
    if results is None:  # the file could not be read: its problems say why
        pairing.missing = dict(gt.sources)
        return pairing
    by_id: dict[object, Burned] = {}
    for key in sorted(gt.sources):
        source = gt.sources[key]
        part = source.item.entry.part if source.item.entry is not None else None
        record = getattr(part, "record", None)
        if record is None:  # not a COCO image (or its record is malformed): nothing matches
            pairing.missing[key] = source
            continue
        if record.id in by_id:
            other = by_id[record.id].item.source.path
            msg = f"image id {record.id!r} is also in {other}: the results cannot tell which"
            pairing.problems.append(Problem(str(source.item.source.path), msg, source.item.place))
            continue
        by_id[record.id] = source
        detections = tuple(results.by_image.get(record.id, ()))
        pred = Painted(
            str(results.path),
            key,
            record.id,
            record.width,
            record.height,
            detections,
            tuple(sorted(part.categories.items())),
        )
        pairing.pairs.append(MaskPair(key, source, pred))
    for image_id, detections in results.by_image.items():
        if image_id not in by_id:
            pairing.extra.append(f"image_id {image_id!r}")
            msg = f"image_id {image_id!r} is not an image of the ground truth {gt.path}"
            where = f"[{detections[0].index}].image_id"
            pairing.problems.append(Problem(str(results.path), msg, where, RESULTS_CODE))
    return pairing


def check_sides(preds: Side, gt: Side) -> None:
    """Refuse sides that cannot pair, before anything is read for them."""
    if preds.kind == "results" and gt.kind != "annotations":
        raise UsageError(
            f"PREDS {preds.path} is a COCO results file, which names images by COCO id: give "
            "the COCO instances file it refers to as GT"
        )


def side_label_map(
    settings: Settings, preds: Side, gt: Side, given: LabelMap | None = None
) -> tuple[LabelMap | None, str | None]:
    """The label map of the run (see the module docstring), ``given`` first, and a note to show
    when its ids depend on the labels found; None: the classes are the values found in the
    masks. Labels refused as class names are added to the ground truth's problems."""
    given = given or resolve_label_map(settings)
    if given is not None:
        return given, None
    if gt.kind == "masks":
        found = masks_label_map([gt.path], settings.ignore_index)
        if found is None and preds.kind != "masks":
            raise UsageError(
                f"PREDS {preds.path} are annotations and the masks in GT {gt.path} carry no "
                "labels.txt: give --labels, so that their class names get the masks' ids"
            )
        return found, None
    from polymask.dataset import Dataset, dataset_label_map

    labels = FoundLabels()
    for side in (gt, preds):
        if side.dataset is not None:
            labels.merge(side.dataset.labels)
    merged = Dataset(labels=labels)
    label_map, note = dataset_label_map(settings, merged)
    gt.problems += merged.labels.problems
    return label_map, note
