"""A heatmap kernel for discs, registered in ``KERNELS`` from outside the core."""
from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor

from centerx.heatmap import Kernel, KernelShape
from centerx.registry import KERNELS


def equal_disc_iou(d_over_r: float) -> float:
    """IoU of two discs of equal radius ``r`` whose centers are ``d`` apart, as a function of ``d / r``."""
    u = min(max(d_over_r, 0.0), 2.0)
    lens = 2.0 * math.acos(u / 2.0) - (u / 2.0) * math.sqrt(4.0 - u * u)  # intersection / r^2
    return lens / (2.0 * math.pi - lens)


def max_shift_for_iou(min_iou: float) -> float:
    """Largest ``d / r`` at which two equal discs still have IoU >= ``min_iou`` (bisection)."""
    if not 0.0 < min_iou < 1.0:
        raise ValueError(f'min_iou must be in (0, 1), got {min_iou}')
    lo, hi = 0.0, 2.0
    for _ in range(60):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if equal_disc_iou(mid) >= min_iou else (lo, mid)
    return lo


@KERNELS.register_module()
class DiscIoUGaussian(Kernel):
    """CenterNet's Gaussian, with the radius rule of a disc instead of a box.

    The window half-size is the largest center shift at which a disc of the same radius
    still overlaps the true one with IoU >= ``min_iou``: ``floor(k * r)`` cells with
    ``k = max_shift_for_iou(min_iou)`` (0.53 for 0.5, 0.28 for 0.7) and
    ``r = (w + h) / 4`` from the center task's ``sizes`` (M, 2) = ``(2r, 2r)``. As in
    CenterNet, sigma = (2 * radius + 1) / 6 and the window is square.

    Args:
        min_iou: IoU a peak displaced to the window's edge must still reach (the metric's
            threshold, 0.5, by default).
    """

    def __init__(self, min_iou: float = 0.5) -> None:
        self.min_iou = float(min_iou)
        self.k = max_shift_for_iou(self.min_iou)

    def __call__(self, sizes: Tensor, angles: Optional[Tensor] = None) -> KernelShape:
        r = sizes.to(torch.float32).sum(dim=1) / 4
        radius = torch.floor(self.k * torch.nan_to_num(r).clamp(min=0)).to(torch.int64)  # (M,)
        inv = 1.0 / ((2 * radius.to(torch.float32) + 1) / 6) ** 2
        return KernelShape(radius=torch.stack([radius, radius], dim=1),
                           inv_cov=torch.stack([inv, torch.zeros_like(inv), inv], dim=1))
