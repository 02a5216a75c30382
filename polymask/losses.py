"""Dice losses for training that agree with ``polymask score``.

Targets are class indices (N, *spatial); inputs are logits (N, C, *spatial), or probabilities
with ``softmax=False``. Pixels whose target is ``ignore_index`` count nowhere. A *row* is one
sample with ``batch_dice=False`` and the whole batch with ``batch_dice=True`` (the default); per
row and class the losses sum the intersection ``I = sum p*g``, the predicted mass ``P = sum p`` and
the target mass ``G = sum g`` over the row's pixels.

**Which classes count.** Background (class 0) counts only with ``include_background``; a class
of weight 0 never counts. Every other class counts in a row by its *presence*: 1 when it is in
the row's target, otherwise the largest probability any pixel of the row gives it. On hard
one-hot predictions presence is exactly what the scorer sees: a class absent from the target
counts (with Dice 0) when some pixel predicts it and is left out when none does. On softmax
outputs no class is ever exactly absent, and counting every absent class at full weight would
hold a near-perfect prediction at loss 17/19 (20 classes, 2 present, background excluded) at any
sharpness; its presence instead falls with the most confident false positive, so the loss goes to
0 as the logits sharpen, on images of any size.

Predicting an absent class still costs. In the value: the class counts with Dice 0, by the
confidence of its worst pixel. In the gradient: presence is a counting weight, like the scorer's
decision to count a class, and carries no gradient; probability given to an absent class is taken
from the pixel's true class (softmax, or any probabilities that sum to 1 over classes), whose
Dice then pushes it back, at the same per-pixel scale as every other Dice gradient (and
DiceCELoss's cross-entropy penalises each such pixel directly). A gradient through presence would
fall on one pixel per absent class, some G times larger than a Dice gradient on a pixel of a
class of G pixels, and would steer training away from the segmentation itself: in a small
training run it cost held-out Dice. By contrast, segmentation_models_pytorch sets an absent
class's loss to 0 (the same gradient path as here) and still divides by all C classes, so its
value never shows an absent class's false positives and the same errors cost less as classes are
added; MONAI counts every class at full weight, an absent one with Dice ``1e-5 / (P + 1e-5)``,
near 0 until the row's whole mass P falls far below 1e-5.

**DiceLoss.** Per row and class, ``loss = 1 - (2I + s) / (P + G + s)`` (``s = smooth``; MONAI's
``smooth_nr = smooth_dr = s``). A class's loss is the presence-weighted mean over rows, its
presence the largest over rows, and the loss is the mean over classes weighted by ``weight`` x
presence. On hard one-hot predictions with ``s = 0`` this is 1 minus the scorer's mean Dice:
``batch_dice=True`` gives its ``global`` aggregate, ``batch_dice=False`` its ``mean-per-image``
(per-class means over the images where the class is defined, then the mean over classes). So that
a batch with no counted class in its target is not pinned at loss 1 by renormalising vanishing
presences, the mean is scaled by the largest presence of a counted class: 1 whenever some counted
class is in the target, and on hard predictions 1 when anything is predicted, 0 when nothing is
defined (as the scorer's undefined mean).

**GeneralizedDiceLoss** (Sudre et al. 2017), per row: ``1 - (2 sum_c w_c I_c + s) /
(sum_c w_c (P_c + G_c) + s)`` with ``w_c = 1 / G_c^2`` over the counted classes. A counted class
absent from the row's target takes the largest of the counted classes' weights, background
dropped first (as MONAI), so predicting it is penalised; ``weight`` then multiplies each class's
weight. A row with no counted class in its target has every weight 0: with ``s = 0`` it is left
out of the mean over rows, with ``s > 0`` it has loss 0 and is averaged in (as MONAI).

**DiceCELoss** is ``lambda_dice * DiceLoss + lambda_ce * cross-entropy`` on logits, with the same
ignore index and ``weight`` in both terms (a weighted mean over classes in the Dice term, torch's
per-pixel class weights in the cross-entropy).

**reduction.** ``"none"`` gives each term of the sum: for DiceLoss ``weight_c x presence x loss``
per class, shape (C,) with ``batch_dice=True`` and (N, C) per sample with ``batch_dice=False``
(0 for classes that do not count); for GeneralizedDiceLoss the loss per row, shape (1,) or (N,)
(0 for a row left out). ``"sum"`` adds those terms. ``"mean"`` is the mean defined above, which
for DiceLoss divides the sum by the summed ``weight x presence`` when every class is in every
row's target. DiceCELoss with ``"none"`` gives a tensor in DiceLoss's layout, (C,) or (N, C):
each entry is ``lambda_dice`` x the Dice term of that row and class plus ``lambda_ce`` x the
cross-entropy (torch's, class weights included) summed over that row's pixels whose target is
that class. So ``.sum(1)`` is each sample's loss (``batch_dice=False``), ``.sum(0)`` each
class's, and the whole sum is ``"sum"``, ``lambda_dice * dice_sum + lambda_ce * ce_sum``.
Background's entry holds its pixels' cross-entropy also where its Dice term does not count.
MONAI's DiceCELoss refuses ``"none"``: its cross-entropy is per pixel and its Dice per class,
and no element-wise sum of the two exists; grouping the pixels by their target class gives one.
``"mean"`` adds the two means.

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
REDUCTIONS = ("mean", "sum", "none")


def __getattr__(name: str):
    if name in _CLASSES or name == "_DiceBase":
        globals().update(_define())
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_CLASSES})


def _check_args(ignore_index, weight, smooth, reduction) -> None:
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
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Expected argument `reduction` to be one of {REDUCTIONS}, but got {reduction!r}."
        )


def _check_inputs(input: Tensor, target: Tensor, weight: Tensor | None) -> None:
    if input.ndim < 2:
        raise ValueError(f"Expected `input` of shape (N, C, ...), but got {tuple(input.shape)}.")
    if input.numel() == 0:
        raise ValueError(
            f"Expected `input` with at least one sample, class and pixel, but got shape "
            f"{tuple(input.shape)}."
        )
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
            reduction: str = "mean",
        ):
            super().__init__()
            _check_args(ignore_index, weight, smooth, reduction)
            self.ignore_index = ignore_index
            self.smooth = float(smooth)
            self.include_background = include_background
            self.softmax = softmax
            self.batch_dice = batch_dice
            self.reduction = reduction
            self.register_buffer(
                "weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32)
            )

        def _sums(self, input: Tensor, target: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
            """Intersection, predicted mass, target mass and largest probability per row and
            class, (N, C) or (1, C) over the batch; ignored pixels removed from all four."""
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
            # (N, C, pixels): one pixel axis also when the input has no spatial axes
            probs = (probs * keep).reshape(*probs.shape[:2], -1)
            onehot = (onehot * keep).reshape(probs.shape)
            inter, pred, true = (probs * onehot).sum(-1), probs.sum(-1), onehot.sum(-1)
            peak = probs.amax(-1)
            if self.batch_dice:
                inter, pred, true = (s.sum(0, keepdim=True) for s in (inter, pred, true))
                peak = peak.amax(0, keepdim=True)
            return inter, pred, true, peak

        def _classes(self, c: int, like: Tensor) -> Tensor:
            """Class weights with background's set to 0 unless it is included."""
            w = torch.ones(c, dtype=like.dtype, device=like.device)
            if self.weight is not None:
                w = self.weight.to(like)
            if not self.include_background:
                w = torch.cat([w.new_zeros(1), w[1:]])
            return w

    class DiceLoss(_DiceBase):
        """Soft Dice loss: 1 - the mean over classes of (2I + s) / (P + G + s), each class
        counted by its weight times its presence (module docstring).

        Args:
            ignore_index: target value whose pixels count nowhere (None: none).
            weight: one weight per class; the mean over classes is weighted by it.
            smooth: ``s`` above, in numerator and denominator (0: the scorer's Dice exactly).
            include_background: count class 0.
            softmax: apply softmax over the class axis (inputs are logits); False for probabilities.
            batch_dice: sums over the whole batch (scorer's ``global``); False: per-sample Dice
                averaged per class over the samples, then over classes (``mean-per-image``).
            reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-class terms, (C,) or (N, C)).
        """

        def forward(self, input: Tensor, target: Tensor) -> Tensor:
            inter, pred, true, peak = self._sums(input, target)
            den = pred + true + self.smooth
            # presence: 1 in the target, else the most confident pixel; 0 where P = G = s = 0. A
            # weight, not a term to descend (module docstring): detached from the graph.
            presence = torch.where(true > 0, torch.ones_like(peak), peak.detach()) * (den > 0)
            dice = (2 * inter + self.smooth) / den.clamp_min(torch.finfo(den.dtype).tiny)
            loss = torch.where(den > 0, 1 - dice, torch.zeros_like(dice))
            w = self._classes(input.shape[1], loss)
            if self.reduction == "none":
                terms = w * presence * loss
                return terms[0] if self.batch_dice else terms
            if self.reduction == "sum":
                return (w * presence * loss).sum()
            # per class: presence-weighted mean over rows; then over classes
            weight_rows = presence.sum(0)
            per_class = (presence * loss).sum(0) / weight_rows.clamp_min(
                torch.finfo(den.dtype).tiny
            )
            class_presence = presence.amax(0)
            counted = w * class_presence
            if counted.sum() == 0:  # nothing defined: no signal, but keep the graph
                return (loss * 0).sum()
            scale = (class_presence * (w > 0)).max()
            return scale * (counted * per_class).sum() / counted.sum()

    class GeneralizedDiceLoss(_DiceBase):
        """Generalized Dice loss (Sudre et al. 2017): class weights 1 / G_c^2 from the target.

        ``1 - (2 sum_c w_c I_c + s) / (sum_c w_c (P_c + G_c) + s)`` per row. A counted class absent
        from the target would get an infinite weight; as MONAI does, it gets the largest finite
        weight of the counted classes instead (background dropped first), so predicting it is
        still penalised. ``weight`` (if given) multiplies these weights. ``reduction="none"``
        gives the loss per row: (1,) with ``batch_dice=True``, (N,) with ``batch_dice=False``.
        """

        def forward(self, input: Tensor, target: Tensor) -> Tensor:
            inter, pred, true, _ = self._sums(input, target)
            classes = self._classes(input.shape[1], pred)
            counted = classes > 0
            w = torch.where(counted & (true > 0), 1.0 / true.pow(2), torch.zeros_like(true))
            largest = w.max(dim=1, keepdim=True).values
            w = torch.where(counted & (true == 0), largest, w) * classes
            num = 2 * (w * inter).sum(1) + self.smooth
            den = (w * (pred + true)).sum(1) + self.smooth
            defined = den > 0
            loss = torch.where(
                defined, 1 - num / den.clamp_min(torch.finfo(den.dtype).tiny), torch.zeros_like(den)
            )
            if self.reduction == "none":
                return loss
            if self.reduction == "sum":
                return loss.sum()
            if not defined.any():
                return (loss * 0).sum()
            return loss.sum() / defined.sum()

    class DiceCELoss(nn.Module):
        """``lambda_dice * DiceLoss + lambda_ce * cross-entropy`` on logits, same ignore index and
        class weights in both terms. ``reduction="none"`` gives one term per class ((C,) with
        ``batch_dice=True``, (N, C) without): the weighted Dice term plus the weighted
        cross-entropy of the row's pixels of that target class (module docstring); the terms
        add up to ``reduction="sum"``."""

        def __init__(
            self,
            ignore_index: int | None = 255,
            weight: Sequence[float] | Tensor | None = None,
            smooth: float = 0.0,
            include_background: bool = False,
            batch_dice: bool = True,
            lambda_dice: float = 1.0,
            lambda_ce: float = 1.0,
            reduction: str = "mean",
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
                reduction=reduction,
            )
            self.reduction = reduction
            self.lambda_dice, self.lambda_ce = float(lambda_dice), float(lambda_ce)

        def forward(self, input: Tensor, target: Tensor) -> Tensor:
            dice = self.dice(input, target)
            ignore = self.dice.ignore_index if self.dice.ignore_index is not None else -100
            weight = self.dice.weight.to(input) if self.dice.weight is not None else None
            if self.reduction == "mean" and not (target != ignore).any():
                ce = (input * 0).sum()  # every pixel ignored: the mean would be 0/0
            else:
                ce = F.cross_entropy(
                    input,
                    target.long(),
                    weight=weight,
                    ignore_index=ignore,
                    reduction=self.reduction,
                )
            if self.reduction == "none":
                ce = self._per_class(ce, target, input.shape[1])
            return self.lambda_dice * dice + self.lambda_ce * ce

        def _per_class(self, ce: Tensor, target: Tensor, c: int) -> Tensor:
            """Per-pixel cross-entropy (0 at ignored pixels) summed by the pixel's target class
            in each row: (N, C), or (C,) over the batch as the Dice terms with ``batch_dice``."""
            n = target.shape[0]
            classes = target.long().reshape(n, -1)
            if self.dice.ignore_index is not None:  # an ignored pixel adds its 0 to column 0
                classes = classes.masked_fill(classes == self.dice.ignore_index, 0)
            sums = ce.new_zeros(n, c).scatter_add(1, classes, ce.reshape(n, -1))
            return sums.sum(0) if self.dice.batch_dice else sums

    defined = {
        "_DiceBase": _DiceBase,
        "DiceLoss": DiceLoss,
        "GeneralizedDiceLoss": GeneralizedDiceLoss,
        "DiceCELoss": DiceCELoss,
    }
    for name, cls in defined.items():
        cls.__qualname__ = name
    return defined
