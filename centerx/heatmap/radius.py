"""Gaussian radius rules for center heatmaps, vectorized over objects.

Three named rules (all take box sizes in output-grid cells):

- ``cornernet_radius``: the rule of the CornerNet code, used unchanged by CenterNet,
  CenterPoint and mmdet3d. It solves the three overlap quadratics as
  ``(b + sqrt(b^2 - 4ac)) / 2`` (no division by ``2a``, sign as written), which is
  not the algebraic root but is what those models were trained with. Paired with
  ``min_overlap = 0.7``.
- ``corrected_radius``: the algebraically correct roots (``(b - sqrt(.)) / 2a`` for the
  first two, ``(b + sqrt(.)) / 2a`` for the third), as in mmdet's CenterNet and SMOKE, paired with
  ``min_overlap = 0.3`` there.
- ``elliptical_radius``: TTFNet's per-axis rule, ``int(alpha * size / 2)`` per axis
  with ``alpha = 0.54``.

Each returns the real-valued radius; kernels floor it (``max(0, int(r))``) exactly
as the reference code does.
"""
from __future__ import annotations

import torch
from torch import Tensor


def cornernet_radius(heights: Tensor, widths: Tensor, min_overlap: float = 0.7) -> Tensor:
    """CornerNet-code radius (as CenterNet uses it).

    Args:
        heights: (M,) box heights in grid cells (CenterNet passes ``ceil(h)``).
        widths: (M,) box widths in grid cells (CenterNet passes ``ceil(w)``).
        min_overlap: IoU a box shifted by the radius keeps with the original.

    Returns:
        (M,) real-valued radius.
    """
    h, w, o = heights, widths, min_overlap
    b1 = h + w
    c1 = w * h * (1 - o) / (1 + o)
    r1 = (b1 + torch.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (h + w)
    c2 = (1 - o) * w * h
    r2 = (b2 + torch.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3 = 4 * o
    b3 = -2 * o * (h + w)
    c3 = (o - 1) * w * h
    r3 = (b3 + torch.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return torch.minimum(torch.minimum(r1, r2), r3)


def corrected_radius(heights: Tensor, widths: Tensor, min_overlap: float = 0.3) -> Tensor:
    """Algebraically correct radius (mmdet CenterNet, SMOKE).

    Args:
        heights: (M,) box heights in grid cells.
        widths: (M,) box widths in grid cells.
        min_overlap: IoU a box shifted by the radius keeps with the original.

    Returns:
        (M,) real-valued radius.
    """
    h, w, o = heights, widths, min_overlap
    b1 = h + w
    c1 = w * h * (1 - o) / (1 + o)
    r1 = (b1 - torch.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (h + w)
    c2 = (1 - o) * w * h
    r2 = (b2 - torch.sqrt(b2 ** 2 - 16 * c2)) / 8
    a3 = 4 * o
    b3 = -2 * o * (h + w)
    c3 = (o - 1) * w * h
    r3 = (b3 + torch.sqrt(b3 ** 2 - 4 * a3 * c3)) / (2 * a3)
    return torch.minimum(torch.minimum(r1, r2), r3)


def elliptical_radius(sizes: Tensor, alpha: float = 0.54) -> Tensor:
    """TTFNet per-axis radius.

    Args:
        sizes: (M, 2) box (width, height) in grid cells.
        alpha: fraction of the half-size the Gaussian covers.

    Returns:
        (M, 2) real-valued (rx, ry).
    """
    return sizes * (alpha / 2)
