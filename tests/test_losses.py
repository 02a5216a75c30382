"""Dice losses: equal to 1 - the scorer's Dice on hard predictions, near 0 on near-perfect soft
ones, reductions and class weights against hand-computed values; gradients checked. Peers (MONAI,
segmentation_models_pytorch) are in test_losses_peers.py."""

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


@pytest.mark.parametrize("include_background", [True, False])
@pytest.mark.parametrize("weight", [None, [0.5, 2.0, 1.0, 3.0]])
def test_generalized_dice_on_hard_predictions_matches_counts(include_background, weight):
    """1 - 2 sum w TP / sum w (2TP + FP + FN), w = 1/G^2 over the counted classes (the largest
    of them for a class absent from the target), times the class weights; from the scorer's
    counts."""
    c = 4
    target, pred = _batch(11, c=c, ignore=True)
    target[(target == 3) | (target == 0)] = 1  # class 3 absent: it takes the largest weight
    target[0, 0, 0] = 0  # background of one pixel: its 1/G^2 is the largest, never to be taken
    loss = GeneralizedDiceLoss(softmax=False, include_background=include_background, weight=weight)(
        _one_hot(pred, c), torch.from_numpy(target)
    )
    tp, fp, fn = _counts([(target, pred)], c)[0].astype(float)  # one flat "image"
    counted = np.arange(c) >= (0 if include_background else 1)
    g = tp + fn
    w = np.where(g > 0, 1 / np.maximum(g, 1) ** 2, 0) * counted
    w[(g == 0) & counted] = w.max()
    w = w * (1 if weight is None else np.array(weight))
    expected = 1 - 2 * (w * tp).sum() / (w * (2 * tp + fp + fn)).sum()
    assert loss.item() == pytest.approx(expected, abs=1e-12)


def test_generalized_dice_takes_the_largest_weight_after_dropping_background():
    """Four pixels, targets [0, 1, 1, 1], hard prediction [1, 1, 1, 2]; class 2 absent.

    Class 1: TP 2, P 3, G 3, weight 1/9; class 2: P 1, G 0. Its weight is the largest of the
    counted classes', 1/9, giving 1 - (4/9) / (6/9 + 1/9) = 3/7. Taking background's weight 1
    (G = 1) into that maximum before dropping it gave 1 - (4/9) / (6/9 + 1) = 11/15.
    """
    target = torch.tensor([[0, 1, 1, 1]])
    pred = _one_hot(np.array([[1, 1, 1, 2]]), 3)
    loss = GeneralizedDiceLoss(softmax=False, include_background=False)(pred, target)
    assert loss.item() == pytest.approx(3 / 7, abs=1e-12)


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
        DiceLoss(reduction="sum", weight=[1.0, 2.0, 1.0]),
        DiceCELoss(batch_dice=False, reduction="sum"),
    ],
    ids=["dice", "dice-per-image", "gdl", "gdl-per-image", "dice-ce", "dice-sum", "dice-ce-sum"],
)
def test_gradients(loss):
    gen = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 3, 3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    target = torch.randint(0, 3, (2, 3, 4), generator=gen)
    target[:, 0, :3] = torch.arange(3)  # every class in every sample: presence is 1, constant
    target[0, 1, 0] = IGNORE
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
        (lambda: GeneralizedDiceLoss(reduction="avg"), "Expected argument `reduction` to be one"),
        (lambda: DiceCELoss(reduction=None), "Expected argument `reduction` to be one"),
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
    with pytest.raises(ValueError, match="at least one sample, class and pixel"):
        DiceLoss()(torch.randn(2, 3, 0), torch.zeros(2, 0, dtype=torch.long))


def _sharp(target, c, k, dtype=torch.float64):
    """Logits k * one-hot(target): softmax gives a = 1 / (1 + (c-1) e^-k) to the target class
    and b = a e^-k to each other class."""
    return k * torch.nn.functional.one_hot(target, c).movedim(-1, 1).to(dtype)


@pytest.mark.parametrize("batch_dice", [True, False])
def test_near_perfect_soft_prediction_has_loss_near_zero(batch_dice):
    """20 classes, classes 1 and 2 present in equal halves, background excluded: 19 counted.

    Each present class has I = n a, P = n a + n b, G = n, so Dice = 2a / (1 + a + b); each of
    the 17 absent classes has presence b and loss 1, so the loss is
    (2 (1 - Dice) + 17 b) / (2 + 17 b). Counting absent classes at full weight held it at 17/19
    = 0.895 at any k.
    """
    c = 20
    target = torch.ones(2, 8, 8, dtype=torch.long)
    target[:, 4:] = 2
    previous = 1.0
    for k in (2.0, 5.0, 10.0, 20.0, 40.0):
        loss = DiceLoss(batch_dice=batch_dice)(_sharp(target, c, k), target).item()
        a = 1 / (1 + (c - 1) * np.exp(-k))
        b = a * np.exp(-k)
        dice = 2 * a / (1 + a + b)
        assert loss == pytest.approx((2 * (1 - dice) + 17 * b) / (2 + 17 * b), rel=1e-9, abs=1e-15)
        assert loss < previous
        previous = loss
    assert previous < 1e-15


def test_absent_classes_weigh_the_same_on_images_of_any_size():
    """Presence is the most confident pixel, not the summed mass, so a larger image of the same
    near-perfect prediction does not count its absent classes more."""
    c = 20
    small = torch.ones(1, 4, 4, dtype=torch.long)
    small[:, 2:] = 2
    large = small.repeat_interleave(32, dim=1).repeat_interleave(32, dim=2)
    for k in (3.0, 8.0):
        assert DiceLoss()(_sharp(large, c, k), large).item() == pytest.approx(
            DiceLoss()(_sharp(small, c, k), small).item(), rel=1e-9
        )


def test_predicting_an_absent_class_costs():
    """Soft: raising an absent class's logit on one pixel raises the loss, and the gradient
    says so; hard: one pixel of it counts the class with Dice 0, as the scorer does."""
    c = 4
    target = torch.ones(1, 4, 4, dtype=torch.long)
    target[:, 2:] = 2  # classes 3 (and background, excluded) absent
    logits = _sharp(target, c, 6.0).requires_grad_(True)
    loss = DiceLoss()(logits, target)
    (grad,) = torch.autograd.grad(loss, logits)
    assert grad[0, 3].max() > 0
    raised = logits.detach().clone()
    raised[0, 3, 0, 0] += 3.0
    assert DiceLoss()(raised, target).item() > loss.item()
    hard = _one_hot(target.numpy(), c)
    hard[0, :, 0, 0] = torch.tensor([0.0, 0.0, 0.0, 1.0])
    # classes 1 (Dice 2*7/(7+8)), 2 (Dice 1) and 3 (Dice 0)
    assert DiceLoss(softmax=False)(hard, target).item() == pytest.approx(
        1 - (14 / 15 + 1 + 0) / 3, abs=1e-12
    )


def test_presence_weighs_without_gradient():
    """Classes 1 and 2 present, 3 absent (background excluded): the loss and its gradient are
    those of (sum_c pi_c (1 - Dice_c)) / sum_c pi_c with pi = (1, 1, max_pixels p_3) held
    constant, so the gradient reaches the absent class only through the softmax."""
    gen = torch.Generator().manual_seed(9)
    logits = torch.randn(1, 4, 4, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    target = torch.ones(1, 4, 4, dtype=torch.long)
    target[:, 2:] = 2
    probs = logits.softmax(1)[0].reshape(4, -1)
    onehot = torch.nn.functional.one_hot(target[0].reshape(-1), 4).T.double()
    dice = 2 * (probs * onehot).sum(1) / (probs.sum(1) + onehot.sum(1))
    pi = torch.tensor([0.0, 1.0, 1.0, probs[3].max().item()], dtype=torch.float64)
    expected = (pi * (1 - dice)).sum() / pi.sum()
    loss = DiceLoss()(logits, target)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-12)
    (grad,) = torch.autograd.grad(loss, logits)
    (grad_expected,) = torch.autograd.grad(expected, logits)
    torch.testing.assert_close(grad, grad_expected, rtol=0, atol=1e-12)


def test_a_target_with_no_counted_class():
    """All background, background excluded: a perfect hard prediction leaves Dice undefined
    (loss 0), one false-positive pixel makes it 0 (loss 1), and a near-perfect soft prediction
    costs its most confident false positive, going to 0 as the logits sharpen."""
    c = 3
    target = torch.zeros(2, 4, 4, dtype=torch.long)
    for batch_dice in (True, False):
        hard = _one_hot(target.numpy(), c)
        assert DiceLoss(softmax=False, batch_dice=batch_dice)(hard, target).item() == 0
        hard[1, :, 2, 2] = torch.tensor([0.0, 1.0, 0.0])
        assert DiceLoss(softmax=False, batch_dice=batch_dice)(hard, target).item() == 1
        for k in (5.0, 20.0):
            b = np.exp(-k) / (1 + (c - 1) * np.exp(-k))
            loss = DiceLoss(batch_dice=batch_dice)(_sharp(target, c, k), target)
            assert loss.item() == pytest.approx(b, rel=1e-9)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), include_background=st.booleans(), batch_dice=st.booleans())
def test_reduction_none_gives_each_class_its_term(seed, include_background, batch_dice):
    """On hard predictions "none" is 1 - the scorer's Dice per class ((C,) over the batch, or
    (N, C) per image), 0 where the class is undefined or left out; "sum" adds those terms."""
    c = 4
    target, pred = _batch(seed, c=c)
    weight = [2.0, 0.5, 1.0, 3.0]
    args = dict(softmax=False, include_background=include_background, batch_dice=batch_dice)
    p, t = _one_hot(pred, c), torch.from_numpy(target)
    terms = DiceLoss(weight=weight, reduction="none", **args)(p, t).numpy()
    rows = _counts(zip(target.astype(np.uint16), pred.astype(np.uint16), strict=True), c)
    if batch_dice:
        rows = rows.sum(0, keepdims=True)
    dice = from_counts(rows[:, 0], rows[:, 1], rows[:, 2], "nan")["dice"]
    expected = np.where(np.isnan(dice), 0, 1 - dice) * weight * foreground(c, include_background)
    np.testing.assert_allclose(terms, expected[0] if batch_dice else expected, atol=1e-12)
    total = DiceLoss(weight=weight, reduction="sum", **args)(p, t)
    assert total.item() == pytest.approx(expected.sum(), abs=1e-12)


def test_mean_is_the_weighted_mean_of_the_terms_when_every_class_is_present():
    gen = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 3, 4, 4, dtype=torch.float64, generator=gen)
    target = torch.arange(16).reshape(1, 4, 4).repeat(2, 1, 1) % 3  # every class in every image
    weight = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    for batch_dice in (True, False):
        args = dict(weight=weight, include_background=True, batch_dice=batch_dice)
        terms = DiceLoss(reduction="none", **args)(logits, target)
        mean = DiceLoss(**args)(logits, target)
        rows = 1 if batch_dice else 2
        assert mean.item() == pytest.approx((terms.sum() / (rows * weight.sum())).item(), abs=1e-12)


def test_generalized_dice_reductions():
    """ "none" is the loss of each row; a row whose target has no counted class is left out of
    the mean with smooth=0."""
    gen = torch.Generator().manual_seed(8)
    logits = torch.randn(3, 3, 4, 4, dtype=torch.float64, generator=gen)
    target = torch.randint(0, 3, (3, 4, 4), generator=gen)
    target[1] = 0  # only background: no counted class
    rows = GeneralizedDiceLoss(batch_dice=False, reduction="none")(logits, target)
    assert rows.shape == (3,) and rows[1] == 0
    for n in (0, 2):
        alone = GeneralizedDiceLoss(reduction="none")(logits[n : n + 1], target[n : n + 1])
        assert alone.shape == (1,)
        assert rows[n].item() == pytest.approx(alone.item(), abs=1e-12)
    mean = GeneralizedDiceLoss(batch_dice=False)(logits, target)
    assert mean.item() == pytest.approx((rows[0] + rows[2]).item() / 2, abs=1e-12)
    total = GeneralizedDiceLoss(batch_dice=False, reduction="sum")(logits, target)
    assert total.item() == pytest.approx(rows.sum().item(), abs=1e-12)


@pytest.mark.parametrize("batch_dice", [True, False])
def test_dice_ce_reductions(batch_dice):
    """ "sum" follows torch's cross-entropy for the CE term; "none" puts each pixel's
    cross-entropy in the column of its target class, beside that class's Dice term, and the
    terms add up to "sum"."""
    target, _ = _batch(6)
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(3, 4, 6, 7, dtype=torch.float64, generator=gen)
    t = torch.from_numpy(target)
    w = [1.0, 2.0, 0.5, 1.0]
    args = dict(weight=w, batch_dice=batch_dice)

    def ce(reduction):
        weight = torch.tensor(w).double()
        return torch.nn.functional.cross_entropy(
            logits, t, weight=weight, ignore_index=IGNORE, reduction=reduction
        )

    terms = DiceCELoss(lambda_dice=0.3, lambda_ce=0.7, reduction="none", **args)(logits, t)
    per_pixel = ce("none")
    by_class = torch.stack(  # brute force: each class's pixels, row by row
        [torch.stack([per_pixel[n][t[n] == c].sum() for c in range(4)]) for n in range(3)]
    )
    expected_ce = by_class.sum(0) if batch_dice else by_class
    dice_terms = DiceLoss(reduction="none", **args)(logits, t)
    assert terms.shape == ((4,) if batch_dice else (3, 4))
    torch.testing.assert_close(terms, 0.3 * dice_terms + 0.7 * expected_ce)
    total = DiceCELoss(lambda_dice=0.3, lambda_ce=0.7, reduction="sum", **args)(logits, t)
    dice_sum = DiceLoss(reduction="sum", **args)(logits, t)
    assert total.item() == pytest.approx(0.3 * dice_sum.item() + 0.7 * ce("sum").item(), abs=1e-9)
    assert total.item() == pytest.approx(terms.sum().item(), abs=1e-9)


@pytest.mark.parametrize("include_background", [True, False])
def test_dice_ce_none_by_hand(include_background):
    """One row of three pixels: class 0 (p = 3/4), class 1 (p = 3/4), one ignored. Per class
    I = 3/4, P = 1, G = 1: Dice 3/4, loss 1/4; each counted pixel's cross-entropy ln(4/3),
    times its class weight (1, 3)."""
    ln3 = float(np.log(3.0))
    logits = torch.tensor([[[[ln3, 0.0, 5.0]], [[0.0, ln3, -2.0]]]], dtype=torch.float64)
    target = torch.tensor([[[0, 1, IGNORE]]])
    ln = np.log(4 / 3)
    dice_0 = 0.5 * 0.25 if include_background else 0.0  # background's Dice counts only if asked
    expected = np.array([[dice_0 + 2 * ln, 0.5 * 3 * 0.25 + 2 * 3 * ln]])
    for batch_dice, want in ((False, expected), (True, expected[0])):  # one row either way
        loss = DiceCELoss(
            weight=[1.0, 3.0],
            include_background=include_background,
            batch_dice=batch_dice,
            lambda_dice=0.5,
            lambda_ce=2.0,
            reduction="none",
        )
        np.testing.assert_allclose(loss(logits, target).numpy(), want, rtol=0, atol=1e-12)


def test_dice_ce_none_has_the_gradient_of_sum():
    """The per-class terms are a regrouping of "sum": their sum back-propagates the same."""
    target, _ = _batch(7)
    t = torch.from_numpy(target)
    grads = []
    for reduction in ("none", "sum"):
        logits = torch.randn(
            3, 4, 6, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(3)
        ).requires_grad_()
        DiceCELoss(batch_dice=False, reduction=reduction)(logits, t).sum().backward()
        grads.append(logits.grad)
    torch.testing.assert_close(grads[0], grads[1])
