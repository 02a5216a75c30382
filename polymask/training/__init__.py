"""From polygons to a trained model: datasets, joint transforms and class weights for torch.

- :class:`SegmentationDataset`: (image, class map) samples burned from annotations on the fly,
  equal to the masks ``polymask rasterize`` writes, or read from mask folders.
- :class:`RandomCrop`, :class:`Resize`, :func:`pad_to`: joint transforms that keep class maps
  exact (nearest neighbour, the ignore index where they pad).
- :func:`class_weights`: the weights of ``polymask stats`` as a tensor for a loss's ``weight=``.

Nothing here imports torch until a sample, a transform or a weight tensor is made, so
``import polymask.training`` costs no torch import (workers that only burn need none).
"""

from __future__ import annotations

from polymask.training.data import SegmentationDataset
from polymask.training.images import SampleError
from polymask.training.transforms import RandomCrop, Resize, pad_to
from polymask.training.weights import class_weights, stats_report

__all__ = [
    "RandomCrop",
    "Resize",
    "SampleError",
    "SegmentationDataset",
    "class_weights",
    "pad_to",
    "stats_report",
]
