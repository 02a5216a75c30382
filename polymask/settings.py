"""Settings: resolved once, by one function, for every command.

Every command runs the same way: parse the command line -> :func:`resolve_settings` -> one
:class:`Settings` -> execute -> a result -> a reporter -> the exit code. Nothing below the
command line looks at the configuration file or picks a default of its own, so ``validate``,
``rasterize``, ``stats`` and ``score`` cannot disagree on class ids or pixels.

The rules, in plain words:

- Each setting comes from the command line; else from the project configuration
  (``[tool.polymask]`` of the nearest ``pyproject.toml``, or ``polymask.toml``, found from the
  first input: :mod:`polymask.config`); else from its default.
- The pixel convention and the overlap order default to those of each file's format: its own
  tool's rule (``labelme`` for LabelMe, ``coco`` for COCO, ``center`` for the rest) and z order
  for CVAT, file order for the rest. A convention or order that is set applies to every format.
- The label map (:func:`resolve_label_map`): the labels given (``--labels``, or ``labels`` in
  the configuration, a labels.txt path or the names in id order); else ``labels.txt`` beside
  the masks being read (what ``rasterize`` wrote there); else the class ids the annotation
  files declare (COCO's categories: pixel value = ``category_id``), with any other labels the
  annotations use numbered after them; else the labels the annotations use, sorted and
  numbered from 1; else none, and class ids are the mask values found.
- The memory budget (``--max-pixels``, :mod:`polymask.limits`): the command line; else
  ``POLYMASK_MAX_PIXELS``; else ``max-pixels`` in the configuration; else 268 Mpx. It is then
  set in ``POLYMASK_MAX_PIXELS``, where every reader, in this process or a worker, finds it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

from polymask.config import PolymaskConfig, find_config, load_config
from polymask.conventions import Convention, Order, format_convention, format_order
from polymask.errors import AnnotationError, UsageError
from polymask.formats.options import FormatOptions
from polymask.io.storage import is_url
from polymask.labels import (
    DEFAULT_IGNORE_INDEX,
    FoundLabels,
    LabelMap,
    UnknownPolicy,
    given_label_map,
    masks_label_map,
)
from polymask.limits import BUDGET_ENV, MAX_PIXELS, parse_budget
from polymask.runtime.parallel import check_scheduler

if TYPE_CHECKING:
    from polymask.formats import InputFile


@dataclass(frozen=True)
class Settings:
    """What decides class ids, pixels and where work runs, shared by every command."""

    labels: str | tuple[str, ...] | None = None
    """A labels.txt path or URL, or the class names in id order; None: see the label-map rule."""
    ignore_index: int = DEFAULT_IGNORE_INDEX
    convention: Convention | None = None
    """None: each format's own (see :func:`convention_for`)."""
    order: Order | None = None
    """None: each format's own (see :func:`order_for`)."""
    unknown: UnknownPolicy = "error"
    fmt: str | None = None
    """The input format; None: detected from each file's content."""
    format_options: FormatOptions = field(default_factory=FormatOptions)
    max_pixels: int = MAX_PIXELS
    """The memory budget, in pixels of one image (:mod:`polymask.limits`). The readers take it
    from ``POLYMASK_MAX_PIXELS``, where :func:`resolve_settings` puts it."""
    workers: int | None = None
    """Worker processes; None: all cores."""
    scheduler: str = "processes"
    output: str | None = None
    """rasterize: the masks folder."""
    instances: str | None = None
    """rasterize: the instance masks folder."""
    overlay: str | None = None
    """rasterize: the overlays folder."""
    config_file: str | None = None
    """The configuration file the values came from, if any (for messages)."""

    def convention_for(self, fmt: str | None) -> Convention:
        return self.convention or format_convention(fmt)

    def order_for(self, fmt: str | None) -> Order:
        return self.order or format_order(fmt)


CONFIGURABLE = tuple(f.name for f in fields(Settings) if f.name in PolymaskConfig.model_fields)
"""Settings a configuration file may give (the rest come from the command line only)."""


def resolve_settings(
    given: Mapping[str, object],
    config_from: Sequence[str | Path] = (),
    config_file: str | Path | None = None,
) -> Settings:
    """The settings of one run.

    Args:
        given: values from the command line, by :class:`Settings` field name; None (or a
            missing key) means not given.
        config_from: where to look for the configuration: the first of these paths that has
            one above it (local paths only; URLs are skipped).
        config_file: a configuration file to use instead of searching.
    """
    unknown = set(given) - {f.name for f in fields(Settings)}
    if unknown:
        raise TypeError(f"not settings: {sorted(unknown)}")
    values = {k: v for k, v in given.items() if v is not None}
    budget_given = values.pop("max_pixels", None)
    path = Path(config_file) if config_file else _find(config_from)
    if path is not None:
        config = load_config(path)
        for name in CONFIGURABLE:
            value = getattr(config, name)
            if name not in values and value is not None:
                values[name] = tuple(value) if isinstance(value, list) else value
        values["config_file"] = str(path)
    if isinstance(values.get("labels"), list):
        values["labels"] = tuple(values["labels"])
    values["max_pixels"] = _publish_budget(budget_given, values.get("max_pixels"))
    if "scheduler" in values:
        try:
            values["scheduler"] = check_scheduler(values["scheduler"])
        except ValueError as exc:
            raise UsageError(f"scheduler: {exc}") from None
    return Settings(**values)


_published: tuple[str | None, str] | None = None
"""(the environment's budget before this process set it, the value it set)."""


def _publish_budget(given: int | None, configured: int | None) -> int:
    """The budget of the run, set in the environment for the readers and worker processes.

    The command line's (``given``), else ``POLYMASK_MAX_PIXELS`` set by the user (an
    environment overrides a project's file, as usual), else the configuration's, else the
    default. A value this process published itself is not taken as the user's: a second run in
    the same process (a library caller, a test) resolves from the user's environment again.
    """
    global _published
    raw = os.environ.get(BUDGET_ENV)
    if _published is not None and raw == _published[1]:
        raw = _published[0]
    budget = given
    if budget is None and raw:
        budget = parse_budget(raw)
        if budget is None:
            raise UsageError(f"{BUDGET_ENV}: expected a positive number of pixels, got {raw!r}")
    budget = budget or configured or MAX_PIXELS
    _published = (raw, str(budget))
    os.environ[BUDGET_ENV] = str(budget)
    return budget


def _find(starts: Iterable[str | Path]) -> Path | None:
    for start in starts:
        if start is None or is_url(str(start)):
            continue
        path = find_config(start)
        if path is not None:
            return path
    return None


# ---- the label map ----------------------------------------------------------------------------


def resolve_label_map(settings: Settings, masks: Iterable[str | Path] = ()) -> LabelMap | None:
    """The label map of a run fixed before any annotation is read, by the one rule (see the
    module docstring): ``--labels``, else the ``labels.txt`` of ``masks`` (folders of masks
    being read: the map they were made with). None: the labels found make it
    (:func:`polymask.dataset.dataset_label_map`)."""
    if settings.labels is not None:
        return given_label_map(settings.labels, settings.ignore_index)
    return masks_label_map(masks, settings.ignore_index)


def labels_of_file(
    item: InputFile, fmt: str | None, format_options: FormatOptions | None
) -> FoundLabels:
    """The labels one file uses (nothing for a file that cannot be read): read as for burning,
    so that a label counts exactly where its shape would be burned."""
    from polymask.formats import load_annotations

    found = FoundLabels()
    try:
        annotations = load_annotations(item, fmt, False, format_options, problems=[])
    except AnnotationError:
        return found
    for ann in annotations:
        found.add_annotation(ann)
    return found
