"""Two more spreading functions (issue 14): an FCOS-style centerness decay and a TTFNet-style
box-filling Gaussian. Both follow the box's angle when given one (rotated boxes) and reduce to
axis-aligned shapes without.

Offsets ``(dx, dy)`` from the integer center are turned into the box's own axes by
``u = dx cos t + dy sin t``, ``v = -dx sin t + dy cos t`` (the rotation of
``RotatedEllipticalGaussian``); the window is the axis-aligned bound of the rotated half-extents
``(hu, hv)``: ``rx = hu |cos t| + hv |sin t|``, ``ry = hu |sin t| + hv |cos t|``, floored, so every
cell where the profile is positive lies inside it.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from centerx.registry import KERNELS

from .kernels import Kernel, KernelShape

#: smallest half-extent (grid cells) of a box, so a sub-cell box still peaks (1 at its center)
MIN_HALF = 0.5


def _frame(sizes: Tensor, angles: Optional[Tensor], scale: float) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Half-extents (M, 2) ``scale * size / 2`` (at least ``MIN_HALF``), cos (M,), sin (M,), and the
    (M, 2) int64 window that bounds the rotated half-extents."""
    sizes = sizes.to(torch.float32)
    half = (sizes * (scale / 2)).clamp(min=MIN_HALF)
    angles = torch.zeros_like(sizes[:, 0]) if angles is None else angles.to(torch.float32)
    cos, sin = torch.cos(angles), torch.sin(angles)
    rx = half[:, 0] * cos.abs() + half[:, 1] * sin.abs()
    ry = half[:, 0] * sin.abs() + half[:, 1] * cos.abs()
    # the small epsilon keeps a window of exactly k cells from flooring to k - 1 by rounding error
    radius = torch.floor(torch.stack([rx, ry], dim=1) + 1e-4).to(torch.int64)
    return half, cos, sin, radius


def centerness_profile(params: Tensor, dx: Tensor, dy: Tensor) -> Tensor:
    """FCOS centerness of each cell: ``sqrt(max(0, (hu - |u|) / (hu + |u|)) * max(0, (hv - |v|) / (hv + |v|)))``.

    With the distances to the four box sides ``l, r = hu +- u`` and ``t, b = hv +- v`` this is FCOS's
    ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))``: 1 at the center, falling to 0 at the
    box's edges (linearly in each ratio).

    Args:
        params: (n, 4) ``(hu, hv, cos t, sin t)``: half-extents along the box axes and its angle.
        dx: (1, 1, S) float column offsets; dy: (1, S, 1) float row offsets.

    Returns:
        (n, S, S) values in [0, 1].
    """
    hu, hv, cos, sin = (params[:, i].view(-1, 1, 1) for i in range(4))
    u = (dx * cos + dy * sin).abs()
    v = (-dx * sin + dy * cos).abs()
    ratio_u = ((hu - u) / (hu + u)).clamp(min=0)
    ratio_v = ((hv - v) / (hv + v)).clamp(min=0)
    return torch.sqrt(ratio_u * ratio_v)


@KERNELS.register_module()
class CenternessKernel(Kernel):
    """FCOS-style linear decay: each cell of the (scaled) box gets its centerness.

    ``value(u, v) = sqrt(max(0, (hu - |u|) / (hu + |u|)) * max(0, (hv - |v|) / (hv + |v|)))`` with
    half-extents ``(hu, hv) = scale * (w, h) / 2`` (at least half a cell) along the box's axes; the
    window covers every cell of the scaled box. Unlike a Gaussian it has no tail: it is exactly 0 on
    and beyond the box's edges, and falls linearly in each side ratio (FCOS, Tian et al. 2019).

    Args:
        scale: fraction of the box the decay spans (1: the whole box).
    """

    def __init__(self, scale: float = 1.0) -> None:
        if not scale > 0:
            raise ValueError(f'CenternessKernel: scale must be > 0, got {scale}')
        self.scale = scale

    def __call__(self, sizes: Tensor, angles: Optional[Tensor] = None) -> KernelShape:
        half, cos, sin, radius = _frame(sizes, angles, self.scale)
        params = torch.stack([half[:, 0], half[:, 1], cos, sin], dim=1)
        nan = torch.full((len(radius), 3), float('nan'), device=params.device)
        return KernelShape(radius=radius, inv_cov=nan, profile=centerness_profile, params=params)


@KERNELS.register_module()
class BoxFillingGaussian(Kernel):
    """TTFNet's Gaussian, truncated at the box instead of at ``alpha`` of it.

    TTFNet (Liu et al. 2020) draws ``exp(-u^2 / (2 sx^2) - v^2 / (2 sy^2))`` with
    ``sx = alpha w / 6``, ``sy = alpha h / 6`` (alpha 0.54 for its heatmap), and takes the regression
    samples of an object from the area its Gaussian of parameter ``beta`` covers. Here the window is
    the whole box (half-extents ``(w, h) / 2`` along its axes) and ``beta`` sets the spread:
    ``sx = beta w / 6``, ``sy = beta h / 6``, rotated by the box angle when given. At the box's edge
    the value is ``exp(-4.5 / beta^2)``: 0.011 at ``beta = 1`` (a Gaussian that fills the box),
    2e-7 at TTFNet's ``beta = 0.54`` (where it is the ``EllipticalGaussian`` with a wider window
    of near-zero values), 0.32 at ``beta = 2``.

    Args:
        beta: spread of the Gaussian relative to the box (TTFNet: 0.54).
    """

    def __init__(self, beta: float = 0.54) -> None:
        if not beta > 0:
            raise ValueError(f'BoxFillingGaussian: beta must be > 0, got {beta}')
        self.beta = beta

    def __call__(self, sizes: Tensor, angles: Optional[Tensor] = None) -> KernelShape:
        half, cos, sin, radius = _frame(sizes, angles, 1.0)
        # sigma = beta * size / 6 = beta * half / 3, kept away from 0 so the center stays exp(0) = 1
        sigma = (half * (self.beta / 3)).clamp(min=1e-2)
        iu, iv = 1.0 / sigma[:, 0] ** 2, 1.0 / sigma[:, 1] ** 2
        # R diag(iu, iv) R^T with R = [[cos, -sin], [sin, cos]], as RotatedEllipticalGaussian
        a = iu * cos ** 2 + iv * sin ** 2
        b = (iu - iv) * cos * sin
        c = iu * sin ** 2 + iv * cos ** 2
        return KernelShape(radius=radius, inv_cov=torch.stack([a, b, c], dim=1))
