"""Training samples straight from annotations: (image, class map) pairs, burned on the fly.

:class:`SegmentationDataset` is a map-style dataset for ``torch.utils.data.DataLoader``. Built
from annotations (:meth:`~SegmentationDataset.from_annotations`) it finds the files, settings and
label map as ``polymask rasterize`` does (the same configuration file, dataset index and rule
for class ids) and burns each class map when its sample is asked for, so the maps equal the
PNGs ``rasterize`` writes, pixel for pixel, and no mask folder has to be kept in step with the
annotations. Built from folders (:meth:`~SegmentationDataset.from_folders`) it reads the mask
PNGs ``rasterize`` wrote, paired with their images by name.

A sample is made in this order:

1. The image, decoded by Pillow and converted to ``image_mode`` (uint8 H x W x 3 for ``RGB``),
   and its class map (and instance map, with instances asked for) as ``rasterize`` writes them:
   uint8 (uint16 past 255 classes), ignored pixels at the ignore index (255).
2. ``transform`` in albumentations' convention, on those numpy arrays:
   ``transform(image=image, mask=classes[, masks=[instances]])`` returning a dict. Nearest
   neighbour is albumentations' own rule for masks; where it pads, give ``fill_mask=255`` (the
   ignore index: it fills instance maps too, so read instance id 255 there as padding).
3. Tensors (unless ``tensors=False``): the image C x H x W, a uint8 image scaled to float32 in
   [0, 1] (``scale=False`` keeps uint8; a float image, as albumentations' ``Normalize`` makes,
   is kept as it is); maps int64 H x W.
4. ``transform`` in torchvision's ``transforms.v2`` convention, on the tensors:
   ``transform(image, classes[, instances])`` returning them in that order. Where torchvision is
   installed they are handed over as ``tv_tensors.Image`` and ``tv_tensors.Mask``, so geometric
   transforms move the maps with the image, by nearest neighbour, instead of passing plain
   tensors through untouched; give maps the ignore index where a transform pads
   (``v2.RandomCrop(256, pad_if_needed=True, fill={tv_tensors.Image: 0, tv_tensors.Mask:
   255})``). :mod:`polymask.training.transforms` has a crop and a resize in this convention.

``transform_style="auto"`` takes albumentations' convention for albumentations' own objects
(their class comes from that package) and torchvision's for any other callable.

Everything a worker needs pickles (items, settings, label map), so the dataset works in a
DataLoader under ``fork`` and ``spawn``; samples depend on the index alone, and random
transforms draw from the generators the DataLoader seeds, so a seeded loader repeats itself.

**Cache.** ``cache=N`` keeps the burned maps of the N samples used last in each process (each
DataLoader worker has its own: ``persistent_workers=True`` keeps them from one epoch to the
next). A map is reused only while the annotation it was burned from is unchanged: a one-image
file (LabelMe) is hashed (SHA-256) on every use, so an edited file is burned again, and a map
is kept only when the file hashed the same before and after it was read. Images of multi-image
files (COCO, CVAT, ...) are read from the index made when the dataset was built, and judged by
their file's hash then, as in one ``rasterize`` run: a changed multi-image file needs a new
dataset.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from polymask.dataset import Item, KeyRule, burn_item, dataset_label_map, read_dataset
from polymask.errors import AnnotationError, Problem, UsageError
from polymask.formats import InputFile, find_inputs
from polymask.io.masks import MaskReadError, read_mask
from polymask.io.storage import as_path, file_sha256
from polymask.io.walk import find_files
from polymask.labels import LabelMap
from polymask.score.pairing import mask_files
from polymask.settings import Settings, resolve_label_map, resolve_settings
from polymask.stats.weights import DEFAULT_BETA
from polymask.training.images import SampleError, decode_image
from polymask.training.transforms import (
    STYLES,
    TransformStyle,
    apply_albumentations,
    apply_torchvision,
    image_tensor,
    map_tensor,
    resolve_style,
)

if TYPE_CHECKING:
    from polymask.stats.report import Source, StatsReport

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
"""Image files :meth:`SegmentationDataset.from_folders` pairs with masks."""


class ImageRef(NamedTuple):
    """Where a sample's image is: a path or encoded bytes, its name in messages, its size."""

    source: str | Path | bytes
    name: str
    size: tuple[int, int]


@dataclass(frozen=True)
class MaskPair:
    """A sample of :meth:`SegmentationDataset.from_folders`: mask files and their image."""

    key: str
    image: Path
    mask: Path
    instances: Path | None = None


class SegmentationDataset:
    """(image, class map) samples, or (image, class map, instance map) (see the module
    docstring). Build it with :meth:`from_annotations` or :meth:`from_folders`.

    Attributes:
        keys: each sample's name, as ``rasterize`` names its mask (``day/street_01``).
        label_map: the class ids; None for mask folders without labels.txt or ``labels``.
        problems: warnings met while finding the inputs (special files skipped, ...).
    """

    def __init__(
        self,
        items: Sequence[Item] | Sequence[MaskPair],
        settings: Settings,
        label_map: LabelMap | None,
        *,
        instances: bool = False,
        transform: Callable | None = None,
        transform_style: TransformStyle = "auto",
        tensors: bool = True,
        scale: bool = True,
        image_mode: str = "RGB",
        cache: int = 0,
        problems: Sequence[Problem] = (),
    ):
        if transform_style not in STYLES:
            raise ValueError(
                f"Expected argument `transform_style` to be one of {STYLES}, "
                f"but got {transform_style!r}."
            )
        if isinstance(cache, bool) or not isinstance(cache, int) or cache < 0:
            raise ValueError(
                f"Expected argument `cache` to be a non-negative integer, but got {cache!r}."
            )
        self.items = tuple(items)
        masks = bool(self.items) and isinstance(self.items[0], MaskPair)
        self.source: Source = "masks" if masks else "annotations"
        if self.source == "annotations" and label_map is None:
            raise ValueError("annotations need a label map to be burned")
        self.settings = settings
        self.label_map = label_map
        self.instances = instances
        self.transform = transform
        self.transform_style = resolve_style(transform, transform_style)
        self.tensors = tensors
        self.scale = scale
        self.image_mode = image_mode
        self.cache = cache
        self.problems = list(problems)
        self.keys = [item.key for item in self.items]
        self._cached: OrderedDict[int, tuple[str, ImageRef, list[np.ndarray]]] = OrderedDict()

    @classmethod
    def from_annotations(
        cls,
        inputs: str | Path | Sequence[str | Path],
        labels: str | Path | Sequence[str] | None = None,
        *,
        keys: KeyRule = "name",
        instances: bool = False,
        transform: Callable | None = None,
        transform_style: TransformStyle = "auto",
        tensors: bool = True,
        scale: bool = True,
        image_mode: str = "RGB",
        cache: int = 0,
        config_file: str | Path | None = None,
        **settings: Any,
    ) -> SegmentationDataset:
        """Samples burned from annotation files (any format polymask reads) and their images.

        Args:
            inputs: annotation files and folders of them, as given to ``polymask rasterize``.
            labels: a labels.txt path, or the class names in id order; None: the label-map rule
                of :mod:`polymask.settings` (COCO's category ids, else the labels found, sorted:
                a warning says so, since a split without one label would number others apart).
            keys: how images of multi-image files are named (``rasterize --keys``).
            instances: also give each sample its instance map.
            config_file: the configuration to use instead of the nearest one above the inputs.
            settings: other :class:`~polymask.settings.Settings` by name, as the command-line
                options give them (``ignore_index``, ``convention``, ``order``, ``unknown``,
                ``fmt``, ``format_options``, ``workers`` for reading multi-image files, ...).

        Raises:
            AnnotationError: a file cannot be read or indexed, or two images share a key;
                every problem is listed. Problems inside one image are found when its sample is
                made (:class:`SampleError`); ``polymask validate`` finds them all beforehand.
            UsageError: no annotation files or no images in them, or a bad setting.
        """
        inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        given = {"labels": str(labels) if isinstance(labels, Path) else labels, **settings}
        resolved = resolve_settings(given, inputs, config_file)
        found: list[Problem] = []
        files = find_inputs(inputs, found)
        if not files:
            raise UsageError(f"no annotation files found in {', '.join(map(str, inputs))}")
        data = read_dataset(files, resolved, keys)
        label_map, note = dataset_label_map(resolved, data)
        found += data.problems + data.labels.problems
        errors = [p for p in found if p.severity == "error"]
        if errors:
            raise AnnotationError(errors)
        if not data.items:
            raise UsageError(f"no images in {', '.join(map(str, inputs))}")
        if note:
            warnings.warn(note, stacklevel=2)
        return cls(
            data.items,
            resolved,
            label_map,
            instances=instances,
            transform=transform,
            transform_style=transform_style,
            tensors=tensors,
            scale=scale,
            image_mode=image_mode,
            cache=cache,
            problems=found,
        )

    @classmethod
    def from_folders(
        cls,
        images: str | Path,
        masks: str | Path,
        *,
        instances_dir: str | Path | None = None,
        labels: str | Path | Sequence[str] | None = None,
        transform: Callable | None = None,
        transform_style: TransformStyle = "auto",
        tensors: bool = True,
        scale: bool = True,
        image_mode: str = "RGB",
        config_file: str | Path | None = None,
        **settings: Any,
    ) -> SegmentationDataset:
        """Samples from mask files (as ``rasterize -o masks`` writes them) and their images.

        A mask pairs with the image of the same path below ``images``, without the extension
        (``masks/day/a.png`` with ``images/day/a.jpg``); images without a mask are left out.
        Class names come from ``labels``, else ``masks/labels.txt``.

        Raises:
            UsageError: a folder is missing or holds no masks.
            AnnotationError: masks without their image, with two (``a.jpg`` and ``a.png``) or
                without their instance map; every one is named.
        """
        given = {"labels": str(labels) if isinstance(labels, Path) else labels, **settings}
        resolved = resolve_settings(given, [masks], config_file)
        mask_root, image_root = as_path(masks), as_path(images)
        for folder in (mask_root, image_root):
            if not folder.is_dir():
                raise UsageError(f"{folder}: not a folder")
        found, problems = mask_files(mask_root)
        if not found:
            raise UsageError(f"no masks found in {mask_root}")
        by_key = _images_by_key(image_root, problems)
        inst: dict[str, Path] = {}
        if instances_dir is not None:
            inst, inst_problems = mask_files(as_path(instances_dir))
            problems += inst_problems
        pairs = []
        for key, mask in sorted(found.items()):
            pictures = by_key.get(key, [])
            if not pictures:
                why = f"no image {key}.* below {image_root} to pair with this mask"
            elif len(pictures) > 1:
                why = f"two images to pair with this mask: {pictures[0]} and {pictures[1]}"
            elif instances_dir is not None and key not in inst:
                why = f"no instance map {key}.png in {instances_dir}"
            else:
                pairs.append(MaskPair(key, pictures[0], mask, inst.get(key)))
                continue
            problems.append(Problem(str(mask), why))
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise AnnotationError(errors)
        return cls(
            pairs,
            resolved,
            resolve_label_map(resolved, masks=[mask_root]),
            instances=instances_dir is not None,
            transform=transform,
            transform_style=transform_style,
            tensors=tensors,
            scale=scale,
            image_mode=image_mode,
            problems=problems,
        )

    # ---- what a training loop asks -----------------------------------------------------------

    @property
    def ignore_index(self) -> int:
        return self.settings.ignore_index

    @property
    def num_classes(self) -> int | None:
        """Channels a model needs for these class ids: the largest id + 1 (background 0
        included); None without a label map."""
        if self.label_map is None:
            return None
        return max(self.label_map.ids.values(), default=0) + 1

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple:
        i = range(len(self.items))[index]  # IndexError past the end, as a sequence raises
        ref, maps = self._maps(i)
        arrays = [decode_image(ref.source, ref.size, ref.name, self.image_mode), *maps]
        if self.transform is not None and self.transform_style == "albumentations":
            arrays = apply_albumentations(self.transform, arrays)
        if self.tensors:
            arrays = [image_tensor(arrays[0], self.scale), *map(map_tensor, arrays[1:])]
        if self.transform is not None and self.transform_style == "torchvision":
            arrays = apply_torchvision(self.transform, arrays)
        return tuple(arrays)

    def stats(self, beta: float = DEFAULT_BETA) -> StatsReport:
        """What ``polymask stats`` reports for this dataset's inputs (class weights among it),
        counted on the class maps as made, before any transform.

        Raises:
            AnnotationError: a sample's maps cannot be made; every problem is listed.
        """
        from polymask.stats.compute import collect, summarize

        work = self.items
        if self.source == "masks":
            work = [InputFile(p.mask, p.mask.parent) for p in self.items]
        acc, problems, failed = collect(work, self.source, self.settings, self.label_map)
        errors = [p for p in problems if p.severity == "error"]
        if errors:
            raise AnnotationError(errors)
        return summarize(acc, self.label_map, self.source, beta, problems, failed)

    # ---- making a sample ---------------------------------------------------------------------

    def _maps(self, i: int) -> tuple[ImageRef, list[np.ndarray]]:
        """The image's place and the maps of sample ``i``, from the cache while its annotation
        is unchanged (see the module docstring)."""
        digest = self._digest(i) if self.cache else None
        hit = self._cached.get(i) if digest is not None else None
        if hit is not None and hit[0] == digest:
            self._cached.move_to_end(i)
            return hit[1], [m.copy() for m in hit[2]]
        ref, maps = self._read(i)
        if digest is not None and self._digest(i) == digest:  # unchanged while read
            self._cached[i] = (digest, ref, maps)
            self._cached.move_to_end(i)
            while len(self._cached) > self.cache:
                self._cached.popitem(last=False)
            maps = [m.copy() for m in maps]  # the cache keeps its own
        return ref, maps

    def _digest(self, i: int) -> str | None:
        """What a cached map of sample ``i`` must have been burned from; None: not cached."""
        item = self.items[i]
        if not isinstance(item, Item):
            return None
        try:
            return item.source_hash or file_sha256(item.source.path)
        except OSError:
            return None  # reading it says why

    def _read(self, i: int) -> tuple[ImageRef, list[np.ndarray]]:
        item = self.items[i]
        if isinstance(item, Item):
            return sample_maps(item, self.settings, self.label_map, self.instances)
        maps = [_read_mask(item.mask)]
        if item.instances is not None:
            maps.append(_read_mask(item.instances))
            if maps[1].shape != maps[0].shape:
                raise SampleError(
                    f"{item.instances}: instance map is {maps[1].shape[1]}x{maps[1].shape[0]}, "
                    f"its class map {item.mask} {maps[0].shape[1]}x{maps[0].shape[0]}"
                )
        size = (maps[0].shape[1], maps[0].shape[0])
        return ImageRef(item.image, f"{item.image} (image of {item.mask})", size), maps

    def __getstate__(self) -> dict:
        """The cache stays behind: each process fills its own."""
        state = self.__dict__.copy()
        state["_cached"] = OrderedDict()
        return state


def sample_maps(
    item: Item, settings: Settings, label_map: LabelMap, instances: bool = False
) -> tuple[ImageRef, list[np.ndarray]]:
    """Where an item's image is, and its class map (and instance map) as ``rasterize`` burns
    it: the same reading, pixel convention and overlap order for its format.

    Raises:
        SampleError: the annotation cannot be read or burned, or names no image.
    """
    try:
        ann, r = burn_item(item, settings, label_map, instances)
    except AnnotationError as exc:
        raise SampleError(_describe(exc.problems)) from None
    size = (ann.width, ann.height)
    if ann.image_data:
        ref = ImageRef(ann.image_data, f"imageData of {ann.source}", size)
    elif ann.image_path:
        ref = ImageRef(ann.image_path, f"{ann.image_path} (image of {item.name})", size)
    else:
        raise SampleError(
            f"{item.name}: no image to read for {item.key!r}: the annotation names none "
            "inside the dataset folder"
        )
    maps = [r.classes] if r.instances is None else [r.classes, r.instances]
    return ref, maps


def _describe(problems: Sequence[Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def _read_mask(path: Path) -> np.ndarray:
    try:
        return read_mask(path)
    except MaskReadError as exc:
        raise SampleError(str(exc)) from None


def _images_by_key(root: Path, problems: list[Problem]) -> dict[str, list[Path]]:
    """key -> the image files below ``root`` with that path, without the extension (hidden
    files and folders skipped, as for masks)."""
    by_key: dict[str, list[Path]] = {}
    for path in find_files([root], IMAGE_SUFFIXES, problems):
        rel = path.relative_to(root)
        if not any(part.startswith(".") for part in rel.parts):
            by_key.setdefault(rel.with_suffix("").as_posix(), []).append(path)
    return by_key
