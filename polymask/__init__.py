"""polymask: polygon annotations to class-index masks, label statistics and Dice scoring.

The names below are imported on first use (PEP 562): ``import polymask.score.run`` in a scoring
worker then loads what scoring needs, not every annotation format's schema (a fifth of a
second, paid again by every pool of workers). ``__version__`` too: it is read with
``importlib.metadata``, a large import that ``polymask --help`` and ``import polymask`` need
not pay.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

_EXPORTS = {
    "AnnotationError": "polymask.errors",
    "Problem": "polymask.errors",
    "find_inputs": "polymask.formats",
    "load_annotations": "polymask.formats",
    "LabelMap": "polymask.labels",
    "ImageAnnotation": "polymask.model",
    "Shape": "polymask.model",
    "Rasterized": "polymask.raster",
    "burn": "polymask.raster",
    "score_folders": "polymask.score.run",
}

__all__ = [
    "AnnotationError",
    "ImageAnnotation",
    "LabelMap",
    "Problem",
    "Rasterized",
    "Shape",
    "__version__",
    "burn",
    "find_inputs",
    "load_annotations",
    "score_folders",
]

if TYPE_CHECKING:
    __version__: str
    from polymask.errors import AnnotationError, Problem
    from polymask.formats import find_inputs, load_annotations
    from polymask.labels import LabelMap
    from polymask.model import ImageAnnotation, Shape
    from polymask.raster import Rasterized, burn
    from polymask.score.run import score_folders


def __getattr__(name: str):
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'polymask' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("polymask")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"
