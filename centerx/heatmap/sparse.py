"""Sparse heatmap targets: the rendered kernel windows as a list of cells, no dense tensor.

Only the cells inside some object's kernel window carry a nonzero target (or an ignore flag),
so a batch's target is held as the sorted unique flat indices of those cells into B*C*H*W,
their target value (the maximum over the windows that cover the cell, as
:func:`~centerx.heatmap.render_gaussians` draws it) and their ignore flag. Memory is
O(objects x window area), independent of the number of classes and of the grid size.
``SparseHeatmap.to_dense`` gives back exactly the dense heatmap and ignore mask that
``CenterHead.render`` draws.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
from torch import Tensor

from .kernels import KernelShape
from .render import kernel_windows


@dataclass
class SparseHeatmap:
    """A (B, C, H, W) heatmap target held as its K nonzero or ignored cells.

    Attributes:
        shape: (B, C, H, W) of the dense heatmap it stands for.
        index: (K,) int64 flat indices into B*C*H*W, sorted ascending, unique.
        value: (K,) float32 target in [0, 1] (1 at object centers; 0 at cells that are only
            ignored).
        ignore: (K,) bool cells near an ignored object that are not positives
            (``value < 1``): they add no loss.
    """

    shape: Tuple[int, int, int, int]
    index: Tensor
    value: Tensor
    ignore: Tensor

    def to_dense(self) -> Tuple[Tensor, Tensor]:
        """The dense (B, C, H, W) float32 heatmap and (B, C, H, W) bool ignore mask."""
        heat = torch.zeros(self.shape, dtype=torch.float32, device=self.index.device)
        ignore = torch.zeros(self.shape, dtype=torch.bool, device=self.index.device)
        heat.view(-1)[self.index] = self.value
        ignore.view(-1)[self.index] = self.ignore
        return heat, ignore

    @classmethod
    def from_dense(cls, heat: Tensor, ignore: Tensor | None = None) -> 'SparseHeatmap':
        """The cells of a dense (B, C, H, W) target with a nonzero value or an ignore flag.

        Args:
            heat: (B, C, H, W) target in [0, 1].
            ignore: optional (B, C, H, W) bool; flags at positives are dropped (a positive is
                never ignored, as in :func:`~centerx.losses.penalty_reduced_focal_loss`).
        """
        if heat.dim() != 4:
            raise ValueError(f'SparseHeatmap.from_dense: heat must be (B, C, H, W), got {tuple(heat.shape)}')
        if ignore is not None and ignore.shape != heat.shape:
            raise ValueError(f'SparseHeatmap.from_dense: ignore of shape {tuple(ignore.shape)} does not '
                             f'match heat {tuple(heat.shape)}')
        flat = heat.reshape(-1).to(torch.float32)
        flags = None if ignore is None else ignore.reshape(-1)
        index = torch.nonzero((flat != 0) if flags is None else (flat != 0) | flags).view(-1)
        value = flat[index]
        ign = (torch.zeros_like(index, dtype=torch.bool) if flags is None else flags[index]) & (value < 1)
        return cls(shape=tuple(int(s) for s in heat.shape), index=index, value=value, ignore=ign)

    def num_positives(self) -> Tensor:
        """Number of cells with target 1, a 0-dim int64 tensor."""
        return (self.value == 1).sum()


def window_cells(shape: Tuple[int, int, int, int], batch_idx: Tensor, labels: Tensor, centers: Tensor,
                 kernel: KernelShape) -> Tuple[Tensor, Tensor, Tensor]:
    """Every cell with a positive kernel value of every object's window, not merged.

    Args: as :func:`~centerx.heatmap.render_gaussians` (M objects).

    Returns:
        index (L,) int64 flat indices into B*C*H*W, value (L,) float32 in (0, 1], and
        owner (L,) int64 the object (row of the inputs) each cell belongs to; L is at most
        the sum of the objects' bucketed window areas.
    """
    device = centers.device
    parts_i, parts_v, parts_o = [], [], []
    for sel, index, values in kernel_windows(shape, batch_idx, labels, centers, kernel):
        cell = values > 0  # inside the radius and the grid (and not underflowed to 0)
        parts_i.append(index[cell])
        parts_v.append(values[cell])
        parts_o.append(sel.view(-1, 1, 1).expand_as(values)[cell])
    if not parts_i:
        empty = torch.zeros(0, dtype=torch.int64, device=device)
        return empty, torch.zeros(0, dtype=torch.float32, device=device), empty
    return torch.cat(parts_i), torch.cat(parts_v), torch.cat(parts_o)


def render_sparse(shape: Tuple[int, int, int, int], batch_idx: Tensor, labels: Tensor, centers: Tensor,
                  kernel: KernelShape, ignored: Tensor | None = None) -> SparseHeatmap:
    """Render truncated Gaussians as a sparse target, merged by maximum per cell.

    Each object draws its window either into the heatmap (``ignored`` False) or into the
    ignore map (``ignored`` True); an object that should do both appears twice. A cell is
    ignored when some ignored object's window covers it and its heatmap value is below 1,
    as ``(ignore_heat > 0) & (heat < 1)`` on the dense maps.

    Args:
        shape: (B, C, H, W) of the heatmap.
        batch_idx: (M,) int64 image index of each object.
        labels: (M,) int64 channel (class) of each object.
        centers: (M, 2) int64 integer center (x, y) on the grid; must lie inside it.
        kernel: per-object radius (M, 2) and inverse covariance (M, 3).
        ignored: (M,) bool, objects whose window marks ignore cells (default: none).

    Returns:
        the :class:`SparseHeatmap`; its ``to_dense()`` equals ``render_gaussians`` of the
        non-ignored objects exactly.
    """
    M = int(centers.shape[0])
    for name, t in (('batch_idx', batch_idx), ('labels', labels)):
        if t.shape != (M,):
            raise ValueError(f'render_sparse: {name} has shape {tuple(t.shape)}, expected ({M},) '
                             f'for the {M} centers')
    if ignored is not None and ignored.shape != (M,):
        raise ValueError(f'render_sparse: ignored has shape {tuple(ignored.shape)}, expected ({M},)')
    index, value, owner = window_cells(shape, batch_idx, labels, centers, kernel)
    cells, inverse = torch.unique(index, sorted=True, return_inverse=True)
    if ignored is None:
        heat_value = value
        ignore = torch.zeros(cells.shape, dtype=torch.bool, device=cells.device)
    else:
        from_ignored = ignored.to(owner.device)[owner]
        heat_value = value.masked_fill(from_ignored, 0.0)
        ignore = torch.zeros(cells.shape, dtype=torch.bool, device=cells.device)
        ignore[inverse[from_ignored]] = True
    merged = torch.zeros(cells.shape, dtype=torch.float32, device=cells.device)
    merged.scatter_reduce_(0, inverse, heat_value, reduce='amax')
    return SparseHeatmap(shape=tuple(int(s) for s in shape), index=cells, value=merged, ignore=ignore & (merged < 1))
