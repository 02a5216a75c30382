"""Dice losses: equal to 1 - the scorer's Dice on hard predictions; gradients checked."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from polymask.losses import DiceCELoss, DiceLoss, GeneralizedDiceLoss  # noqa: E402
from polymask.score.confusion import NumpyConfusion  # noqa: E402
from polymask.score.metrics import class_mean, foreground, from_counts, mean_per_image  # noqa: E402
from tests.score_reference import score_reference  # noqa: E402

IGNORE = 255


def _batch(seed, n=3, c=4, shape=(6, 7), ignore=True):
    rng = np.random.default_rng(seed)
    present = rng.choice(c, size=rng.integers(1, c + 1), replace=False)
    target = rng.choice(present, size=(n, *shape)).astype(np.int64)
    if ignore:
        target[rng.random(target.shape) < 0.1] = IGNORE
    pred = np.where(
        rng.random(target.shape) < 0.6,
        np.where(target == IGNORE, 0, target),
        rng.integers(0, c, target.shape),
    )
    return target, pred


def _counts(pairs, c):
    """The scorer's engine on the pairs: (N, 3, C) TP, FP, FN."""
    engine = NumpyConfusion(c, IGNORE)
    for gt, pred in pairs:
        engine.update(gt, pred)
    return engine.compute()


def test_importing_the_losses_does_not_import_torch():
    """The classes are built on first use, so the scorer's package stays free of torch."""
    code = (
        "import sys, polymask.losses as L; assert 'torch' not in sys.modules; "
        "from polymask.losses import DiceLoss; assert 'torch' in sys.modules; "
        "assert DiceLoss is L.DiceLoss and DiceLoss.__module__ == 'polymask.losses'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _one_hot(pred, c):
    return torch.nn.functional.one_hot(torch.from_numpy(pred), c).movedim(-1, 1).double()


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    c=st.integers(2, 5),
    include_background=st.booleans(),
    batch_dice=st.booleans(),
)
def test_hard_predictions_give_one_minus_scorer_dice(seed, c, include_background, batch_dice):
    target, pred = _batch(seed, c=c)
    loss = DiceLoss(include_background=include_background, softmax=False, batch_dice=batch_dice)(
        _one_hot(pred, c), torch.from_numpy(target)
    )
    # the scorer's engine and metrics on the same masks
    pairs = list(zip(target.astype(np.uint16), pred.astype(np.uint16), strict=True))
    rows = _counts(pairs, c)  # (N, 3, C): TP, FP, FN per image
    fg = foreground(c, include_background)
    if batch_dice:
        dice = class_mean(from_counts(*rows.sum(0), "nan")["dice"], fg)
    else:
        per_image = from_counts(rows[:, 0], rows[:, 1], rows[:, 2], "nan")["dice"]
        dice = class_mean(mean_per_image(per_image), fg)
    # and the brute-force reference, for the default (background excluded)
    if not include_background:
        ref = score_reference(list(zip(target, pred, strict=True)), c, IGNORE)
        assert dice == ref["mean global" if batch_dice else "mean mean-per-image"]
    if dice is None:
        assert loss.item() == 0
    else:
        assert loss.item() == pytest.approx(1 - dice, abs=1e-12)


def test_generalized_dice_on_hard_predictions_matches_counts():
    """1 - 2 sum w TP / sum w (2TP + FP + FN), w = 1/G^2, from the scorer's counts."""
    c = 4
    target, pred = _batch(11, c=c, ignore=True)
    target[target == 3] = 1  # class 3 absent from the target: it takes the largest weight
    loss = GeneralizedDiceLoss(softmax=False, include_background=True)(
        _one_hot(pred, c), torch.from_numpy(target)
    )
    tp, fp, fn = _counts([(target, pred)], c)[0].astype(float)  # one flat "image"
    g = tp + fn
    w = np.where(g > 0, 1 / np.maximum(g, 1) ** 2, 0)
    w[g == 0] = w.max()
    expected = 1 - 2 * (w * tp).sum() / (w * (2 * tp + fp + fn)).sum()
    assert loss.item() == pytest.approx(expected, abs=1e-12)


def test_dice_ce_is_the_sum_of_its_terms():
    target, _ = _batch(5)
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 6, 7, dtype=torch.float64, generator=gen)
    t = torch.from_numpy(target)
    w = [1.0, 2.0, 0.5, 1.0]
    total = DiceCELoss(weight=w, lambda_dice=0.3, lambda_ce=0.7)(logits, t)
    ce = torch.nn.functional.cross_entropy(
        logits, t, weight=torch.tensor(w).double(), ignore_index=IGNORE
    )
    dice = DiceLoss(weight=w)(logits, t)
    assert total.item() == pytest.approx(0.3 * dice.item() + 0.7 * ce.item(), abs=1e-12)


def test_class_weights_weight_the_mean():
    c = 3
    target, pred = _batch(2, c=c, ignore=False)
    target[0, 0, :3], target[0, 1, :3] = 1, 2  # both foreground classes present
    t, p = torch.from_numpy(target), _one_hot(pred, c)
    per_class = [
        1 - DiceLoss(softmax=False, weight=[0, float(k == 1), float(k == 2)])(p, t) for k in (1, 2)
    ]
    weighted = DiceLoss(softmax=False, weight=[5.0, 1.0, 3.0])(p, t)
    expected = 1 - (1 * per_class[0] + 3 * per_class[1]) / 4
    assert weighted.item() == pytest.approx(expected.item(), abs=1e-12)


@pytest.mark.parametrize(
    "loss",
    [
        DiceLoss(),
        DiceLoss(batch_dice=False, smooth=1.0),
        GeneralizedDiceLoss(),
        GeneralizedDiceLoss(batch_dice=False),
        DiceCELoss(weight=[1.0, 2.0, 1.0]),
    ],
    ids=["dice", "dice-per-image", "gdl", "gdl-per-image", "dice-ce"],
)
def test_gradients(loss):
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    target = torch.randint(0, 3, (2, 3, 4), generator=gen)
    target[0, 0, 0] = IGNORE
    assert torch.autograd.gradcheck(lambda x: loss.double()(x, target), (logits,))
    # and the loss goes down along its gradient
    value = loss(logits, target)
    (grad,) = torch.autograd.grad(value, logits)
    assert loss(logits - 0.1 * grad, target).item() < value.item()


def test_ignored_pixels_do_not_matter():
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(1, 3, 4, 4, generator=gen)
    target = torch.randint(0, 3, (1, 4, 4), generator=gen)
    target[0, 0] = IGNORE
    other = logits.clone()
    other[0, :, 0] = 100 * torch.randn(3, 4, generator=gen)
    for loss in (DiceLoss(), GeneralizedDiceLoss(), DiceCELoss()):
        assert loss(logits, target).item() == pytest.approx(loss(other, target).item())


def test_everything_ignored_gives_zero_with_a_graph():
    logits = torch.randn(1, 3, 2, 2, requires_grad=True)
    target = torch.full((1, 2, 2), IGNORE)
    for loss in (DiceLoss(), GeneralizedDiceLoss(), DiceCELoss()):
        value = loss(logits, target)
        value.backward()
        assert value.item() == 0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: DiceLoss(smooth=-1), "Expected argument `smooth` to be a non-negative number"),
        (lambda: DiceLoss(ignore_index=1.5), "Expected argument `ignore_index` to be None or"),
        (lambda: DiceCELoss(lambda_ce=-1), "Expected argument `lambda_ce`"),
        (lambda: DiceLoss(weight=[1, -1]), "non-negative class weights"),
    ],
)
def test_argument_validation(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_input_validation():
    with pytest.raises(ValueError, match=r"Expected `target` of shape \(2, 4\)"):
        DiceLoss()(torch.randn(2, 3, 4), torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(ValueError, match="class indices"):
        DiceLoss()(torch.randn(2, 3, 4), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="`weight` to have 3 entries"):
        DiceLoss(weight=[1.0, 1.0])(torch.randn(2, 3, 4), torch.zeros(2, 4, dtype=torch.long))
