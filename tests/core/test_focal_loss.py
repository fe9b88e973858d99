"""The penalty-reduced focal loss and the masked L1 loss against hand arithmetic."""
from __future__ import annotations

import math

import pytest
import torch

from centerx.losses import penalty_reduced_focal_loss, weighted_l1_loss, weighted_smooth_l1_loss


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def test_focal_loss_hand_computed_1x1x2x2() -> None:
    logits = torch.tensor([[[[0.0, 1.0], [-1.0, 2.0]]]])
    target = torch.tensor([[[[1.0, 0.5], [0.0, 0.25]]]])
    p00, p01, p10, p11 = sig(0.0), sig(1.0), sig(-1.0), sig(2.0)
    pos = math.log(p00) * (1 - p00) ** 2
    neg = (math.log(1 - p01) * p01 ** 2 * (1 - 0.5) ** 4
           + math.log(1 - p10) * p10 ** 2 * (1 - 0.0) ** 4
           + math.log(1 - p11) * p11 ** 2 * (1 - 0.25) ** 4)
    expected = -(pos + neg) / 1
    got = penalty_reduced_focal_loss(logits, target)
    assert got.item() == pytest.approx(expected, rel=1e-5)
    # alpha / beta are honoured
    pos3 = math.log(p00) * (1 - p00) ** 3
    neg3 = (math.log(1 - p01) * p01 ** 3 * 0.5 ** 2 + math.log(1 - p10) * p10 ** 3
            + math.log(1 - p11) * p11 ** 3 * 0.75 ** 2)
    got3 = penalty_reduced_focal_loss(logits, target, alpha=3.0, beta=2.0)
    assert got3.item() == pytest.approx(-(pos3 + neg3), rel=1e-5)


def test_focal_loss_normalized_by_number_of_positives() -> None:
    logits = torch.tensor([[[[0.5, -0.3], [1.5, -2.0]]]])
    target = torch.tensor([[[[1.0, 0.2], [1.0, 0.0]]]])
    p = [sig(v) for v in (0.5, -0.3, 1.5, -2.0)]
    pos = math.log(p[0]) * (1 - p[0]) ** 2 + math.log(p[2]) * (1 - p[2]) ** 2
    neg = math.log(1 - p[1]) * p[1] ** 2 * 0.8 ** 4 + math.log(1 - p[3]) * p[3] ** 2
    got = penalty_reduced_focal_loss(logits, target)
    assert got.item() == pytest.approx(-(pos + neg) / 2, rel=1e-5)


def test_focal_loss_zero_positives_normalized_by_one() -> None:
    logits = torch.tensor([[[[0.5, -0.3], [1.5, -2.0]]]], requires_grad=True)
    target = torch.tensor([[[[0.9, 0.2], [0.0, 0.0]]]])
    p = [sig(v) for v in (0.5, -0.3, 1.5, -2.0)]
    neg = (math.log(1 - p[0]) * p[0] ** 2 * 0.1 ** 4 + math.log(1 - p[1]) * p[1] ** 2 * 0.8 ** 4
           + math.log(1 - p[2]) * p[2] ** 2 + math.log(1 - p[3]) * p[3] ** 2)
    got = penalty_reduced_focal_loss(logits, target)
    assert math.isfinite(got.item())
    assert got.item() == pytest.approx(-neg, rel=1e-5)
    got.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_focal_loss_probability_clamp_keeps_it_finite() -> None:
    logits = torch.tensor([[[[100.0, -100.0], [-100.0, 100.0]]]])
    target = torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]])
    got = penalty_reduced_focal_loss(logits, target)
    assert math.isfinite(got.item())
    eps = 1e-4
    # (0,0) negative at p = 1-eps, (0,1) positive at p = eps, (1,0) negative at p = eps,
    # (1,1) positive at p = 1-eps
    expected = -(math.log(eps) * (1 - eps) ** 2 + math.log(eps) * (1 - eps) ** 2
                 + math.log(1 - eps) * eps ** 2 + math.log(1 - eps) * eps ** 2) / 2
    assert got.item() == pytest.approx(expected, rel=1e-3)


def test_ignore_mask_removes_exactly_the_ignored_negative_loss() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 6, 7, generator=g)
    target = torch.rand(2, 3, 6, 7, generator=g) * 0.9
    target[0, 1, 2, 3] = 1.0
    target[1, 2, 5, 0] = 1.0
    target[1, 0, 0, 6] = 1.0
    ignore = torch.zeros(2, 3, 6, 7, dtype=torch.bool)
    ignore[0, 0, 1:4, 2:5] = True
    ignore[1, 2, 4:, 1:3] = True
    full = penalty_reduced_focal_loss(logits, target)
    masked = penalty_reduced_focal_loss(logits, target, ignore=ignore)
    p = torch.sigmoid(logits.double()).clamp(1e-4, 1 - 1e-4)
    per_cell_neg = torch.log1p(-p) * p ** 2 * (1 - target.double()) ** 4
    removed = -per_cell_neg[ignore].sum() / 3
    assert (full - masked).item() == pytest.approx(removed.item(), rel=1e-4)
    assert masked.item() < full.item()
    # nothing else moved: ignoring everything but positives leaves only the positive term
    only_pos = penalty_reduced_focal_loss(logits, target, ignore=target < 1)
    pos = torch.log(p) * (1 - p) ** 2 * (target == 1)
    assert only_pos.item() == pytest.approx((-pos.sum() / 3).item(), rel=1e-5)


def test_weighted_l1_hand_value() -> None:
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    target = torch.tensor([[0.0, 0.0], [3.0, 3.0], [10.0, 10.0]])
    # (M,) weights: rows 0 and 1 -> (1 + 2 + 0 + 1) / 4 elements
    assert weighted_l1_loss(pred, target, torch.tensor([1.0, 1.0, 0.0])).item() == pytest.approx(1.0)
    # (M, C) weights: (1 * 1 + 0.5 * 0 + 1 * 1) / 2.5
    w = torch.tensor([[1.0, 0.0], [0.5, 1.0], [0.0, 0.0]])
    assert weighted_l1_loss(pred, target, w).item() == pytest.approx(2.0 / 2.5)
    # small weights are not rounded up: (0.25 * 1 + 0.25 * 2) / 0.5
    assert weighted_l1_loss(pred, target, torch.tensor([0.25, 0.0, 0.0])).item() == pytest.approx(1.5)
    # no weight: plain mean absolute error (1 + 2 + 0 + 1 + 5 + 4) / 6
    assert weighted_l1_loss(pred, target).item() == pytest.approx(13 / 6)


def test_weighted_l1_zero_weights_is_zero_with_gradient_path() -> None:
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0], [float('nan'), float('nan')]])
    loss = weighted_l1_loss(pred, target, torch.zeros(2))
    assert loss.item() == 0.0
    assert loss.requires_grad
    loss.backward()
    assert torch.equal(pred.grad, torch.zeros_like(pred))


def test_weighted_l1_masked_nan_targets_do_not_poison() -> None:
    pred = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0], [float('nan'), float('nan')]])
    loss = weighted_l1_loss(pred, target, torch.tensor([1.0, 0.0]))
    assert loss.item() == pytest.approx(1.5)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
    assert pred.grad.tolist() == [[0.5, 0.5], [0.0, 0.0]]


def test_weighted_l1_empty_is_zero_with_gradient_path() -> None:
    pred = torch.zeros(0, 2, requires_grad=True)
    loss = weighted_l1_loss(pred, torch.zeros(0, 2), torch.zeros(0))
    assert loss.item() == 0.0 and loss.requires_grad
    loss.backward()


def test_weighted_smooth_l1_hand_value() -> None:
    pred = torch.tensor([[0.5, 3.0], [0.0, 0.0]], requires_grad=True)
    target = torch.tensor([[0.0, 0.0], [float('nan'), 1.0]])
    loss = weighted_smooth_l1_loss(pred, target, torch.tensor([1.0, 0.0]))
    # 0.5 * 0.5^2 and 3 - 0.5 over 2 elements
    assert loss.item() == pytest.approx((0.125 + 2.5) / 2)
    loss.backward()
    assert torch.isfinite(pred.grad).all()
