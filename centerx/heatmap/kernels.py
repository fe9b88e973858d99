"""Heatmap kernels: how an object's center spreads over the heatmap.

A kernel turns object sizes (and optionally angles) into a truncated 2D profile: an integer
half-window ``(rx, ry)`` and, for the Gaussians, the inverse covariance ``(a, b, c)``, so the
value at offset ``(dx, dy)`` from the integer center is
``exp(-(a dx^2 + 2 b dx dy + c dy^2) / 2)`` for ``|dx| <= rx, |dy| <= ry``. A kernel whose
profile is not a Gaussian (``CenternessKernel``, in ``spread_kernels``) gives its
``KernelShape`` a ``profile`` and per-object ``params`` instead.
Kernels are registered in ``KERNELS`` and chosen per head in config.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from centerx.registry import KERNELS

from .radius import cornernet_radius, corrected_radius, elliptical_radius


#: ``profile(params (n, P), dx (1, 1, S), dy (1, S, 1)) -> (n, S, S)`` values in [0, 1], 1 at
#: ``dx = dy = 0``; ``dx``, ``dy`` are float offsets (grid cells) from the integer center
Profile = Callable[[Tensor, Tensor, Tensor], Tensor]


def gaussian_profile(inv_cov: Tensor, dx: Tensor, dy: Tensor) -> Tensor:
    """``exp(-(a dx^2 + 2 b dx dy + c dy^2) / 2)`` for ``inv_cov`` (n, 3) = (a, b, c); (n, S, S)."""
    a, b, c = (inv_cov[:, i].view(-1, 1, 1) for i in range(3))
    return torch.exp(-0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy))


@dataclass
class KernelShape:
    """Per-object truncated kernel: a Gaussian, or another ``profile``.

    Attributes:
        radius: (M, 2) int64 half-window (rx, ry) in grid cells.
        inv_cov: (M, 3) float, inverse covariance entries (a, b, c) of a Gaussian; NaN for a
            shape with a ``profile`` (so that code which rebuilds a shape from ``radius`` and
            ``inv_cov`` alone, dropping the profile, fails in :func:`render_gaussians` instead of
            drawing a wrong heatmap).
        profile: None for a Gaussian, else the :data:`Profile` that evaluates ``params``.
        params: (M, P) float per-object parameters of ``profile`` (None for a Gaussian).
    """

    radius: Tensor
    inv_cov: Tensor
    profile: Optional[Profile] = None
    params: Optional[Tensor] = None

    def select(self, index: Tensor) -> 'KernelShape':
        """The shapes of the objects ``index`` (a (M,) bool mask or (n,) int64 indices)."""
        return KernelShape(self.radius[index], self.inv_cov[index], self.profile,
                           None if self.params is None else self.params[index])

    def values(self, index: Tensor, dx: Tensor, dy: Tensor) -> Tensor:
        """Values of the objects ``index`` (n,) at float offsets ``dx`` (1, 1, S), ``dy`` (1, S, 1):
        (n, S, S), before truncation to the window.

        Raises:
            ValueError: a Gaussian shape with non-finite ``inv_cov`` (a profile was dropped).
        """
        if self.profile is None:
            cov = self.inv_cov[index].to(torch.float32)
            if not bool(torch.isfinite(cov).all()):
                raise ValueError('KernelShape: non-finite inv_cov without a profile; a non-Gaussian kernel '
                                 "(e.g. CenternessKernel) was rebuilt from radius and inv_cov only: use "
                                 'KernelShape.select to keep its profile')
            return gaussian_profile(cov, dx, dy)
        return self.profile(self.params[index].to(torch.float32), dx, dy)


class Kernel:
    """Base class: ``__call__(sizes (M, 2) [w, h] in grid cells, angles (M,) or None)``."""

    def __call__(self, sizes: Tensor, angles: Optional[Tensor] = None) -> KernelShape:
        raise NotImplementedError


def _circular(radius: Tensor) -> KernelShape:
    """CenterNet's disc: sigma = (2r + 1) / 6, square window of half-size r."""
    sigma = (2 * radius.to(torch.float32) + 1) / 6
    inv = 1.0 / sigma ** 2
    zeros = torch.zeros_like(inv)
    return KernelShape(radius=torch.stack([radius, radius], dim=1),
                       inv_cov=torch.stack([inv, zeros, inv], dim=1))


@KERNELS.register_module()
class CornerNetGaussian(Kernel):
    """CenterNet's kernel: CornerNet-code radius of ``(ceil(h), ceil(w))``, min_overlap 0.7."""

    def __init__(self, min_overlap: float = 0.7) -> None:
        self.min_overlap = min_overlap

    def __call__(self, sizes: Tensor, angles: Optional[Tensor] = None) -> KernelShape:
        sizes = sizes.to(torch.float32)
        r = cornernet_radius(torch.ceil(sizes[:, 1]), torch.ceil(sizes[:, 0]), self.min_overlap)
        return _circular(r.clamp(min=0).floor().to(torch.int64))


@KERNELS.register_module()
class CorrectedGaussian(Kernel):
    """mmdet / SMOKE kernel: algebraically correct radius of ``(h, w)``, min_overlap 0.3."""

    def __init__(self, min_overlap: float = 0.3) -> None:
        self.min_overlap = min_overlap

    def __call__(self, sizes: Tensor, angles: Optional[Tensor] = None) -> KernelShape:
        sizes = sizes.to(torch.float32)
        r = corrected_radius(sizes[:, 1], sizes[:, 0], self.min_overlap)
        return _circular(r.clamp(min=0).floor().to(torch.int64))


@KERNELS.register_module()
class EllipticalGaussian(Kernel):
    """TTFNet kernel: per-axis radius ``int(alpha * size / 2)``, sigma = (2r + 1) / 6 per axis."""

    def __init__(self, alpha: float = 0.54) -> None:
        self.alpha = alpha

    def __call__(self, sizes: Tensor, angles: Optional[Tensor] = None) -> KernelShape:
        radius = elliptical_radius(sizes.to(torch.float32), self.alpha).clamp(min=0).floor().to(torch.int64)
        sigma = (2 * radius.to(torch.float32) + 1) / 6
        inv = 1.0 / sigma ** 2
        zeros = torch.zeros_like(inv[:, 0])
        return KernelShape(radius=radius, inv_cov=torch.stack([inv[:, 0], zeros, inv[:, 1]], dim=1))


@KERNELS.register_module()
class RotatedEllipticalGaussian(Kernel):
    """Elliptical Gaussian aligned with a rotated box.

    Along the box's own axes the sigmas are TTFNet's (``(2 int(alpha * size / 2) + 1) / 6``);
    the covariance is rotated by the box angle, and the window is the axis-aligned
    bound of the rotated half-extents. Without angles it equals ``EllipticalGaussian``.
    """

    def __init__(self, alpha: float = 0.54) -> None:
        self.alpha = alpha

    def __call__(self, sizes: Tensor, angles: Optional[Tensor] = None) -> KernelShape:
        sizes = sizes.to(torch.float32)
        half = elliptical_radius(sizes, self.alpha).clamp(min=0).floor()
        sigma = (2 * half + 1) / 6
        if angles is None:
            angles = torch.zeros_like(sizes[:, 0])
        cos, sin = torch.cos(angles.to(torch.float32)), torch.sin(angles.to(torch.float32))
        iu, iv = 1.0 / sigma[:, 0] ** 2, 1.0 / sigma[:, 1] ** 2
        # R diag(iu, iv) R^T with R = [[cos, -sin], [sin, cos]]
        a = iu * cos ** 2 + iv * sin ** 2
        b = (iu - iv) * cos * sin
        c = iu * sin ** 2 + iv * cos ** 2
        rx = half[:, 0] * cos.abs() + half[:, 1] * sin.abs()
        ry = half[:, 0] * sin.abs() + half[:, 1] * cos.abs()
        radius = torch.stack([rx, ry], dim=1).round().to(torch.int64)
        return KernelShape(radius=radius, inv_cov=torch.stack([a, b, c], dim=1))


def build_kernel(cfg: dict | Kernel | None) -> Kernel:
    """Build a kernel from a config dict (``None`` -> CenterNet's ``CornerNetGaussian``)."""
    if cfg is None:
        return CornerNetGaussian()
    if isinstance(cfg, Kernel) or callable(cfg) and not isinstance(cfg, dict):
        return cfg
    return KERNELS.build(cfg)
