"""Class weights as a tensor for a loss's ``weight=``, without copying numbers by hand.

The weights are those of ``polymask stats`` (:mod:`polymask.stats.weights`: four schemes, mean 1
over the classes present, 0 for a class with no pixels), read from its JSON report or computed
here the way it computes them, and laid out as its ``weight_vectors``: entry ``c`` is the weight
of class id ``c``, 0 for an id no class has. With class ids as the model's channels, entry ``c``
weights channel ``c``, which is what ``DiceCELoss(weight=...)`` and
``torch.nn.CrossEntropyLoss(weight=...)`` expect.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from polymask.errors import AnnotationError, UsageError
from polymask.io.storage import as_path
from polymask.stats.weights import DEFAULT_BETA, SCHEMES

if TYPE_CHECKING:
    from torch import Tensor

    from polymask.stats.report import StatsReport
    from polymask.training.data import SegmentationDataset


def class_weights(
    source: SegmentationDataset | str | Path,
    scheme: str = "median_frequency",
    *,
    beta: float | None = None,
    num_classes: int | None = None,
    **settings: Any,
) -> Tensor:
    """Class weights in class-id order, as a float32 tensor.

    Args:
        source: a :class:`~polymask.training.data.SegmentationDataset` (its class maps are
            counted, before any transform); a ``polymask stats --json`` report file; or a
            folder of mask PNGs (counted as ``polymask stats FOLDER`` counts them, class
            names from its labels.txt).
        scheme: one of ``inverse_frequency``, ``median_frequency``, ``effective_number``,
            ``generalized_dice``.
        beta: of the effective-number weights (default 0.9999); a report keeps the one it was
            made with, so a different one is refused.
        num_classes: the model's channels: the vector is padded with zeros to this length (a
            shorter length that would drop a weighted class is refused). Default: up to the
            largest class id.
        settings: for a mask folder, :class:`~polymask.settings.Settings` by name
            (``ignore_index``, ``labels``, ``workers``).

    Raises:
        ValueError: an unknown scheme, a refused ``beta`` or ``num_classes``, or a report file
            that is not a stats report.
        AnnotationError: masks or annotations that cannot be counted, every one listed.
    """
    import torch

    if scheme not in SCHEMES:
        raise ValueError(f"Expected argument `scheme` to be one of {SCHEMES}, but got {scheme!r}.")
    if isinstance(source, (str, Path)) and as_path(source).is_file():
        report = _read_report(as_path(source))
        if beta is not None and beta != report.effective_number_beta:
            raise ValueError(
                f"{source}: its effective-number weights were made with beta "
                f"{report.effective_number_beta}, not {beta}; run polymask stats --beta {beta}"
            )
    else:
        report = stats_report(source, DEFAULT_BETA if beta is None else beta, **settings)
    vector = list(report.weight_vectors[scheme])
    if num_classes is not None:
        weighted = [i for i, w in enumerate(vector) if w and i >= num_classes]
        if weighted:
            raise ValueError(
                f"Expected argument `num_classes` to cover every weighted class id, but got "
                f"{num_classes} and class id {weighted[-1]} has a weight."
            )
        vector = vector[:num_classes] + [0.0] * (num_classes - len(vector))
    return torch.tensor(vector, dtype=torch.float32)


def stats_report(
    source: SegmentationDataset | str | Path, beta: float = DEFAULT_BETA, **settings: Any
) -> StatsReport:
    """The ``polymask stats`` report of a dataset or of a folder of mask PNGs."""
    from polymask.training.data import SegmentationDataset

    if isinstance(source, SegmentationDataset):
        if settings:
            raise TypeError(f"a dataset has its settings already, not {sorted(settings)}")
        return source.stats(beta)
    from polymask.settings import resolve_label_map, resolve_settings
    from polymask.stats.compute import collect, find_masks, summarize

    resolved = resolve_settings(settings, [source])
    found: list = []
    files = find_masks([source], found)
    label_map = resolve_label_map(resolved, masks=[source])
    acc, problems, failed = collect(files, "masks", resolved, label_map)
    errors = [p for p in found + problems if p.severity == "error"]
    if errors:
        raise AnnotationError(errors)
    return summarize(acc, label_map, "masks", beta, problems, failed)


def _read_report(path: Path) -> StatsReport:
    from pydantic import ValidationError

    from polymask.stats.report import StatsReport

    try:
        return StatsReport.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"])) or "the file"
        raise ValueError(
            f"{path}: not a polymask stats --json report ({where}: {first['msg']})"
        ) from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
