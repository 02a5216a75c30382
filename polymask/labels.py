"""Label maps: class names <-> class ids.

Conventions (LabelMe's ``labels.txt``): one name per line, ids by position. ``__ignore__`` maps
to the ignore index (255 by default, the value PASCAL VOC uses), ``_background_`` to 0 and the
names after it to 1, 2, ... A file without ``_background_`` numbers its names from 1 and keeps 0
for the unlabelled background.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

from polymask.errors import UsageError

IGNORE = "__ignore__"
BACKGROUND = "_background_"
DEFAULT_IGNORE_INDEX = 255

UnknownPolicy = Literal["error", "ignore", "void"]


class UnknownLabel(KeyError):
    """A shape label that the label map does not contain."""


class LabelMap:
    """Names to ids. ``ids`` never contains the ignore name; ``ignore_index`` stands for it."""

    def __init__(self, ids: dict[str, int], ignore_index: int = DEFAULT_IGNORE_INDEX):
        if ignore_index < 0 or ignore_index > 65535:
            raise UsageError(f"ignore index must be in 0..65535, got {ignore_index}")
        clash = [name for name, i in ids.items() if i == ignore_index]
        if clash:
            raise UsageError(f"class {clash[0]!r} has id {ignore_index}, the ignore index")
        self.ids = dict(ids)
        self.ignore_index = ignore_index

    @classmethod
    def from_names(cls, names: Iterable[str], ignore_index: int = DEFAULT_IGNORE_INDEX) -> LabelMap:
        """Ids by position, as LabelMe numbers ``labels.txt``."""
        names = [n for n in names if n != IGNORE]
        if len(set(names)) != len(names):
            dup = next(n for n in names if names.count(n) > 1)
            raise UsageError(f"label {dup!r} is listed twice")
        if BACKGROUND in names and names[0] != BACKGROUND:
            raise UsageError(f"{BACKGROUND!r} must come first (it is class 0)")
        start = 0 if names and names[0] == BACKGROUND else 1
        return cls({n: i for i, n in enumerate(names, start)}, ignore_index)

    @classmethod
    def from_file(cls, path: str | Path, ignore_index: int = DEFAULT_IGNORE_INDEX) -> LabelMap:
        """A ``labels.txt`` file (a local path or a URL)."""
        from polymask.io.storage import as_path

        try:
            text = as_path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"{path}: cannot read labels file: {exc.strerror or exc}") from exc
        return cls.from_text(text, ignore_index, source=str(path))

    @classmethod
    def from_text(cls, text: str, ignore_index: int = DEFAULT_IGNORE_INDEX, source: str = "labels"):
        names = [line.strip() for line in text.splitlines() if line.strip()]
        if not names:
            raise UsageError(f"{source}: labels file is empty")
        try:
            return cls.from_names(names, ignore_index)
        except UsageError as exc:
            raise UsageError(f"{source}: {exc}") from exc

    @classmethod
    def from_spec(cls, spec: str | Path | list[str], ignore_index: int = DEFAULT_IGNORE_INDEX):
        """A labels file path, or the names themselves (as a configuration file may give them)."""
        if isinstance(spec, list):
            return cls.from_names(spec, ignore_index)
        return cls.from_file(spec, ignore_index)

    @classmethod
    def discover(cls, labels: Iterable[str], ignore_index: int = DEFAULT_IGNORE_INDEX) -> LabelMap:
        """A map for the labels seen: sorted names from 1, so ids do not depend on file order."""
        seen = set(labels) - {IGNORE, BACKGROUND}
        return cls.from_names([BACKGROUND, *sorted(seen)], ignore_index)

    def class_id(self, label: str) -> int:
        if label == IGNORE:
            return self.ignore_index
        if label == BACKGROUND:
            return 0  # a later _background_ shape cuts a hole, whatever the labels file says
        try:
            return self.ids[label]
        except KeyError:
            raise UnknownLabel(label) from None

    @property
    def max_id(self) -> int:
        return max([self.ignore_index, *self.ids.values()])

    @property
    def names(self) -> dict[int, str]:
        return {i: n for n, i in self.ids.items()}

    def to_text(self) -> str:
        """``labels.txt`` text that :meth:`from_file` reads back to an equal map (for the same
        ignore index; ids must be contiguous from 0 or 1, which every map built here is)."""
        ordered = sorted(self.ids, key=self.ids.__getitem__)
        return "\n".join([IGNORE, *ordered]) + "\n"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LabelMap)
            and self.ids == other.ids
            and self.ignore_index == other.ignore_index
        )

    def __repr__(self) -> str:
        return f"LabelMap({self.ids!r}, ignore_index={self.ignore_index})"


def given_label_map(spec: str | Path | Sequence[str], ignore_index: int) -> LabelMap:
    """A labels.txt path or URL, or the class names in id order (as a configuration gives)."""
    if isinstance(spec, (str, Path)):
        return LabelMap.from_file(spec, ignore_index)
    return LabelMap.from_names(list(spec), ignore_index)


def masks_label_map(folders: Iterable[str | Path], ignore_index: int) -> LabelMap | None:
    """The map in ``labels.txt`` of the first mask folder that has one: masks carry the map
    they were made with (``polymask rasterize`` writes it beside them)."""
    from polymask.io.storage import as_path

    for folder in folders:
        candidate = as_path(folder) / "labels.txt"
        if candidate.is_file():
            return LabelMap.from_file(candidate, ignore_index)
    return None
