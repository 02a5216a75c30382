"""Work arrays reused from image to image, one set per thread.

Scoring an image needs a few arrays as large as the image (the inflated rows, the joint code of
each pixel), used once and dropped. Allocated afresh for every image they cost page faults:
the C allocator returns large freed blocks to the system, and the first touch of each new page
traps into the kernel, which measured as much as the counting itself. Reusing one array per
purpose keeps those pages mapped. Arrays handed out here are only valid until the next request
under the same name in the same thread; nothing that outlives the current image may hold one.
Arrays above :data:`KEEP_BYTES` are not kept: a thread holds at most a few of that size.
"""

from __future__ import annotations

import threading

import numpy as np

_local = threading.local()

KEEP_BYTES = 64 << 20
"""Largest array kept for reuse: a 4,000 x 4,000 image's 16-bit codes fit; a huge image's work
arrays are allocated per call and freed, so that no thread keeps gigabytes after scoring it."""


def scratch(name: str, size: int, dtype: np.dtype | type = np.uint8) -> np.ndarray:
    """A 1-D array of ``size`` entries, contents undefined, reused while it is large enough."""
    dtype = np.dtype(dtype)
    if size * dtype.itemsize > KEEP_BYTES:
        return np.empty(size, dtype)
    buffers = _local.__dict__
    buf = buffers.get(name)
    if buf is None or buf.size < size or buf.dtype != dtype:
        buf = buffers[name] = np.empty(size, dtype)
    return buf[:size]
