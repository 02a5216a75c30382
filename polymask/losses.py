"""Dice losses for training that agree with ``polymask score``.

On hard one-hot predictions (``softmax=False`` and probabilities of exactly 0 or 1),
:class:`DiceLoss` equals 1 minus the scorer's mean Dice under the same conventions: pixels whose
target is ``ignore_index`` are removed, background is left out of the mean unless
``include_background``, and a class absent from both prediction and target is left out of the
mean (with ``smooth=0``). ``batch_dice=True`` (the default) sums over the whole batch, as the
scorer's ``global`` aggregate; ``batch_dice=False`` averages per-sample values, as its
``mean-per-image``.

Targets are class indices (N, *spatial); inputs are logits (N, C, *spatial), or probabilities
with ``softmax=False``.

torch is imported on first use of a loss class (module ``__getattr__``, PEP 562), not by
``import polymask.losses``: the scorer and the command line share this package and must not pay
for torch's import.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

_CLASSES = ("DiceCELoss", "DiceLoss", "GeneralizedDiceLoss")
__all__ = [*_CLASSES]


def __getattr__(name: str):
    if name in _CLASSES or name == "_DiceBase":
        globals().update(_define())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_CLASSES})


def _check_args(ignore_index, weight, smooth) -> None:
    import torch

    if ignore_index is not None and (
        isinstance(ignore_index, bool) or not isinstance(ignore_index, int)
    ):
        raise ValueError(
            f"Expected argument `ignore_index` to be None or an integer, but got {ignore_index}."
        )
    if isinstance(smooth, bool) or not isinstance(smooth, (int, float)) or smooth < 0:
        raise ValueError(
            f"Expected argument `smooth` to be a non-negative number, but got {smooth}."
        )
    if weight is not None and (torch.as_tensor(weight) < 0).any():
        raise ValueError(
            f"Expected argument `weight` to hold non-negative class weights, but got {weight}."
        )


def _check_inputs(input: Tensor, target: Tensor, weight: Tensor | None) -> None:
    if input.ndim < 2:
        raise ValueError(f"Expected `input` of shape (N, C, ...), but got {tuple(input.shape)}.")
    if target.shape != input.shape[:1] + input.shape[2:]:
        raise ValueError(
            f"Expected `target` of shape {tuple(input.shape[:1] + input.shape[2:])} (input "
            f"without its class axis), but got {tuple(target.shape)}."
        )
    if target.is_floating_point() or target.is_complex():
        raise ValueError(f"Expected `target` to hold class indices, but got {target.dtype}.")
    if weight is not None and weight.numel() != input.shape[1]:
        raise ValueError(
            f"Expected argument `weight` to have {input.shape[1]} entries (one per "
            f"class), but got {weight.numel()}."
        )


def _define() -> dict[str, type]:
    """The loss classes, defined when first asked for; each gets the module-level name that
    pickling (``torch.save`` of a whole model) looks it up by."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    class _DiceBase(nn.Module):
        def __init__(
            self,
            ignore_index: int | None = 255,
            weight: Sequence[float] | Tensor | None = None,
            smooth: float = 0.0,
            include_background: bool = False,
            softmax: bool = True,
            batch_dice: bool = True,
        ):
            super().__init__()
            _check_args(ignore_index, weight, smooth)
            self.ignore_index = ignore_index
            self.smooth = float(smooth)
            self.include_background = include_background
            self.softmax = softmax
            self.batch_dice = batch_dice
            self.register_buffer(
                "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
            )

        def _sums(self, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            """Intersection, predicted mass and target mass per class: (N, C), or (1, C) over the
            batch; ignored pixels removed from all three."""
            _check_inputs(input, target, self.weight)
            c = input.shape[1]
            probs = input.softmax(dim=1) if self.softmax else input
            if self.ignore_index is not None:
                valid = target != self.ignore_index
                target = target.masked_fill(~valid, 0)
            else:
                valid = torch.ones_like(target, dtype=torch.bool)
            onehot = F.one_hot(target.long(), c).movedim(-1, 1).to(probs.dtype)
            keep = valid.unsqueeze(1).to(probs.dtype)
            probs, onehot = probs * keep, onehot * keep
            dims = tuple(range(2, input.ndim))
            sums = [(probs * onehot).sum(dims), probs.sum(dims), onehot.sum(dims)]
            if self.batch_dice:
                sums = [s.sum(0, keepdim=True) for s in sums]
            return sums[0], sums[1], sums[2]

        def _classes(self, c: int, like: Tensor) -> Tensor:
            w = torch.ones(c, dtype=like.dtype, device=like.device)
            if self.weight is not None:
                w = self.weight.to(like)
            if not self.include_background:
                w = torch.cat([w.new_zeros(1), w[1:]])
            return w

    class DiceLoss(_DiceBase):
        """Soft Dice loss: 1 - weighted mean over classes of (2I + s) / (P + G + s).

        Args:
            ignore_index: target value whose pixels count nowhere (None: none).
            weight: one weight per class for the mean over classes.
            smooth: ``s`` above; 0 leaves classes absent from prediction and target out of the mean
                (as the scorer), a positive value makes them count as 1.
            include_background: count class 0 in the mean.
            softmax: apply softmax over the class axis (inputs are logits); False for probabilities.
            batch_dice: sums over the whole batch (scorer's ``global``); False: per-sample Dice
                averaged over the samples where defined (scorer's ``mean-per-image``).
        """

        def forward(self, input: Tensor, target: Tensor) -> Tensor:
            inter, pred, true = self._sums(input, target)
            den = pred + true + self.smooth
            defined = den > 0
            dice = (2 * inter + self.smooth) / den.clamp_min(torch.finfo(den.dtype).tiny)
            dice = torch.where(defined, dice, torch.zeros_like(dice))
            # per class: mean over the samples (or the one batch row) where the class is defined
            n = defined.sum(0)
            per_class = dice.sum(0) / n.clamp_min(1)
            w = self._classes(input.shape[1], dice) * (n > 0)
            if w.sum() == 0:  # nothing defined: no signal, but keep the graph
                return (dice * 0).sum()
            return 1 - (w * per_class).sum() / w.sum()

    class GeneralizedDiceLoss(_DiceBase):
        """Generalized Dice loss (Sudre et al. 2017): class weights 1 / G_c^2 from the target.

        ``1 - (2 sum_c w_c I_c + s) / (sum_c w_c (P_c + G_c) + s)``. A class absent from the target
        would get an infinite weight; as MONAI does, it gets the largest finite weight instead, so
        predicting it is still penalised. ``weight`` (if given) multiplies these weights.
        """

        def forward(self, input: Tensor, target: Tensor) -> Tensor:
            inter, pred, true = self._sums(input, target)
            w = 1.0 / true.pow(2)
            infinite = torch.isinf(w)
            w = w.masked_fill(infinite, 0.0)
            w = w + infinite * w.max(dim=1, keepdim=True).values
            w = w * self._classes(input.shape[1], w)
            num = 2 * (w * inter).sum(1) + self.smooth
            den = (w * (pred + true)).sum(1) + self.smooth
            defined = den > 0
            score = torch.where(
                defined, num / den.clamp_min(torch.finfo(den.dtype).tiny), torch.zeros_like(den)
            )
            if not defined.any():
                return (score * 0).sum()
            return 1 - score[defined].mean()

    class DiceCELoss(nn.Module):
        """``lambda_dice * DiceLoss + lambda_ce * cross-entropy`` on logits, same ignore index and
        class weights in both terms."""

        def __init__(
            self,
            ignore_index: int | None = 255,
            weight: Sequence[float] | Tensor | None = None,
            smooth: float = 0.0,
            include_background: bool = False,
            batch_dice: bool = True,
            lambda_dice: float = 1.0,
            lambda_ce: float = 1.0,
        ):
            super().__init__()
            for name, value in (("lambda_dice", lambda_dice), ("lambda_ce", lambda_ce)):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(
                        f"Expected argument `{name}` to be a non-negative number, but got {value}."
                    )
            self.dice = DiceLoss(
                ignore_index=ignore_index,
                weight=weight,
                smooth=smooth,
                include_background=include_background,
                softmax=True,
                batch_dice=batch_dice,
            )
            self.lambda_dice, self.lambda_ce = float(lambda_dice), float(lambda_ce)

        def forward(self, input: Tensor, target: Tensor) -> Tensor:
            dice = self.dice(input, target)
            ignore = self.dice.ignore_index if self.dice.ignore_index is not None else -100
            weight = self.dice.weight.to(input) if self.dice.weight is not None else None
            valid = target != ignore
            if valid.any():
                ce = F.cross_entropy(input, target.long(), weight=weight, ignore_index=ignore)
            else:  # every pixel ignored: cross-entropy would be 0/0
                ce = (input * 0).sum()
            return self.lambda_dice * dice + self.lambda_ce * ce

    defined = {
        "_DiceBase": _DiceBase,
        "DiceLoss": DiceLoss,
        "GeneralizedDiceLoss": GeneralizedDiceLoss,
        "DiceCELoss": DiceCELoss,
    }
    for name, cls in defined.items():
        cls.__qualname__ = name
    return defined
