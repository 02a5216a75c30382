"""Annotation formats: finding annotation files and loading them into the canonical model.

Each format is one module with ``load(path, key, root, strict) -> list[ImageAnnotation]`` and
``looks_like(head) -> bool``; this registry picks the module for a file, from ``--format`` or
from the file's content.

Formats whose files hold many images (all but LabelMe) also take ``problems``: a list where
errors that stop part of the file go, so that the rest still loads. An error of one image (its
image file is missing, one of its entries is malformed) rides on that image's
:attr:`~polymask.model.ImageAnnotation.errors`; an error of no image (an annotation naming an
image the file does not have) is appended to ``problems``. Without the list, any error raises
:class:`AnnotationError` for the whole file, listing every problem found (what ``validate``
reports). A format whose files can be large may also offer ``index(path, key, root, strict,
options) -> FileIndex`` and ``load_part(path, key, root, entry, strict, options) ->
ImageAnnotation``: the images of a file found in one cheap pass, then read one by one wherever
the work runs (:mod:`polymask.dataset`).

The format modules are imported when a file is first read, so that ``polymask.formats.options``
and the settings built on it cost no schema building.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from polymask.errors import Problem, UsageError
from polymask.io.storage import as_path
from polymask.io.walk import find_files

if TYPE_CHECKING:
    from polymask.formats.options import FormatOptions
    from polymask.model import ImageAnnotation

MODULES = {
    "labelme": "polymask.formats.labelme",
    "cvat": "polymask.formats.cvat",
    "geojson": "polymask.formats.geojson",
    "via": "polymask.formats.via",
    "coco": "polymask.formats.coco",
    "label-studio": "polymask.formats.labelstudio",
}
"""Each format's module. Their ``looks_like`` tests are tried in this order on the first bytes
of a file before falling back (to LabelMe, whose files need not look like it to be read as it:
old ones may lack keys); LabelMe comes first, the common case, told apart by its keys in 3 us."""
TAKES_OPTIONS = {"via", "cvat", "geojson", "coco"}
"""Loaders that take a :class:`FormatOptions` (label attribute, image size, reference raster)."""
SUFFIXES = {".json", ".xml", ".geojson"}
HEAD_BYTES = 1 << 16
"""Enough for the keys that tell COCO from Label Studio when an array comes first."""


MULTI_IMAGE = frozenset(MODULES) - {"labelme"}
"""Formats whose files hold several images (their loaders take ``problems``)."""


@dataclass(frozen=True)
class ImageEntry:
    """One image of a file found by a format's ``index``: enough to name it and to read it
    alone later, in another process (``part`` is small and picklable: offsets, a record)."""

    key: str
    place: str
    """Where the image sits in its file (``images[3]``), for messages."""
    width: int
    height: int
    part: object = None


@dataclass
class FileIndex:
    """What a format's ``index`` found in one file."""

    images: list[ImageEntry]
    problems: list[Problem] = field(default_factory=list)
    """Errors of no image, and warnings of the file as a whole."""
    categories: tuple[tuple[int, str], ...] | None = None
    """The class ids the file declares, as (id, name) pairs."""


@dataclass(frozen=True)
class InputFile:
    """An annotation file and the dataset folder it belongs to (outputs mirror its layout)."""

    path: Path
    root: Path

    @property
    def key(self) -> str:
        """Output name: the path below the root, without extension, with '/' separators."""
        return self.path.relative_to(self.root).with_suffix("").as_posix()


def find_inputs(
    inputs: Iterable[str | Path], problems: list[Problem] | None = None
) -> list[InputFile]:
    """Annotation files named or found (recursively) below the given paths, sorted.

    A named file is used whatever its suffix; folders contribute files with known suffixes,
    through symbolic links too. Special files (a FIFO would block its reader) and links that
    loop are skipped and named in ``problems`` (:func:`polymask.io.walk.find_files`).
    """
    files = [InputFile(f, root) for f, root in find_files(inputs, SUFFIXES, problems).items()]
    return sorted(files, key=lambda f: (str(f.root), f.key))


def detect_format(path: Path) -> str:
    """The format of a file, judged from its suffix and first bytes."""
    try:
        with path.open("rb") as f:  # a local path or an fsspec URL
            head = f.read(HEAD_BYTES).decode("utf-8", errors="replace")
    except OSError:
        head = ""
    for name, module in MODULES.items():
        if import_module(module).looks_like(head):
            return name
    suffix = path.suffix.lower()
    if suffix == ".geojson":
        return "geojson"
    if suffix == ".xml":
        return "cvat"
    return "labelme"


def load_annotations(
    source: InputFile | str | Path,
    fmt: str | None = None,
    strict: bool = False,
    options: FormatOptions | None = None,
    problems: list[Problem] | None = None,
) -> list[ImageAnnotation]:
    """Load every image annotation in one file. Raises :class:`AnnotationError` on bad input;
    with ``problems`` given, a file of several images loads what it can (see the module
    docstring) and raises only when nothing of it can be read."""
    if not isinstance(source, InputFile):
        path = as_path(source)
        source = InputFile(path, path.parent)
    fmt = fmt or detect_format(source.path)
    if fmt not in MODULES:
        raise UsageError(f"unknown format {fmt!r}; known: {', '.join(sorted(MODULES))}")
    extra: dict = {"options": options} if fmt in TAKES_OPTIONS and options is not None else {}
    if problems is not None and fmt in MULTI_IMAGE:
        extra["problems"] = problems
    with no_cycle_collection():
        return import_module(MODULES[fmt]).load(
            source.path, source.key, source.root, strict, **extra
        )


@contextmanager
def no_cycle_collection():
    """Reading a file builds many objects and no reference cycles: the cyclic garbage
    collector, run every few hundred new objects, would only walk the growing heap again and
    again (a third of the time of reading a large COCO file). Reference counting still frees
    everything; the collector is switched back on afterwards if it was on."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
