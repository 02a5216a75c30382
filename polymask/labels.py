"""Label maps: class names <-> class ids.

A labels file is read in one of two forms:

- **names** (LabelMe's ``labels.txt``): one name per line, ids by position. ``__ignore__`` maps
  to the ignore index (255 by default, the value PASCAL VOC uses), ``_background_`` to 0 and the
  names after it to 1, 2, ... A file without ``_background_`` numbers its names from 1 and keeps
  0 for the unlabelled background.
- **ids**: ``id name`` on every line (``1 person``, ``3 car``), for maps whose ids are not
  1, 2, 3, ... (COCO's category ids, which skip numbers). A file is read this way when every
  line starts with a number and a space.

``rasterize`` writes the names form when the ids are contiguous and the ids form otherwise, so
what it writes always reads back to the same map.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from polymask.errors import Problem, UsageError

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
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if not lines:
            raise UsageError(f"{source}: labels file is empty")
        try:
            if all(_ID_LINE.match(line) for line in lines):
                return cls.from_ids(lines, ignore_index)
            return cls.from_names(lines, ignore_index)
        except UsageError as exc:
            raise UsageError(f"{source}: {exc}") from exc

    @classmethod
    def from_ids(cls, lines: Iterable[str], ignore_index: int = DEFAULT_IGNORE_INDEX) -> LabelMap:
        """``id name`` lines. A line naming ``__ignore__`` sets nothing (the ignore index is
        a setting of its own); ``_background_`` may only be 0."""
        ids: dict[str, int] = {}
        used: dict[int, str] = {}
        for line in lines:
            m = _ID_LINE.match(line)
            if m is None:
                raise UsageError(f"expected 'id name', got {line!r}")
            i, name = int(m[1]), m[2].strip()
            if name == IGNORE:
                continue
            if name == BACKGROUND and i != 0:
                raise UsageError(f"{BACKGROUND!r} is class 0, not {i}")
            if name in ids:
                raise UsageError(f"label {name!r} is listed twice")
            if i in used:
                raise UsageError(f"id {i} is given to both {used[i]!r} and {name!r}")
            if i > 65535:
                raise UsageError(f"id {i} of {name!r} is over 65535")
            ids[name], used[i] = i, name
        return cls(ids, ignore_index)

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
        found = self.ids.get(label)
        if found is None:
            found = self.ids.get(label.strip())  # maps are written and read back trimmed
        if found is None:
            raise UnknownLabel(label)
        return found

    @property
    def max_id(self) -> int:
        return max([self.ignore_index, *self.ids.values()])

    @property
    def names(self) -> dict[int, str]:
        return {i: n for n, i in self.ids.items()}

    def to_text(self) -> str:
        """``labels.txt`` text that :meth:`from_file` reads back to an equal map (for the same
        ignore index): the names form when the ids are 1, 2, 3, ... (after an optional
        ``_background_`` 0), which LabelMe's tools read too; else the ids form."""
        ordered = sorted(self.ids, key=self.ids.__getitem__)
        start = 0 if ordered and self.ids[ordered[0]] == 0 else 1
        contiguous = [self.ids[n] for n in ordered] == list(range(start, start + len(ordered)))
        names_form = contiguous and (start == 1 or ordered[0] == BACKGROUND)
        if names_form and not any(_ID_LINE.match(n) for n in ordered):
            return "\n".join([IGNORE, *ordered]) + "\n"
        return "".join(f"{self.ids[n]} {n}\n" for n in ordered)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LabelMap)
            and self.ids == other.ids
            and self.ignore_index == other.ignore_index
        )

    def __repr__(self) -> str:
        return f"LabelMap({self.ids!r}, ignore_index={self.ignore_index})"


_ID_LINE = re.compile(r"(\d{1,9})[ \t]+(\S.*)")
"""A line of the ids form: a number, blanks, a name."""


def label_problem(label: str) -> str | None:
    """Why a label cannot be a class name, or None: a labels file is read line by line, so a
    name with a line break or an empty one would not read back from the file a run writes."""
    if not label.strip():
        return "label is empty"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in label):
        return f"label {label!r} has a line break or control character"
    return None


@dataclass
class FoundLabels:
    """The labels annotations use (with where each was first used, for messages) and the class
    ids their sources declare (COCO's categories), gathered file by file and merged."""

    seen: dict[str, tuple[str, str]] = field(default_factory=dict)
    """label -> (file, place in it) of its first use."""
    declared: dict[int, tuple[str, str]] = field(default_factory=dict)
    """id -> (name, the file that declared it)."""
    problems: list[Problem] = field(default_factory=list)

    def add_shape(self, label: str, file: str, where: str) -> None:
        if label not in self.seen:
            self.seen[label] = (file, where)

    def add_annotation(self, ann) -> None:
        """The labels of one :class:`~polymask.model.ImageAnnotation` and its declared ids."""
        if ann.categories is not None:
            self.add_categories(ann.categories, ann.source)
        for shape in ann.shapes:
            self.add_shape(shape.label, ann.source, shape.where)

    def add_categories(self, categories: Iterable[tuple[int, str]], file: str) -> None:
        for i, name in categories:
            known = self.declared.get(i)
            if known is None:
                self.declared[i] = (name, file)
            elif known[0] != name:
                self.problems.append(
                    Problem(
                        file,
                        f"category id {i} is {name!r} here but {known[0]!r} in {known[1]}",
                        code="PM091",
                    )
                )

    def merge(self, other: FoundLabels) -> None:
        for label, place in other.seen.items():
            self.seen.setdefault(label, place)
        for i, (name, file) in other.declared.items():
            self.add_categories([(i, name)], file)
        self.problems += other.problems

    def label_map(self, ignore_index: int = DEFAULT_IGNORE_INDEX) -> tuple[LabelMap, str | None]:
        """The map these labels make, and a note to show when its ids depend on the data found.

        Declared ids are kept as they are (pixel value = COCO ``category_id``); labels no source
        declares are numbered after them in sorted order. Labels that could not read back
        from the labels file written beside the masks are left out, each with a problem
        naming its first shape (in :attr:`problems`): their shapes then fail as unknown.
        """
        usable = self._usable()
        declared = {name: i for i, (name, _) in sorted(self.declared.items())}
        found = sorted(usable - set(declared) - {IGNORE, BACKGROUND})
        if not declared:
            return LabelMap.discover(found, ignore_index), _discovered_note(found)
        declared.pop(IGNORE, None)
        zero = [n for n, i in declared.items() if i == 0 and n != BACKGROUND]
        if zero:
            raise UsageError(f"category {zero[0]!r} has id 0, the background's")
        start = max(declared.values(), default=0) + 1
        ids = {**declared, **{name: i for i, name in enumerate(found, start)}}
        note = _discovered_note(found) if found else None
        return LabelMap(ids, ignore_index), note

    def _usable(self) -> set[str]:
        """The class names the labels seen give, blanks trimmed (a labels file is read
        trimmed, and :meth:`LabelMap.class_id` trims a label it does not know). A label that
        cannot be a name, or one that differs from another only in blanks (``car`` and
        ``car ``: one class or two?), is refused with a problem naming its first shape."""
        usable: dict[str, str] = {}
        for label, (file, where) in sorted(self.seen.items()):
            reason = label_problem(label)
            name = label.strip()
            if reason is None and usable.get(name, label) != label:
                reason = f"label {label!r} differs from {usable[name]!r} only in blanks"
            if reason is not None:
                self.problems.append(Problem(file, reason, where, code="PM092"))
            else:
                usable[name] = label
        return set(usable)


def _discovered_note(found: list[str]) -> str:
    return (
        f"class ids were numbered from the {len(found)} labels found, in sorted order: a "
        "dataset or split without one of them would number the rest differently; give "
        "--labels (or keep the labels.txt written with the masks) to fix them"
    )


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
