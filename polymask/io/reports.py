"""Reports (JSON, CSV, Markdown, charts) written where they are told, and nowhere else.

``-`` is stdout. A path that exists and is not a regular file (``/dev/null``, a FIFO, a link to
``/dev/stdout``) is opened and written in place: replacing it by a temporary and a rename would
turn a device or a pipe into a plain file, or delete it. Regular files and new paths are
written atomically, and a symbolic link to a regular file keeps pointing at the new report.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from polymask.io.storage import as_path, atomic_write, is_local

STDOUT = "-"


def write_report(target: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``target``: stdout for ``-``, in place for devices and pipes, else
    atomically."""
    if str(target) == STDOUT:
        sys.stdout.flush()  # text echoed before goes out first
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    path = as_path(target)
    if is_local(path):
        try:
            mode = os.stat(path).st_mode  # through links: what a write would reach
        except FileNotFoundError:
            mode = None
        if mode is not None and not stat.S_ISREG(mode):
            # the path as given, not its resolved name: /dev/stdout resolves to a pipe's
            # pseudo-name that cannot be opened
            with open(path, "wb") as f:
                f.write(data)
            return
        path = Path(os.path.realpath(path))  # a link stays a link to the new report
    atomic_write(path, data)
