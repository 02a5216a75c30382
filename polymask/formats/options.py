"""Format options given on the command line, and the helpers several formats share.

VIA, CVAT and GeoJSON need things the canonical loader signature does not carry: which region
attribute or feature property holds the label, the image size when the file does not say it,
and a georeferenced image that world coordinates are mapped through. They travel as one small
frozen object, so it pickles to worker processes and goes into mask fingerprints as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import PurePosixPath, PureWindowsPath

from polymask.errors import UsageError
from polymask.limits import check_size


@dataclass(frozen=True)
class FormatOptions:
    label_attribute: str | None = None
    """VIA: the region attribute that holds the label (default: the only one, else ``label``)."""
    label_property: str | None = None
    """GeoJSON: the feature property that holds the label (default: the only one, else
    ``label``)."""
    image_size: tuple[int, int] | None = None
    """(width, height) for files that do not state it (VIA, pixel GeoJSON)."""
    reference: str | None = None
    """GeoJSON: a georeferenced raster whose transform maps world coordinates to its pixels."""
    default_label: str | None = None
    """VIA: the label of regions that have no label attribute (a single-class project leaves
    ``region_attributes`` empty); None: such regions are an error."""
    crowd: str = "class"
    """COCO: crowd regions (``iscrowd: 1``) painted as their category (``class``, as annToMask)
    or as the ignore index (``ignore``, as semantic-segmentation training usually wants)."""

    def describe(self) -> str:
        """Stable text for fingerprints: a change of option means the masks are rebuilt."""
        return repr(self)


def parse_image_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``; a bad or oversized value is a :class:`UsageError`."""
    m = re.fullmatch(r"\s*(\d{1,7})\s*[xX]\s*(\d{1,7})\s*", text)
    if not m:
        raise UsageError(f"--image-size: expected WIDTHxHEIGHT such as 640x480, got {text!r}")
    width, height = int(m[1]), int(m[2])
    reason = check_size(width, height)
    if reason:
        raise UsageError(f"--image-size: {reason}")
    return width, height


def label_key(explicit: str | None, names: Iterable[Iterable[str]]) -> str:
    """The attribute/property that holds labels: the one asked for; else the only name used
    anywhere in the file; else ``label``."""
    if explicit:
        return explicit
    used = set()
    for item in names:
        used.update(item)
    return next(iter(used)) if len(used) == 1 else "label"


def image_key(file_key: str, image_name: str) -> str:
    """Output name of one image of a multi-image file.

    The image's name without extension, below the folder of the annotation file (so two files
    in different folders cannot collide); subfolders in the name are kept. Raises ValueError
    for names that would leave the output folder (absolute, drive letters, ``..``) or that no
    file system takes (control characters, over-long parts).
    """
    if _PLAIN.fullmatch(image_name) and not _DRIVE.match(image_name):
        # the usual name, which no rule below changes or refuses: its key without the paths
        *folders, last = image_name.split("/")
        stem = _stem(last)
        if stem != "." and not {".", ".."} & {*folders, last}:
            folder = _folder(file_key)
            stem = "/".join([*folders, stem])
            return stem if not folder else folder + ("" if folder.endswith("/") else "/") + stem
    name = PureWindowsPath(image_name).as_posix() if "\\" in image_name else image_name
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or _DRIVE.match(name):
        raise ValueError("leads outside the output folder")
    parts = [p for p in path.parts if p not in ("", ".")]
    if not parts:
        raise ValueError("names no file")
    if any(_unfit(p) for p in parts):
        raise ValueError("cannot be a file name (a control character, or a part over 240 bytes)")
    folder = PurePosixPath(file_key).parent
    stem = PurePosixPath(*parts[:-1], _stem(parts[-1]))
    return (folder / stem).as_posix() if str(folder) != "." else stem.as_posix()


_PLAIN = re.compile(r"(?:[^/\\\x00-\x1f]{1,60}/)*[^/\\\x00-\x1f]{1,60}")
"""A name of parts of 1 to 60 characters (so at most 240 bytes) without a control character,
parted by single forward slashes."""
_DRIVE = re.compile(r"[A-Za-z]:")


def _stem(name: str) -> str:
    """A name part without its extension."""
    last = PurePosixPath(name)
    return last.stem if last.suffix else last.name


@lru_cache(maxsize=64)
def _folder(file_key: str) -> str:
    """The folder of the annotation file's key, as keys below it start ("" for none): the same
    for every image of a file."""
    folder = PurePosixPath(file_key).parent
    return "" if str(folder) == "." else folder.as_posix()


def _unfit(part: str) -> bool:
    """A name part no file system takes: control characters, or too long for one component."""
    return any(ord(ch) < 32 for ch in part) or len(part.encode("utf-8", "replace")) > 240
