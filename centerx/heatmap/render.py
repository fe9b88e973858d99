"""Vectorized heatmap rendering: every object of a batch in a few tensor ops.

Objects are bucketed by window size (powers of two), so each bucket is one dense
(M_b, 2R+1, 2R+1) evaluation followed by one ``scatter_reduce(amax)`` into the flat
heatmap. Overlapping objects of one class keep the element-wise maximum, as in
CenterNet. No per-object Python loop, no cap on the number of objects.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .kernels import KernelShape


def render_gaussians(shape: tuple[int, int, int, int], batch_idx: Tensor, labels: Tensor,
                     centers: Tensor, kernel: KernelShape, out: Tensor | None = None) -> Tensor:
    """Draw truncated kernels (Gaussians, or a shape's profile) into a (B, C, H, W) heatmap by
    element-wise max.

    Args:
        shape: (B, C, H, W) of the heatmap.
        batch_idx: (M,) int64 image index of each object.
        labels: (M,) int64 channel (class) of each object.
        centers: (M, 2) int64 integer center (x, y) on the grid; must lie inside it.
        kernel: per-object radius (M, 2) and values (a Gaussian's inverse covariance (M, 3), or
            another profile: :class:`~centerx.heatmap.KernelShape`).
        out: optional existing (B, C, H, W) float heatmap to draw into (in place); its values
            must be non-negative.

    Returns:
        (B, C, H, W) float32 heatmap (``out`` if given), peak value 1 at each center.
    """
    B, C, H, W = shape
    device = centers.device
    heat = out if out is not None else torch.zeros(shape, dtype=torch.float32, device=device)
    if centers.numel() == 0:
        return heat
    flat = heat.view(-1)
    radius = kernel.radius.to(device)
    r_max = radius.max(dim=1).values
    # bucket windows: R in {0, 1, 2, 4, 8, ...}; each object goes to the smallest R >= its radius
    bucket = torch.where(r_max <= 0, torch.zeros_like(r_max),
                         torch.ceil(torch.log2(r_max.clamp(min=1).to(torch.float32))).to(torch.int64) + 1)
    base = (batch_idx.to(device) * C + labels.to(device)) * H
    order = torch.argsort(bucket)
    counts = torch.bincount(bucket).tolist()
    start = 0
    for b, n in enumerate(counts):
        if n == 0:
            continue
        sel = order[start:start + n]
        start += n
        R = 0 if b == 0 else 2 ** (b - 1)
        offs = torch.arange(-R, R + 1, device=device)
        dy = offs.view(1, -1, 1)
        dx = offs.view(1, 1, -1)
        rad = radius[sel]
        ctr = centers[sel].to(device)
        values = kernel.values(sel.to(kernel.radius.device), dx.to(torch.float32), dy.to(torch.float32)).to(device)
        xs = ctr[:, 0].view(-1, 1, 1) + dx
        ys = ctr[:, 1].view(-1, 1, 1) + dy
        keep = ((dx.abs() <= rad[:, 0].view(-1, 1, 1)) & (dy.abs() <= rad[:, 1].view(-1, 1, 1))
                & (xs >= 0) & (xs < W) & (ys >= 0) & (ys < H))
        # cells outside the window or the grid write 0 into a clamped in-grid cell: a no-op
        # for amax on a non-negative heatmap, and cheaper than boolean indexing
        values = values * keep
        index = (base[sel].view(-1, 1, 1) + ys.clamp(0, H - 1)) * W + xs.clamp(0, W - 1)
        flat.scatter_reduce_(0, index.reshape(-1), values.reshape(-1), reduce='amax')
    return heat
