"""polymask: polygon annotations to class-index masks, label statistics and Dice scoring."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("polymask")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

from polymask.errors import AnnotationError, Problem
from polymask.formats import find_inputs, load_annotations
from polymask.labels import LabelMap
from polymask.model import ImageAnnotation, Shape
from polymask.raster import Rasterized, burn

__all__ = [
    "AnnotationError",
    "ImageAnnotation",
    "LabelMap",
    "Problem",
    "Rasterized",
    "Shape",
    "burn",
    "find_inputs",
    "load_annotations",
    "__version__",
    "score_folders",
]


def __getattr__(name: str):
    # the scorer pulls in the device engine; import it on first use so `import polymask` stays light
    if name == "score_folders":
        from polymask.score import score_folders

        return score_folders
    raise AttributeError(f"module 'polymask' has no attribute {name!r}")
