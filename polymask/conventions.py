"""The names of the pixel conventions and overlap orders, and each format's own.

A leaf: the settings (which resolve a run's rules) and the rasterizer (which applies them) read
the same table, without the settings importing any drawing code.
"""

from __future__ import annotations

from typing import Literal

Convention = Literal["center", "labelme", "coco"]
Order = Literal["file", "area", "z"]
CONVENTIONS: tuple[str, ...] = ("center", "labelme", "coco")
ORDERS: tuple[str, ...] = ("file", "area", "z")
FORMAT_CONVENTION: dict[str, Convention] = {"labelme": "labelme", "coco": "coco"}
"""The pixel rule of each format's own tool, where it is not ``center``."""
FORMAT_ORDER: dict[str, Order] = {"cvat": "z"}
"""How each format stacks overlaps, where it is not file order."""


def format_convention(fmt: str | None) -> Convention:
    """The convention of a format's own tool (``center`` for unknown formats and for None)."""
    return FORMAT_CONVENTION.get(fmt or "", "center")


def format_order(fmt: str | None) -> Order:
    """The overlap order a format records (file order unless the format says otherwise)."""
    return FORMAT_ORDER.get(fmt or "", "file")
