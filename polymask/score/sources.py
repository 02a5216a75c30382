"""The two sides of a scored pair, whatever form they come in, read into class maps.

A side of a pair is a *source*:

- a mask file (``Path``): a PNG/TIFF/BMP label map or a ``.npy``/``.npz`` array, decoded; or a
  NIfTI label volume (``.nii``, ``.nii.gz``), read with its voxel grid, which must be the
  ground truth's (:func:`polymask.io.volumes.check_pair`);
- a :class:`Burned` item of an annotation dataset (any format polymask reads), drawn on the
  fly with the settings and label map ``rasterize`` would use, so scoring annotations equals
  rasterizing them and scoring the masks, with no mask written;
- a :class:`Painted` image of a COCO results file: its detections drawn lowest score first.

:func:`open_source` gives each as an object with the interface of
:class:`~polymask.io.masks.MaskFile` (``width``, ``height``, ``decode``), so the scorer compares
sizes and decodes the same way for all. A mask file's size comes from its header, before its
pixels are inflated; a drawn source is drawn when it is opened (its size is known only then for
some formats). Sources are small and picklable: they travel to the workers, which draw them
where the work runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from polymask.errors import AnnotationError, Problem
from polymask.io.maskformats import VOLUME_MASK_SUFFIXES, suffix_of
from polymask.io.masks import MaskFile, MaskReadError, load_mask

if TYPE_CHECKING:  # workers that read masks only never import the readers and the rasterizer
    from polymask.dataset import Item
    from polymask.formats.coco_results import Detection
    from polymask.labels import LabelMap
    from polymask.model import ImageAnnotation
    from polymask.settings import Settings


@dataclass(frozen=True)
class Burned:
    """An image of an annotation dataset, drawn when it is scored."""

    item: Item

    def __str__(self) -> str:
        return self.item.name


@dataclass(frozen=True)
class Painted:
    """An image's detections in a COCO results file, drawn when it is scored."""

    results: str
    """The results file."""
    key: str
    image_id: object
    width: int
    height: int
    detections: tuple[Detection, ...]
    categories: tuple[tuple[int, str], ...]
    """The ground truth's categories (id, name), which name the detections' classes."""

    def __str__(self) -> str:
        return f"{self.results} image_id {self.image_id!r}"


Source = Path | Burned | Painted
"""A mask file (a path, or a URL's string), an annotated image or an image's detections."""


@dataclass(frozen=True)
class Drawing:
    """How annotations become class maps in a score run: ``rasterize``'s settings and the
    run's label map."""

    settings: Settings
    label_map: LabelMap


class SourceError(Exception):
    """A source that cannot be read or drawn; ``problems`` say why, naming its file."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(map(str, problems)))
        self.problems = problems


@dataclass
class VolumeMask:
    """A label volume, read whole (:func:`polymask.io.volumes.read_volume` checks the memory
    budget from its header first), with :class:`MaskFile`'s reading interface."""

    path: str
    classes: np.ndarray
    meta: object
    """Its :class:`~polymask.io.volumes.VolumeMeta`: shape, spacing, orientation."""

    @property
    def width(self) -> int:
        return self.classes.shape[-1]

    @property
    def height(self) -> int:
        return self.classes.shape[-2]

    def decode(self, buffer: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
        return self.classes


def check_grids(gt, pred) -> None:
    """Raise :class:`SourceError` naming the prediction when the two do not lie on one grid: a
    volume against a 2-D mask, or volumes of other shapes, spacings or orientations."""
    from polymask.io.volumes import VolumeError, check_pair

    if isinstance(gt, VolumeMask) != isinstance(pred, VolumeMask):
        kinds = ("a volume", "a 2-D mask") if isinstance(pred, VolumeMask) else ("2-D", "a volume")
        msg = f"{kinds[0]}, paired with {kinds[1]}: {gt.path}"
        raise SourceError([Problem(str(pred.path), msg)])
    if isinstance(gt, VolumeMask):
        try:
            check_pair(gt.meta, pred.meta)
        except VolumeError as exc:
            raise SourceError([Problem(exc.file, exc.reason)]) from None


def _volume(path) -> VolumeMask:
    from polymask.io.volumes import VolumeError, read_volume

    try:
        classes, meta = read_volume(path)
    except VolumeError as exc:
        raise SourceError([Problem(exc.file, exc.reason)]) from None
    return VolumeMask(str(path), classes, meta)


@dataclass
class DrawnMask:
    """A class map drawn from annotations, with :class:`MaskFile`'s reading interface."""

    path: str
    classes: np.ndarray

    @property
    def width(self) -> int:
        return self.classes.shape[1]

    @property
    def height(self) -> int:
        return self.classes.shape[0]

    def decode(self, buffer: Callable[[int], np.ndarray] | None = None) -> np.ndarray:
        return self.classes


def open_source(source: Source, drawing: Drawing | None) -> MaskFile | DrawnMask:
    """The source, ready to decode; raises :class:`SourceError` naming its file."""
    if not isinstance(source, (Burned, Painted)):  # a path, local or remote, or a URL
        if suffix_of(source) in VOLUME_MASK_SUFFIXES:
            return _volume(source)
        try:
            return load_mask(source)
        except MaskReadError as exc:
            raise SourceError([_mask_problem(source, exc)]) from None
    if drawing is None:
        raise ValueError("annotations are drawn with a Drawing (settings and label map)")
    if isinstance(source, Burned):
        return DrawnMask(str(source), _burn_item(source.item, drawing))
    from polymask.formats.coco_results import results_annotation

    annotation = results_annotation(
        list(source.detections),
        dict(source.categories),
        source.key,
        source.width,
        source.height,
        source.results,
    )
    # painted in score order, whatever order the settings give annotations
    return DrawnMask(str(source), _burn(annotation, drawing, order="file"))


def decode(opened: MaskFile | DrawnMask, buffer=None) -> np.ndarray:
    """The class map of an opened source; raises :class:`SourceError` naming its file."""
    try:
        return opened.decode(buffer)
    except MaskReadError as exc:
        raise SourceError([_mask_problem(opened.path, exc)]) from None


def read_source(source: Source, drawing: Drawing | None) -> np.ndarray:
    """The class map of a source (for error maps of the worst images, drawn again)."""
    return decode(open_source(source, drawing))


def picture_slices(gt: np.ndarray, pred: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The 2-D maps to draw of a pair: the pair itself, or for volumes the slice (along the
    last axis) where the prediction differs from the ground truth most, where a person
    looking at one picture of a case wants to look."""
    if gt.ndim == 2:
        return gt, pred
    if pred is None:
        k = int(np.argmax(np.count_nonzero(gt, axis=(0, 1))))
        return gt[..., k], None
    k = int(np.argmax(np.count_nonzero(gt != pred, axis=(0, 1))))
    return gt[..., k], pred[..., k]


def _mask_problem(path, exc: MaskReadError) -> Problem:
    return Problem(str(path), str(exc).removeprefix(f"{path}: "))


def _burn_item(item: Item, drawing: Drawing) -> np.ndarray:
    from polymask.dataset import burn_item

    try:
        _, drawn = burn_item(item, drawing.settings, drawing.label_map)
    except AnnotationError as exc:
        raise SourceError(exc.problems) from None
    return drawn.classes


def _burn(annotation: ImageAnnotation, drawing: Drawing, order: str) -> np.ndarray:
    """A COCO results image's class map; its errors keep it from being scored."""
    from polymask.dataset import burn_annotation

    try:
        s = drawing.settings
        return burn_annotation(annotation, "coco", s, drawing.label_map, order=order).classes
    except AnnotationError as exc:
        raise SourceError(exc.problems) from None
