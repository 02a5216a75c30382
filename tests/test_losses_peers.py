"""The losses against MONAI and segmentation_models_pytorch, on soft and hard inputs.

Where the definitions agree (every class in the target, unit class weights) the values agree to
1e-6; where they differ by design (classes absent from the target, how class weights normalise),
a test pins the exact relation and says why.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
monai_losses = pytest.importorskip("monai.losses")

import torch.nn.functional as F  # noqa: E402

from polymask.losses import DiceCELoss, DiceLoss, GeneralizedDiceLoss  # noqa: E402

IGNORE = 255
TOL = dict(rtol=0, atol=1e-6)


def _logits(seed, n=3, c=4, shape=(5, 6), scale=2.0):
    gen = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, c, *shape, dtype=torch.float64, generator=gen)


def _target(seed, n=3, c=4, shape=(5, 6), classes=None):
    """Random class indices; with ``classes`` None every class is in every sample."""
    gen = torch.Generator().manual_seed(seed + 1000)
    pool = torch.arange(c) if classes is None else torch.tensor(classes)
    target = pool[torch.randint(0, len(pool), (n, *shape), generator=gen)]
    if classes is None:
        target.view(n, -1)[:, :c] = torch.arange(c)
    return target


def _monai(name, include_background, batch, smooth, reduction="mean", **kw):
    cls = getattr(monai_losses, name)
    return cls(
        include_background=include_background,
        to_onehot_y=True,
        batch=batch,
        smooth_nr=smooth,
        smooth_dr=smooth,
        reduction=reduction,
        **kw,
    )


def _one_hot(target, c):
    return F.one_hot(target, c).movedim(-1, 1).to(torch.float64)


# MONAI: DiceLoss


@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("batch", [True, False])
@pytest.mark.parametrize("smooth", [0.0, 1e-5, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_dice_equals_monai_when_every_class_is_present(
    include_background, batch, smooth, reduction
):
    for seed in range(3):
        logits, target = _logits(seed), _target(seed)
        ours = DiceLoss(
            ignore_index=None,
            smooth=smooth,
            include_background=include_background,
            batch_dice=batch,
            reduction=reduction,
        )(logits, target)
        theirs = _monai("DiceLoss", include_background, batch, smooth, reduction, softmax=True)(
            logits, target[:, None]
        )
        if reduction == "none":  # ours keeps a column per class, 0 for a background left out
            ours = ours[..., 0 if include_background else 1 :]
            theirs = theirs.reshape(ours.shape)
        torch.testing.assert_close(ours, theirs.to(ours), **TOL)


@pytest.mark.parametrize("batch", [True, False])
def test_dice_equals_monai_on_hard_predictions(batch):
    c = 4
    for seed in range(3):
        target = _target(seed, c=c)
        pred = _target(seed + 7, c=c, classes=list(range(c)))
        pred.view(3, -1)[:, :c] = torch.arange(c)  # every class predicted somewhere too
        ours = DiceLoss(ignore_index=None, softmax=False, batch_dice=batch)(
            _one_hot(pred, c), target
        )
        theirs = _monai("DiceLoss", False, batch, 0.0)(_one_hot(pred, c), target[:, None])
        torch.testing.assert_close(ours, theirs.to(ours), **TOL)


@pytest.mark.parametrize("batch", [True, False])
def test_class_weights_differ_from_monai_in_the_normaliser_only(batch):
    """MONAI multiplies each class's loss by its weight and divides by the number of terms;
    polymask takes the weighted mean (divides by the summed weights), so the weights change the
    balance between classes, not the loss's scale. The sums are the same."""
    weight = torch.tensor([9.0, 2.0, 0.5, 1.5], dtype=torch.float64)  # background's is unused
    logits, target = _logits(4), _target(4)
    for reduction in ("sum", "mean"):
        ours = DiceLoss(ignore_index=None, weight=weight, batch_dice=batch, reduction=reduction)(
            logits, target
        )
        theirs = _monai("DiceLoss", False, batch, 0.0, reduction, softmax=True, weight=weight[1:])(
            logits, target[:, None]
        )
        scale = 1.0 if reduction == "sum" else 3 / weight[1:].sum().item()
        torch.testing.assert_close(ours, theirs.to(ours) * scale, **TOL)


@pytest.mark.parametrize("batch", [True, False])
def test_absent_classes_count_by_presence_where_monai_counts_them_fully(batch):
    """With MONAI's smoothing s, an absent class has loss P / (P + s), counted at full weight,
    which is near 1 until the whole row's predicted mass P is far below s. polymask multiplies
    that same term by the class's presence, the largest probability a pixel gives it; present
    classes agree term for term."""
    s, c = 1e-5, 5
    logits = _logits(5, c=c, scale=4.0)
    target = _target(5, c=c, classes=[0, 1, 3])  # classes 2 and 4 absent
    target[1] = 1  # and in sample 1, classes 0 and 3 too
    ours = DiceLoss(
        ignore_index=None, smooth=s, include_background=True, batch_dice=batch, reduction="none"
    )(logits, target)
    theirs = _monai("DiceLoss", True, batch, s, "none", softmax=True)(logits, target[:, None])
    theirs = theirs.reshape(ours.shape).to(ours)
    probs = logits.softmax(1)
    peak = probs.amax((2, 3))
    present = F.one_hot(target, c).sum((1, 2)) > 0
    if batch:
        peak, present = peak.amax(0), present.any(0)
    presence = torch.where(present, torch.ones_like(peak), peak)
    assert (~present).any() and (presence < 1).any()
    torch.testing.assert_close(ours, theirs * presence, **TOL)


def test_near_perfect_prediction_against_monai():
    """20 classes, 2 present: both go to 0 as the logits sharpen; MONAI's absent classes hold
    its loss near 17/19 until their whole mass falls far below its smoothing 1e-5."""
    c = 20
    target = torch.ones(2, 8, 8, dtype=torch.long)
    target[:, 4:] = 2
    monai_default = monai_losses.DiceLoss(
        include_background=False, to_onehot_y=True, softmax=True, batch=True
    )
    values = {}
    for k in (10.0, 20.0, 40.0):
        logits = k * _one_hot(target, c)
        values[k] = (DiceLoss()(logits, target).item(), monai_default(logits, target[:, None]))
    assert values[10.0][0] < 1e-3 and values[10.0][1] > 0.89
    assert values[40.0][0] < 1e-9 and values[40.0][1] < 1e-9
    assert all(ours <= theirs for ours, theirs in values.values())


# MONAI: GeneralizedDiceLoss


@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("batch", [True, False])
@pytest.mark.parametrize("smooth", [1e-5, 1.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_generalized_dice_equals_monai(include_background, batch, smooth, reduction):
    """Classes absent from the target included (they take the largest weight of the counted
    classes), and a sample whose target has no foreground at all."""
    for seed in range(3):
        logits = _logits(seed)
        target = _target(seed, classes=[0, 1, 3])
        target[0, :2] = 0  # little background: its 1/G^2 would be the largest
        target[2] = 0
        ours = GeneralizedDiceLoss(
            ignore_index=None,
            smooth=smooth,
            include_background=include_background,
            batch_dice=batch,
            reduction=reduction,
        )(logits, target)
        theirs = _monai(
            "GeneralizedDiceLoss", include_background, batch, smooth, reduction, softmax=True
        )(logits, target[:, None])
        torch.testing.assert_close(ours, theirs.reshape(ours.shape).to(ours), **TOL)


def test_generalized_dice_minimal_case_equals_monai():
    """Background of one pixel has weight 1, class 1 weight 1/9, class 2 is absent and takes the
    largest foreground weight, 1/9: 3/7 (11/15 when background's weight was taken)."""
    target = torch.tensor([[0, 1, 1, 1]])
    pred = _one_hot(torch.tensor([[1, 1, 1, 2]]), 3)
    ours = GeneralizedDiceLoss(ignore_index=None, softmax=False)(pred, target)
    theirs = _monai("GeneralizedDiceLoss", False, False, 0.0)(pred, target[:, None])
    assert ours.item() == pytest.approx(3 / 7, abs=1e-12)
    assert theirs.item() == pytest.approx(3 / 7, abs=1e-6)


def test_generalized_dice_without_smoothing_leaves_out_a_row_monai_makes_nan():
    """A sample whose target has no counted class has every weight 0: with s = 0 MONAI's value
    is 0/0, polymask leaves the row out of the mean (with s > 0 both count it as loss 0)."""
    logits, target = _logits(6), _target(6)
    target[1] = 0
    ours = GeneralizedDiceLoss(ignore_index=None, batch_dice=False, reduction="none")(
        logits, target
    )
    theirs = _monai("GeneralizedDiceLoss", False, False, 0.0, "none", softmax=True)(
        logits, target[:, None]
    ).reshape(-1)
    assert torch.isnan(theirs[1]) and ours[1] == 0
    torch.testing.assert_close(ours[[0, 2]], theirs[[0, 2]].to(ours), **TOL)
    mean = GeneralizedDiceLoss(ignore_index=None, batch_dice=False)(logits, target)
    assert mean.item() == pytest.approx(theirs[[0, 2]].mean().item(), abs=1e-6)


# MONAI: DiceCELoss


@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("batch", [True, False])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_dice_ce_equals_monai(include_background, batch, reduction):
    logits, target = _logits(8), _target(8)
    args = dict(smooth=1e-5, lambda_dice=0.4, lambda_ce=1.5)
    ours = DiceCELoss(
        ignore_index=None,
        include_background=include_background,
        batch_dice=batch,
        reduction=reduction,
        **args,
    )(logits, target)
    theirs = monai_losses.DiceCELoss(
        include_background=include_background,
        to_onehot_y=True,
        softmax=True,
        batch=batch,
        smooth_nr=1e-5,
        smooth_dr=1e-5,
        lambda_dice=0.4,
        lambda_ce=1.5,
        reduction=reduction,
    )(logits, target[:, None])
    torch.testing.assert_close(ours, theirs.to(ours), **TOL)


def test_weighted_dice_ce_sum_equals_monai():
    """With class weights the sums agree (the means differ as for DiceLoss, above)."""
    weight = torch.tensor([0.5, 2.0, 1.0, 3.0], dtype=torch.float64)
    logits, target = _logits(9), _target(9)
    ours = DiceCELoss(ignore_index=None, weight=weight, reduction="sum")(logits, target)
    theirs = monai_losses.DiceCELoss(
        include_background=False,
        to_onehot_y=True,
        softmax=True,
        batch=True,
        smooth_nr=0.0,
        smooth_dr=0.0,
        weight=weight,
        reduction="sum",
    )(logits, target[:, None])
    torch.testing.assert_close(ours, theirs.to(ours), **TOL)


@pytest.mark.parametrize("batch", [True, False])
def test_dice_ce_none_regroups_monai_sum(batch):
    """MONAI's DiceCELoss refuses "none": its Dice is per class, its cross-entropy per pixel.
    polymask sums each pixel's cross-entropy into its target class's entry. Where the
    definitions agree (every class present, background counted) each entry is MONAI's Dice
    term of that class plus that regrouped cross-entropy, and the entries add up to MONAI's
    "sum"."""
    logits, target = _logits(10), _target(10)
    ours = DiceCELoss(
        ignore_index=None,
        smooth=1e-5,
        include_background=True,
        batch_dice=batch,
        lambda_dice=0.4,
        lambda_ce=1.5,
        reduction="none",
    )(logits, target)
    with pytest.raises(ValueError, match="none"):
        monai_losses.DiceCELoss(reduction="none")
    dice = _monai("DiceLoss", True, batch, 1e-5, "none", softmax=True)(logits, target[:, None])
    per_pixel = F.cross_entropy(logits, target, reduction="none")
    by_class = (_one_hot(target, 4) * per_pixel[:, None]).sum((2, 3))
    expected = 0.4 * dice.reshape(ours.shape).to(ours) + 1.5 * (
        by_class.sum(0) if batch else by_class
    )
    torch.testing.assert_close(ours, expected, **TOL)
    total = monai_losses.DiceCELoss(
        include_background=True,
        to_onehot_y=True,
        softmax=True,
        batch=batch,
        smooth_nr=1e-5,
        smooth_dr=1e-5,
        lambda_dice=0.4,
        lambda_ce=1.5,
        reduction="sum",
    )(logits, target[:, None])
    torch.testing.assert_close(ours.sum(), total.to(ours), **TOL)


# segmentation_models_pytorch (it needs torchvision, which does not import beside this torch
# build, so its DiceLoss is reproduced here)


def smp_dice_loss(y_pred, y_true, smooth=0.0, eps=1e-7, ignore_index=None, classes=None,
                  from_logits=True):  # fmt: skip
    """segmentation_models_pytorch's ``DiceLoss(mode="multiclass")`` forward, transcribed from
    segmentation_models_pytorch/losses/dice.py (``DiceLoss.forward``, ``log_loss=False``) and
    segmentation_models_pytorch/losses/_functional.py (``soft_dice_score``)."""
    if from_logits:
        y_pred = y_pred.log_softmax(dim=1).exp()
    bs, num_classes = y_true.size(0), y_pred.size(1)
    dims = (0, 2)
    y_true = y_true.view(bs, -1)
    y_pred = y_pred.view(bs, num_classes, -1)
    if ignore_index is not None:
        mask = y_true != ignore_index
        y_pred = y_pred * mask.unsqueeze(1)
        y_true = F.one_hot((y_true * mask).to(torch.long), num_classes)
        y_true = y_true.permute(0, 2, 1) * mask.unsqueeze(1)
    else:
        y_true = F.one_hot(y_true, num_classes).permute(0, 2, 1)
    y_true = y_true.type_as(y_pred)
    intersection = torch.sum(y_pred * y_true, dim=dims)
    cardinality = torch.sum(y_pred + y_true, dim=dims)
    scores = (2.0 * intersection + smooth) / (cardinality + smooth).clamp_min(eps)
    loss = 1.0 - scores
    # "Dice loss is undefined for non-empty classes": absent classes' loss set to 0
    loss *= (y_true.sum(dims) > 0).to(loss.dtype)
    if classes is not None:
        loss = loss[classes]
    return loss.mean()


@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("smooth", [0.0, 1.0])
@pytest.mark.parametrize("ignore", [True, False])
def test_dice_equals_smp_when_every_class_is_present(include_background, smooth, ignore):
    c = 4
    for seed in range(3):
        logits, target = _logits(seed, c=c), _target(seed, c=c)
        if ignore:
            target[:, 3:] = IGNORE  # every class keeps pixels in the first rows
        ours = DiceLoss(
            ignore_index=IGNORE if ignore else None,
            smooth=smooth,
            include_background=include_background,
        )(logits, target)
        theirs = smp_dice_loss(
            logits,
            target,
            smooth=smooth,
            ignore_index=IGNORE if ignore else None,
            classes=None if include_background else list(range(1, c)),
        )
        torch.testing.assert_close(ours, theirs, **TOL)


def test_smp_divides_present_classes_by_all_classes():
    """smp zeroes an absent class's loss and still divides by every class, so its value is
    polymask's per-class terms of the present classes summed over C: an absent class's false
    positives never add to it directly, and more classes make the same errors cost less."""
    c = 6
    logits = _logits(10, c=c)
    target = _target(10, c=c, classes=[1, 2, 4])
    terms = DiceLoss(ignore_index=None, include_background=True, reduction="none")(logits, target)
    present = F.one_hot(target, c).sum((0, 1, 2)) > 0
    theirs = smp_dice_loss(logits, target)
    torch.testing.assert_close(terms[present].sum() / c, theirs, **TOL)


def test_smp_lets_an_absent_class_be_predicted_for_free():
    """Hard predictions, classes 1 and 2 present, 3 absent. One pixel of class 1 predicted as
    present class 2 or as absent class 3: smp charges the confusion with a present class more
    (class 3's Dice 0 is masked out), polymask charges class 3 as the scorer does (Dice 0)."""
    c = 4
    target = torch.ones(1, 4, 4, dtype=torch.long)
    target[:, 2:] = 2

    def both(wrong):
        pred = _one_hot(target, c)
        pred[0, :, 0, 0] = F.one_hot(torch.tensor(wrong), c).to(pred)
        return (
            DiceLoss(ignore_index=None, softmax=False)(pred, target).item(),
            smp_dice_loss(pred, target, from_logits=False, classes=[1, 2, 3]).item(),
        )

    ours_present, smp_present = both(2)
    ours_absent, smp_absent = both(3)
    # scorer's Dice: present case 1: 14/15, 2: 16/17; absent case 1: 14/15, 2: 1, 3: 0
    assert ours_present == pytest.approx(1 - (14 / 15 + 16 / 17) / 2, abs=1e-12)
    assert ours_absent == pytest.approx(1 - (14 / 15 + 1 + 0) / 3, abs=1e-12)
    assert smp_absent == pytest.approx((1 - 14 / 15) / 3, abs=1e-12)
    assert smp_present == pytest.approx((1 - 14 / 15 + 1 - 16 / 17) / 3, abs=1e-12)
    assert ours_absent > ours_present and smp_absent < smp_present


def test_near_perfect_prediction_against_smp():
    """Both go to 0 as the logits sharpen; smp's value is 2/19 of the present classes' mean
    loss (17 of its 19 terms are masked to 0)."""
    c = 20
    target = torch.ones(2, 8, 8, dtype=torch.long)
    target[:, 4:] = 2
    for k in (5.0, 10.0, 20.0):
        logits = k * _one_hot(target, c)
        terms = DiceLoss(reduction="none")(logits, target)
        theirs = smp_dice_loss(logits, target, classes=list(range(1, c)))
        torch.testing.assert_close(terms[1:3].sum() / 19, theirs, **TOL)
        assert DiceLoss()(logits, target).item() < 30 * np.exp(-k)
