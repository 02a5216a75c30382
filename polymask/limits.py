"""Size limits that every reader checks before it allocates, and the run's memory budget.

A leaf module: readers of annotations and of masks both need these numbers, and a mask reader
should not import every annotation format to learn them.

The budget is counted in pixels of one image: a uint8 mask of :func:`max_pixels` pixels takes
that many bytes, and every array made for an image is a small multiple of it. Any size a file
declares or a header gives (an annotation's image size, a PNG/JPEG/TIFF header, an embedded
image) is checked against it before anything of that size is allocated, so a file of a few
bytes that claims a huge image is refused by name instead of exhausting memory. Work that
costs many bytes a pixel (an overlay picture) is checked with its cost (``check_size(...,
cost)``), so what one image may take stays within the same budget.
"""

from __future__ import annotations

import os

import numpy as np

MAX_SIDE = 1 << 17
"""Largest image side accepted (131072 px): larger declared sizes are refused before allocating."""
MAX_PIXELS = 1 << 28
"""The default budget: 268 Mpx (256 MiB as a uint8 mask), a 16384x16384 image. Raise it with
``--max-pixels``, ``max-pixels`` in ``[tool.polymask]`` or ``POLYMASK_MAX_PIXELS``."""
BUDGET_ENV = "POLYMASK_MAX_PIXELS"
"""The environment variable that carries the budget: :func:`polymask.settings.resolve_settings`
sets it to the budget it resolved, and worker processes inherit it."""
MAX_COORD = float(1 << 24)
"""Coordinates beyond this are refused: no image is that large and drawing code would overflow."""


def max_pixels() -> int:
    """The budget of this process: :data:`BUDGET_ENV` when it holds a positive integer, else
    :data:`MAX_PIXELS`. Read from the environment on each call (a dictionary look-up), so that
    readers in any layer and in any worker process see the one value the settings resolved."""
    return parse_budget(os.environ.get(BUDGET_ENV)) or MAX_PIXELS


def parse_budget(raw: str | None) -> int | None:
    """The budget a :data:`BUDGET_ENV` value gives: a positive integer, else None (unset or not
    a budget; the settings refuse such a value when a run starts)."""
    try:
        budget = int(raw) if raw else 0
    except ValueError:
        return None
    return budget if budget > 0 else None


def pixels_text(n: int) -> str:
    """A number of pixels for messages: ``4295 Mpx``, ``2.5 Mpx``, ``1000 px``."""
    if n >= 10**7:
        return f"{n / 1e6:.0f} Mpx"
    return f"{n / 1e6:.1f} Mpx" if n >= 10**6 else f"{n} px"


def check_size(width: int, height: int, cost: int = 1) -> str | None:
    """Why an image of this size cannot be allocated, or None when it can.

    ``cost``: bytes a pixel of the work to be done (1 for a uint8 mask), which must fit the
    budget read as bytes."""
    if width <= 0 or height <= 0:
        return f"image size must be positive, got {width}x{height}"
    if width > MAX_SIDE or height > MAX_SIDE:
        return f"image size {width}x{height} exceeds the limit of {MAX_SIDE} px a side"
    budget = max_pixels()
    if width * height * cost > budget:
        each = f" at {cost} bytes a pixel" if cost > 1 else ""
        return (
            f"image size {width}x{height} ({pixels_text(width * height)}){each} exceeds the "
            f"limit of {pixels_text(budget)} (the memory budget, --max-pixels)"
        )
    return None


SCALE = 5
"""pycocotools' upsampling factor for polygon edges."""
MAX_STEPS = 1 << 25
"""Largest upsampled polygon perimeter walked (about 6.7 million pixels of outline)."""


def polygon_steps(xy: np.ndarray) -> int:
    """How many upsampled points pycocotools' scan conversion walks for this polygon: the cost
    bound that COCO polygons are checked against (``MAX_STEPS``) before they are drawn.
    Vertices are scaled by ``SCALE`` and cast as C casts (towards zero)."""
    x = (SCALE * xy[:, 0] + 0.5).astype(np.int64)
    y = (SCALE * xy[:, 1] + 0.5).astype(np.int64)
    return int(
        np.sum(np.maximum(np.abs(np.diff(x, append=x[:1])), np.abs(np.diff(y, append=y[:1]))) + 1)
    )
