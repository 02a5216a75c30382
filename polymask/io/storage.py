"""Local paths and fsspec URLs (``s3://``, ``gs://``, ``memory://``, ...) behind one interface.

Local paths stay plain :class:`pathlib.Path` objects, so the common case pays nothing. A URL
becomes a ``UPath`` (universal-pathlib over fsspec), which offers the same methods (``/``,
``rglob``, ``read_bytes``, ``relative_to``, ``open``), so the rest of polymask handles both
without knowing. Remote storage needs the ``dask`` extra (fsspec, universal-pathlib) and the
fsspec driver of the store (``s3fs``, ``gcsfs``, ...).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from polymask.errors import UsageError

TEMP_MARK = ".polymask-tmp-"
"""Temporary files are named ``.{name}.polymask-tmp-{host}-{pid}-{random}``: hidden,
recognisably ours, and naming the run that owns them, so a sweep can tell a live run's file
from a dead run's leftover."""
STALE_AFTER_S = 24 * 3600
"""A temporary lives for one write (seconds); one this old is a leftover whoever owns it."""


def is_url(value: Any) -> bool:
    text = str(value)
    return "://" in text and not text.startswith("file://")


def as_path(value: str | os.PathLike) -> Any:
    """A ``Path`` for local paths (``file://`` URLs included), a ``UPath`` for other URLs."""
    if isinstance(value, Path):
        return value  # immutable: no copy needed (this is called for every file written)
    if not is_url(value):
        text = str(value)
        return Path(text.removeprefix("file://")) if isinstance(value, str) else Path(value)
    try:
        from upath import UPath
    except ImportError:
        raise UsageError(
            f"{value}: URLs need fsspec and universal-pathlib: pip install 'polymask[dask]'"
        ) from None
    try:
        return UPath(str(value))
    except (ImportError, ValueError) as exc:  # the store's driver (s3fs, gcsfs) is missing
        raise UsageError(f"{value}: {exc}") from None


def file_sha256(path: Any) -> str:
    """The SHA-256 of a file's bytes, read in blocks: a 400 MB annotation file is never held
    whole for it (its reader may be holding it already)."""
    with as_path(path).open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def is_local(path: Any) -> bool:
    return isinstance(path, Path) and not is_url(path)


def atomic_write(path: Any, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    Locally: a temporary file in the same folder, then ``os.replace``. On an object store a
    single PUT is already all-or-nothing, and a rename is a copy; the temporary name is still
    used so an interrupted upload never sits under the final name.
    """
    path = as_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}{TEMP_MARK}{_owner()}-{uuid.uuid4().hex[:16]}")
    # the temporary is created inside the try: an interrupt landing right after it exists
    # (Ctrl-C after os.open returns) still removes it; its name is new, so it is ours to remove
    _IN_FLIGHT.add(str(tmp))  # before it exists, for a worker stopped from outside
    try:
        if not is_local(path):
            tmp.write_bytes(data)
            tmp.rename(path)
            return
        # a new file of its own (O_EXCL), with the permissions any new file gets (umask)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        with os.fdopen(os.open(tmp, flags, 0o666), "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        _IN_FLIGHT.discard(str(tmp))


_IN_FLIGHT: set[str] = set()
"""Local temporaries this process is writing at the moment (one at most, per thread)."""


def remove_own_temporaries() -> None:
    """Remove the temporaries this process is writing: for a worker that is being stopped and
    exits at once, without unwinding (see :mod:`polymask.runtime.parallel`)."""
    for name in list(_IN_FLIGHT):
        try:
            os.unlink(name)
        except OSError:
            pass  # not created yet, or already renamed into place


def _owner() -> str:
    """``{host}-{pid}`` of this process, as temporary names carry it."""
    return f"{socket.gethostname() or 'localhost'}-{os.getpid()}"


def remove_stale_temp(folder: Any) -> int:
    """Delete temporary files that dead runs left below ``folder``; returns how many.

    A run stopped by SIGKILL cannot clean up after itself; its temporaries are never mistaken
    for masks (hidden names, no .png suffix), and a later run sweeps them away. Runs into the
    same folder at the same time must not lose theirs, so a temporary is removed only when
    its owner is gone: written on this host by a process that no longer exists, or older than
    :data:`STALE_AFTER_S` (any host; a live run's temporary lives for one write). Names without
    an owner come from polymask versions before owners were recorded and are removed as then.
    """
    folder = as_path(folder)
    if not folder.is_dir():
        return 0
    stale = [
        p
        for p in folder.rglob("*")
        if p.name.startswith(".") and TEMP_MARK in p.name and _owner_gone(p)
    ]
    for p in stale:
        p.unlink(missing_ok=True)
    return len(stale)


def _owner_gone(tmp: Any) -> bool:
    parts = tmp.name.rsplit(TEMP_MARK, 1)[1].rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return True  # no owner recorded
    host, pid, _ = parts
    if host == (socket.gethostname() or "localhost") and not _alive(int(pid)):
        return True
    try:
        mtime = tmp.stat().st_mtime
    except OSError:  # gone meanwhile
        return False
    return 0 < mtime < time.time() - STALE_AFTER_S  # 0: a store that keeps no times


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would end the process there: only the age rule applies
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True
