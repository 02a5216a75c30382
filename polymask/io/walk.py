"""Finding the files below a folder, for every command that takes folders.

``Path.rglob`` does not follow symbolic links to folders, so a dataset assembled from links
lost whole subfolders without a word; and it lists a FIFO like a file, whose reading then
blocks forever. Here links to folders are followed, each real folder is read once (a link back
to a folder above is a loop, named and not followed), and special files (FIFOs, sockets,
devices) are named and never opened.
"""

from __future__ import annotations

import os
import stat
import warnings
from collections.abc import Collection, Iterable
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


def walk_files(
    folder: Any, suffixes: Collection[str] | None, problems: list[Problem]
) -> list[Path]:
    """Regular files below ``folder`` whose lower-case suffix is in ``suffixes`` (any when
    None), sorted; special files with such a suffix, links looping back and folders that
    cannot be read are appended to ``problems`` as warnings. Remote folders are listed by
    their store, which has neither links nor special files."""
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
            Problem(str(exc.filename), f"cannot read folder: {exc.strerror}", severity="warning")
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
                problems.append(Problem(path, msg, code="PM081", severity="warning"))
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
                problems.append(skipped_special(path, special_kind(path) or "not a file"))
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
