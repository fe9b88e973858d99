"""Penalty-reduced pixel-wise focal loss of CenterNet (Law & Deng 2018; Zhou et al. 2019)."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def penalty_reduced_focal_loss(logits: Tensor, target: Tensor, alpha: float = 2.0, beta: float = 4.0,
                               ignore: Optional[Tensor] = None, eps: float = 1e-4) -> Tensor:
    """Focal loss on a center heatmap, normalized by the number of objects.

    ``L = -1/N * sum( (1-p)^alpha log p            where y == 1
                      (1-y)^beta p^alpha log(1-p)  otherwise )``
    with ``p = sigmoid(logits)`` clamped to ``[eps, 1 - eps]`` as CenterNet does, and
    ``N = max(1, number of cells with y == 1)``.

    Args:
        logits: (B, C, H, W) raw heatmap predictions (float64 is kept; other dtypes are
            computed in float32).
        target: (B, C, H, W) rendered Gaussian heatmap in [0, 1], 1 at centers.
        alpha: focusing exponent (2 in the paper).
        beta: penalty-reduction exponent around centers (4 in the paper).
        ignore: optional (B, C, H, W) bool, cells that add no loss (ignored objects'
            neighbourhoods that are not positives).
        eps: probability clamp.

    Returns:
        scalar loss.
    """
    if logits.dtype != torch.float64:  # float64 stays (equality checks); others in float32
        logits = logits.float()
    target = target.to(logits.dtype)
    prob = torch.sigmoid(logits).clamp(eps, 1 - eps)
    log_p = torch.log(prob)
    log_1mp = torch.log1p(-prob)
    pos = target.eq(1).float()
    neg = 1.0 - pos
    if ignore is not None:
        neg = neg * (~ignore).float()
    pos_loss = log_p * (1 - prob).pow(alpha) * pos
    neg_loss = log_1mp * prob.pow(alpha) * (1 - target).pow(beta) * neg
    num_pos = pos.sum().clamp(min=1.0)
    return -(pos_loss.sum() + neg_loss.sum()) / num_pos
