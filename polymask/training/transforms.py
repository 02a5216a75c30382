"""Joint transforms of image and maps: the two calling conventions a dataset serves, and a
crop and a resize of its own.

The conventions (:class:`~polymask.training.data.SegmentationDataset` says when each is called):

- torchvision's ``transforms.v2``: ``transform(image, classes, *instances)`` on tensors (image
  C x H x W, maps H x W), returning them in that order; the maps are wrapped as
  ``tv_tensors.Mask`` where torchvision is installed, or its transforms would pass them through.
- albumentations': ``transform(image=..., mask=..., masks=[...])`` on numpy arrays, returning a
  dict.

The built-in transforms take the first. The rules that keep class maps exact:

- Maps are resampled by nearest neighbour only: a class id is never averaged with another.
- Where a transform pads, the class map gets the ignore index (255), so padding counts in no
  loss or score; instance maps get 0 (no instance); the image gets ``fill``.

Random choices draw from torch's generator, which a DataLoader seeds in every worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Literal

import numpy as np

from polymask.labels import DEFAULT_IGNORE_INDEX

if TYPE_CHECKING:
    from torch import Tensor

TransformStyle = Literal["auto", "torchvision", "albumentations"]
STYLES = ("auto", "torchvision", "albumentations")


def pad_to(
    size: int | Sequence[int],
    image: Tensor,
    classes: Tensor,
    *instances: Tensor,
    ignore_index: int = DEFAULT_IGNORE_INDEX,
    fill: float = 0.0,
) -> tuple[Tensor, ...]:
    """Image and maps padded at the bottom and right to at least ``size`` (height, width):
    the class map with ``ignore_index``, instance maps with 0, the image with ``fill``.
    Sides already as large are left as they are."""
    import torch.nn.functional as F

    height, width = _size(size)
    dh, dw = max(height - image.shape[-2], 0), max(width - image.shape[-1], 0)
    if not dh and not dw:
        return (image, classes, *instances)
    pad = (0, dw, 0, dh)
    return (
        F.pad(image, pad, value=fill),
        F.pad(classes, pad, value=ignore_index),
        *(F.pad(m, pad, value=0) for m in instances),
    )


class RandomCrop:
    """A ``size`` (height, width) window at one random place of image and maps, after padding
    them up to ``size`` where they are smaller (:func:`pad_to`), so every sample of a batch
    has one size."""

    def __init__(
        self,
        size: int | Sequence[int],
        ignore_index: int = DEFAULT_IGNORE_INDEX,
        fill: float = 0.0,
    ):
        self.size = _size(size)
        self.ignore_index = ignore_index
        self.fill = fill

    def __call__(self, image: Tensor, classes: Tensor, *instances: Tensor) -> tuple[Tensor, ...]:
        import torch

        _check_shapes(image, classes, *instances)
        arrays = pad_to(
            self.size, image, classes, *instances, ignore_index=self.ignore_index, fill=self.fill
        )
        height, width = self.size
        top = int(torch.randint(arrays[0].shape[-2] - height + 1, ()))
        left = int(torch.randint(arrays[0].shape[-1] - width + 1, ()))
        return tuple(a[..., top : top + height, left : left + width] for a in arrays)


class Resize:
    """Image and maps resampled to ``size`` (height, width): the image bilinearly (with
    antialiasing when it shrinks, as Pillow's ``BILINEAR``), the maps by nearest neighbour
    (pixel centres, as Pillow's ``NEAREST``). A uint8 image stays uint8 (rounded)."""

    def __init__(self, size: int | Sequence[int]):
        self.size = _size(size)

    def __call__(self, image: Tensor, classes: Tensor, *instances: Tensor) -> tuple[Tensor, ...]:
        import torch
        import torch.nn.functional as F

        _check_shapes(image, classes, *instances)
        picture = F.interpolate(
            image[None].to(torch.float32),
            self.size,
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )[0]
        if not image.is_floating_point():
            info = torch.iinfo(image.dtype)
            picture = picture.round_().clamp_(info.min, info.max)
        maps = [
            # float32 holds every id up to 2**24 exactly: the ids come back as they were
            F.interpolate(m[None, None].to(torch.float32), self.size, mode="nearest-exact")[0, 0]
            for m in (classes, *instances)
        ]
        return (
            picture.to(image.dtype),
            *(r.to(m.dtype) for r, m in zip(maps, (classes, *instances), strict=True)),
        )


def _size(size: int | Sequence[int]) -> tuple[int, int]:
    pair = (size, size) if isinstance(size, int) else tuple(size)
    if len(pair) != 2 or not all(isinstance(s, int) and s > 0 for s in pair):
        raise ValueError(
            f"Expected argument `size` to be a positive integer or (height, width), but got {size}."
        )
    return pair


def _check_shapes(image: Tensor, *maps: Tensor) -> None:
    for m in maps:
        if m.shape != image.shape[-2:]:
            raise ValueError(
                f"Expected maps of the image's size {tuple(image.shape[-2:])}, "
                f"but got {tuple(m.shape)}."
            )


# ---- the calling conventions -----------------------------------------------------------------


def resolve_style(transform: Callable | None, style: TransformStyle) -> str:
    """``auto``: albumentations' convention for its own objects (their class comes from that
    package), torchvision's for any other callable."""
    if style != "auto" or transform is None:
        return style
    package = type(transform).__module__.partition(".")[0]
    return "albumentations" if package == "albumentations" else "torchvision"


def apply_albumentations(transform: Callable, arrays: list) -> list:
    """[image, classes, instances?] through an albumentations-style transform; instance maps
    travel as ``masks``, so they move with the class map."""
    targets = {"image": arrays[0], "mask": arrays[1]}
    if len(arrays) > 2:
        targets["masks"] = [arrays[2]]
    out = transform(**targets)
    if not isinstance(out, Mapping):
        raise TypeError(
            "an albumentations-style transform must return a dict with 'image' and 'mask', "
            f"but returned {type(out).__name__}"
        )
    result = [out["image"], out["mask"]]
    if len(arrays) > 2:
        result.append(out["masks"][0])
    return result


def apply_torchvision(transform: Callable, arrays: list) -> list:
    """[image, classes, instances?] through a torchvision-style transform, as tv_tensors where
    torchvision is installed and back to plain tensors after."""
    import torch

    tv = tv_tensors()
    if tv is not None and isinstance(arrays[0], torch.Tensor):
        arrays = [tv.Image(arrays[0]), *(tv.Mask(m) for m in arrays[1:])]
    out = transform(*arrays)
    if not isinstance(out, (tuple, list)) or len(out) != len(arrays):
        raise TypeError(
            f"a torchvision-style transform called with {len(arrays)} arguments (image, "
            f"masks) must return them in order, but returned {type(out).__name__}"
        )
    return [o.as_subclass(torch.Tensor) if isinstance(o, torch.Tensor) else o for o in out]


@cache
def tv_tensors():
    """torchvision's ``tv_tensors`` module, or None where torchvision is not installed."""
    try:
        return import_module("torchvision.tv_tensors")
    except ImportError:
        return None


def image_tensor(image, scale: bool):
    """C x H x W; uint8 scaled to float32 in [0, 1] when ``scale``. A tensor is taken as it is
    (albumentations' ``ToTensorV2`` made it)."""
    import torch

    if isinstance(image, torch.Tensor):
        return image
    # channels first while still uint8: a quarter of the bytes to move, and the float
    # conversion then runs over contiguous memory (3x faster than converting the strided view)
    planes = image[None] if image.ndim == 2 else image.transpose(2, 0, 1)
    t = torch.from_numpy(np.ascontiguousarray(planes))
    return t.to(torch.float32).div_(255) if scale and t.dtype == torch.uint8 else t


def map_tensor(classes):
    """A class or instance map as an int64 tensor, the target type of torch's losses."""
    import torch

    if isinstance(classes, torch.Tensor):
        return classes.long()
    return torch.from_numpy(np.asarray(classes).astype(np.int64))
