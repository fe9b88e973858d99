"""Masked L1 losses for attributes regressed at center cells."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def weighted_l1_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None) -> Tensor:
    """Mean absolute error over the weighted elements.

    Args:
        pred: (M, C) predictions gathered at the M object centers.
        target: (M, C) targets.
        weight: (M,) or (M, C) non-negative weights (0 masks an element out).

    Returns:
        scalar: ``sum(w |pred - target|) / max(sum(w), 1e-4)`` with ``w`` broadcast to (M, C);
        zero (still connected to ``pred``) when nothing is weighted.
    """
    if weight is None:
        weight = torch.ones_like(target)
    elif weight.dim() == 1:
        weight = weight.view(-1, *([1] * (target.dim() - 1))).expand_as(target)
    weight = weight.to(pred.dtype)
    diff = torch.where(weight > 0, (pred - target).abs(), torch.zeros_like(pred))
    return (diff * weight).sum() / weight.sum().clamp(min=1e-4)


def weighted_smooth_l1_loss(pred: Tensor, target: Tensor, weight: Optional[Tensor] = None,
                            beta: float = 1.0) -> Tensor:
    """Smooth-L1 (Huber) version of :func:`weighted_l1_loss`, same shapes and normalization."""
    if weight is None:
        weight = torch.ones_like(target)
    elif weight.dim() == 1:
        weight = weight.view(-1, *([1] * (target.dim() - 1))).expand_as(target)
    weight = weight.to(pred.dtype)
    safe_target = torch.where(weight > 0, target, pred.detach())
    loss = F.smooth_l1_loss(pred, safe_target, reduction='none', beta=beta)
    return (loss * weight).sum() / weight.sum().clamp(min=1e-4)
