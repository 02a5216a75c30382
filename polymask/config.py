"""Project configuration: ``[tool.polymask]`` in the nearest ``pyproject.toml`` or a
``polymask.toml``.

The search starts at the first input and walks up, stopping at the repository root (the folder
holding ``.git``), so a dataset inside a repository picks up that repository's settings and never
a stranger's further up. Command-line options override the file. Paths in the file are relative to
the file's folder. A bad value is a usage error (exit 2) naming the file and the key.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from polymask.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class PolymaskConfig(BaseModel):
    """Settings any command may take from the project instead of the command line."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, title="polymask configuration")

    labels: str | list[str] | None = Field(
        default=None,
        description="labels.txt path (relative to this file) or the class names in id order",
    )
    ignore_index: int | None = Field(default=None, ge=0, le=65535, alias="ignore-index")
    convention: Literal["center", "labelme", "coco"] | None = None
    order: Literal["file", "area", "z"] | None = None
    unknown: Literal["error", "ignore", "void"] | None = None
    output: str | None = Field(default=None, description="rasterize: the masks folder")
    instances: str | None = Field(default=None, description="rasterize: instance masks folder")
    overlay: str | None = Field(default=None, description="rasterize: overlays folder")
    max_pixels: int | None = Field(
        default=None,
        ge=1,
        alias="max-pixels",
        description="the memory budget: pixels of one image, checked before allocating",
    )
    workers: int | None = Field(default=None, ge=1)
    scheduler: str | None = Field(
        default=None,
        description="processes, threads, serial, dask, or a Dask scheduler address (tcp://...)",
    )


def find_config(start: str | Path) -> Path | None:
    """The nearest config file at or above ``start``, not above the repository root."""
    here = Path(start).resolve()
    if not here.is_dir():
        here = here.parent
    for folder in (here, *here.parents):
        for name in ("polymask.toml", "pyproject.toml"):
            candidate = folder / name
            if candidate.is_file() and _section(candidate) is not None:
                return candidate
        if (folder / ".git").exists():
            break
    return None


def _section(path: Path) -> dict | None:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read configuration: {exc}") from None
    if path.name == "pyproject.toml":
        return doc.get("tool", {}).get("polymask")
    # polymask.toml, or any file named by --config: the section, or the whole file
    return doc.get("tool", {}).get("polymask", doc)


def load_config(path: Path) -> PolymaskConfig:
    """The validated configuration in ``path``, with its paths made absolute."""
    try:
        config = PolymaskConfig.model_validate(_section(path) or {})
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        key = ".".join(str(p) for p in err["loc"]) or "(section)"
        raise UsageError(f"{path}: [tool.polymask] {key}: {err['msg']}") from None
    base = path.parent
    updates = {
        k: str(base / v)
        for k in ("output", "instances", "overlay")
        if isinstance(v := getattr(config, k), str)
    }
    if isinstance(config.labels, str):
        updates["labels"] = str(base / config.labels)
    return config.model_copy(update=updates)
