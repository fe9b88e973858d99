"""Structures shared by every task: the output grid, the object centers, the decode context."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from centerx.structures import ImageMeta


@dataclass
class Grid:
    """The output grid of a head.

    Attributes:
        batch_size: B.
        shape: (H, W) of the output maps.
        stride: input pixels per grid cell (4 in CenterNet).
        input_shape: (H, W) of the padded network input.
        metas: the batch's image metas (with the per-task metas some tasks read), in batch order.
    """

    batch_size: int
    shape: Tuple[int, int]
    stride: int
    input_shape: Tuple[int, int]
    metas: List[ImageMeta] = field(default_factory=list)


@dataclass
class Centers:
    """Where each ground-truth object of a head peaks, and how its peak spreads.

    All tensors have M rows, one per object of the whole batch (the rows of the
    concatenated ground truth handed to the tasks, in the same order).

    Attributes:
        batch_idx: (M,) int64 image index.
        labels: (M,) int64 class channel within the head.
        xy: (M, 2) float true center (x, y) in grid cells.
        sizes: (M, 2) float extent (w, h) in grid cells that the kernel spreads over.
        valid: (M,) bool, object has a peak and regression targets (visible, non-degenerate,
            not ignored).
        ignore: (M,) bool, object is ignored: no peak, no loss in its neighbourhood.
        angles: optional (M,) float orientation for rotated kernels (radians).
    """

    batch_idx: Tensor
    labels: Tensor
    xy: Tensor
    sizes: Tensor
    valid: Tensor
    ignore: Tensor
    angles: Optional[Tensor] = None

    @property
    def xy_int(self) -> Tensor:
        """(M, 2) int64 grid cell (x, y) holding the peak: ``floor(xy)``."""
        return torch.floor(self.xy).to(torch.int64)

    @property
    def offset(self) -> Tensor:
        """(M, 2) sub-cell offset ``xy - floor(xy)`` in [0, 1)."""
        return self.xy - torch.floor(self.xy)

    def peak_cells(self, grid: Grid) -> Tensor:
        """(M, 2) int64 grid cell (x, y) each object's regression targets are read at: ``xy_int``
        clamped inside the grid (the cell :meth:`gather` reads and the decoder's peak)."""
        xy = self.xy_int
        return torch.stack([xy[:, 0].clamp(0, grid.shape[1] - 1), xy[:, 1].clamp(0, grid.shape[0] - 1)], dim=1)

    def offsets_to(self, points: Tensor, grid: Grid) -> Tensor:
        """(M, 2) vector from each object's peak cell (its integer corner) to ``points``.

        Args:
            points: (M, 2) float positions in grid cells, one per object (a task's own center:
                the box center, the projected 3D center ...).

        Returns:
            ``points - peak_cells``: in ``[0, 1)`` when the point lies in the peak cell (the
            task that placed the peaks), any vector when a sibling task placed them.
        """
        return points - self.peak_cells(grid).to(points.dtype)

    def cell_index(self, grid: Grid) -> Tensor:
        """(M,) int64 flat index ``y * W + x`` of each peak cell (clamped inside the grid)."""
        cells = self.peak_cells(grid)
        return cells[:, 1] * grid.shape[1] + cells[:, 0]

    def gather(self, maps: Tensor, grid: Grid) -> Tensor:
        """Read a (B, C, H, W) map at every object's peak cell.

        Returns:
            (M, C) predictions.
        """
        B, C, H, W = maps.shape
        flat = maps.permute(0, 2, 3, 1).reshape(B * H * W, C)
        return flat[self.batch_idx * (H * W) + self.cell_index(grid)]

    def count_collisions(self, grid: Grid) -> int:
        """Number of valid objects whose peak cell (image, y, x) another valid object shares.

        Such objects share one regression cell, so at most one of them can be decoded
        from perfect maps when they also share a class.
        """
        key = (self.batch_idx * grid.shape[0] * grid.shape[1] + self.cell_index(grid))[self.valid]
        if key.numel() == 0:
            return 0
        _, counts = torch.unique(key, return_counts=True)
        return int(counts[counts > 1].sum())


@dataclass
class DecodeContext:
    """What a decoder needs besides the maps and the peaks.

    Attributes:
        grid: the head's output grid.
        inverse_affine: (B, 3, 3) float, network-input pixel -> original-image pixel.
        ori_shapes: (B, 2) int64 (height, width) of the original images, or None.
        metas: the batch's image metas (tasks read their per-task metas there).
        decoded: fields already decoded by the tasks before this one on the same head
            (``{'bboxes': (B, K, 4), ...}`` in original-image pixels), so a task may refine its
            output with a sibling's (keypoints snapping inside the person's box ...).
        flipped: (B,) bool, whether each input was mirrored by its test pipeline.
        task_inputs: (B, ...) tensors that stand in for what a task would otherwise compute
            from ``metas`` (an exported graph takes them as inputs, where there are no metas);
            each task documents its keys, and reads ``metas`` when its key is absent.
    """

    grid: Grid
    inverse_affine: Tensor
    ori_shapes: Optional[Tensor] = None
    metas: List[ImageMeta] = field(default_factory=list)
    decoded: Dict[str, Tensor] = field(default_factory=dict)
    flipped: Optional[Tensor] = None
    task_inputs: Dict[str, Tensor] = field(default_factory=dict)


def grid_to_image(points: Tensor, stride: float, inverse_affine: Tensor) -> Tensor:
    """Map points from grid cells to original-image pixels.

    Args:
        points: (B, K, 2) (x, y) in grid cells.
        stride: input pixels per cell.
        inverse_affine: (B, 3, 3) input pixel -> original pixel.

    Returns:
        (B, K, 2) points in original-image pixels.
    """
    pix = points * stride
    lin = inverse_affine[:, None, :2, :2].to(pix.dtype)
    trans = inverse_affine[:, None, :2, 2].to(pix.dtype)
    return (lin @ pix.unsqueeze(-1)).squeeze(-1) + trans
