"""Finding the files below a folder, for every command that takes folders.

``Path.rglob`` does not follow symbolic links to folders, so a dataset assembled from links
lost whole subfolders without a word; and it lists a FIFO like a file, whose reading then
blocks forever. Here links to folders are followed, each real folder is read once (a link back
to a folder above is a loop, named and not followed), and special files (FIFOs, sockets,
devices) are named and never opened.

A folder read in several ways by one run (``score`` asks whether a folder holds annotations or
masks, then pairs its masks) is listed once: :func:`list_folder` keeps one walk's result as a
:class:`Listing`, and within :func:`reusing` every :func:`walk_files` of that folder answers
from it, with the same files and problems a walk of its own would give. On a network disk
the listing is the slow part of a run of 100,000 small masks.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from polymask.errors import Problem, UsageError
from polymask.io.storage import as_path, is_local

SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def special_kind(path: Any) -> str | None:
    """What a special file is ("a FIFO"), or None for a regular file, a folder, a missing path
    or a remote one. Only ``stat`` is used: opening a FIFO would wait for a writer."""
    if not is_local(path):
        return None
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return next((kind for test, kind in SPECIAL_KINDS if test(mode)), None)


def skipped_special(path: Any, kind: str) -> Problem:
    return Problem(
        str(path), f"{kind}, not a regular file: skipped", code="PM080", severity="warning"
    )


@dataclass(frozen=True)
class Listing:
    """One walk of a folder, for the files of ``suffixes`` (any when None)."""

    folder: Any
    suffixes: frozenset[str] | None
    files: tuple[Path, ...]
    """Regular files, sorted."""
    problems: tuple[tuple[str | None, Problem], ...]
    """Problems in the order met, each with the lower-case suffix of the file it skipped (None
    for a problem of a folder: a loop, one that cannot be read)."""

    def covers(self, folder: Any, suffixes: Collection[str] | None) -> bool:
        """Whether this walk saw every file a walk of ``folder`` for ``suffixes`` would."""
        if folder != self.folder:
            return False
        return self.suffixes is None or (suffixes is not None and set(suffixes) <= self.suffixes)

    def select(self, suffixes: Collection[str] | None, problems: list[Problem]) -> list[Path]:
        """The files and problems a walk for ``suffixes`` would give (see :func:`walk_files`)."""

        def wanted(suffix: str) -> bool:
            return suffixes is None or suffix in suffixes

        problems += [p for suffix, p in self.problems if suffix is None or wanted(suffix)]
        return [f for f in self.files if wanted(f.suffix.lower())]


_REUSED: ContextVar[tuple[Listing, ...]] = ContextVar("polymask_reused_listings", default=())


@contextmanager
def reusing(*listings: Listing) -> Iterator[None]:
    """Within the block, :func:`walk_files` of a folder one of ``listings`` covers answers
    from it instead of walking the folder again."""
    token = _REUSED.set(_REUSED.get() + listings)
    try:
        yield
    finally:
        _REUSED.reset(token)


def list_folder(folder: Any, suffixes: Collection[str] | None) -> Listing:
    """Walk ``folder`` once for the files of ``suffixes`` (see :func:`walk_files`), keeping
    the result to answer later walks of it (:func:`reusing`)."""
    tagged: list[tuple[str | None, Problem]] = []
    files = _walk(folder, suffixes, tagged)
    return Listing(
        folder, None if suffixes is None else frozenset(suffixes), tuple(files), tuple(tagged)
    )


def walk_files(
    folder: Any, suffixes: Collection[str] | None, problems: list[Problem]
) -> list[Path]:
    """Regular files below ``folder`` whose lower-case suffix is in ``suffixes`` (any when
    None), sorted; special files with such a suffix, links looping back and folders that
    cannot be read are appended to ``problems`` as warnings. Remote folders are listed by
    their store, which has neither links nor special files. Within :func:`reusing`, a folder
    listed already is not walked again."""
    for listing in _REUSED.get():
        if listing.covers(folder, suffixes):
            return listing.select(suffixes, problems)
    tagged: list[tuple[str | None, Problem]] = []
    found = _walk(folder, suffixes, tagged)
    problems += [p for _, p in tagged]
    return found


def _walk(
    folder: Any, suffixes: Collection[str] | None, problems: list[tuple[str | None, Problem]]
) -> list[Path]:
    """:func:`walk_files`, each problem tagged with the suffix of the file it skipped."""
    if not is_local(folder):
        return sorted(
            f
            for f in folder.rglob("*")
            if (suffixes is None or f.suffix.lower() in suffixes) and f.is_file()
        )
    found = []
    seen: dict[tuple[int, int], str] = {}

    def unreadable(exc: OSError) -> None:
        problems.append(
            (
                None,
                Problem(
                    str(exc.filename), f"cannot read folder: {exc.strerror}", severity="warning"
                ),
            )
        )

    for top, dirs, files in os.walk(folder, onerror=unreadable, followlinks=True):
        here = os.stat(top)
        seen.setdefault((here.st_dev, here.st_ino), top)
        dirs.sort(key=lambda name: (os.path.islink(os.path.join(top, name)), name))
        for name in list(dirs):
            path = os.path.join(top, name)
            try:
                st = os.stat(path)
            except OSError:
                continue  # os.walk reports what it cannot list
            first = seen.setdefault((st.st_dev, st.st_ino), path)
            if first != path:
                dirs.remove(name)
                inside = Path(path).is_relative_to(first)
                why = "a symbolic link loop back to" if inside else "the same folder as"
                msg = f"{why} {first}: not read again"
                problems.append((None, Problem(path, msg, code="PM081", severity="warning")))
        for name in files:
            path = Path(top, name)
            if suffixes is not None and path.suffix.lower() not in suffixes:
                continue
            try:
                mode = os.stat(path).st_mode
            except OSError:
                continue  # a dangling link: nothing to read, as before
            if stat.S_ISREG(mode):
                found.append(path)
            else:
                kind = special_kind(path) or "not a file"
                problems.append((path.suffix.lower(), skipped_special(path, kind)))
    return sorted(found)


def find_files(
    inputs: Iterable[Any], suffixes: Collection[str], problems: list[Problem] | None = None
) -> dict[Path, Path]:
    """file -> the folder it was found in (a named file: its own folder), for files named (any
    suffix) or found below named folders (with one of ``suffixes``). Skipped special files and
    links are appended to ``problems``; without that list they become Python warnings, so that
    no caller loses them. A path that does not exist is a :class:`UsageError`."""
    skipped: list[Problem] = []
    found: dict[Path, Path] = {}
    for item in inputs:
        p = as_path(item)
        if p.is_dir():
            for f in walk_files(p, suffixes, skipped):
                found.setdefault(f, p)
        elif p.is_file():
            found.setdefault(p, p.parent)
        elif kind := special_kind(p):
            skipped.append(skipped_special(p, kind))
        else:
            raise UsageError(f"{item}: no such file or folder")
    if problems is not None:
        problems.extend(skipped)
    else:
        for problem in skipped:
            warnings.warn(str(problem), stacklevel=3)
    return found
