"""Peak extraction: 3x3 max-pool non-maximum suppression and top-K over classes and cells.

All ops are batched tensor ops on the heatmap's device and trace cleanly for export.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class Peaks:
    """Top-K heatmap peaks of a batch.

    Attributes:
        scores: (B, K) sigmoid scores, descending.
        labels: (B, K) int64 class channel of the head.
        xs: (B, K) int64 column on the output grid.
        ys: (B, K) int64 row on the output grid.
        index: (B, K) int64 flat cell index ``ys * W + xs``.
    """

    scores: Tensor
    labels: Tensor
    xs: Tensor
    ys: Tensor
    index: Tensor


def extract_peaks(heat: Tensor, k: int = 100, pool_size: int = 3) -> Peaks:
    """Keep local maxima of a probability heatmap and take the K best over classes and cells.

    Args:
        heat: (B, C, H, W) probabilities (already passed through sigmoid).
        k: number of peaks per image (capped at C * H * W).
        pool_size: odd max-pool window for the local-maximum test.

    Returns:
        :class:`Peaks` with (B, K) tensors.
    """
    B, C, H, W = heat.shape
    hmax = F.max_pool2d(heat, pool_size, stride=1, padding=(pool_size - 1) // 2)
    heat = heat * (hmax == heat).to(heat.dtype)
    k = min(k, C * H * W)
    scores, flat = torch.topk(heat.reshape(B, -1), k)
    labels = torch.div(flat, H * W, rounding_mode='floor')
    index = flat - labels * (H * W)
    ys = torch.div(index, W, rounding_mode='floor')
    xs = index - ys * W
    return Peaks(scores=scores, labels=labels, xs=xs, ys=ys, index=index)


def gather_at_peaks(maps: Tensor, peaks: Peaks) -> Tensor:
    """Read a (B, C, H, W) attribute map at the peaks.

    Returns:
        (B, K, C) values.
    """
    B, C, H, W = maps.shape
    index = peaks.index.unsqueeze(1).expand(B, C, peaks.index.shape[1])
    return maps.reshape(B, C, H * W).gather(2, index).permute(0, 2, 1)
