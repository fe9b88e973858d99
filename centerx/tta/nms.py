"""Class-wise NMS and soft-NMS over a precomputed overlap matrix, in plain torch.

The merge of test-time augmentation (:mod:`centerx.tta`) works for any kind of detection
(axis-aligned boxes, rotated boxes, projected 3D boxes, discs ...) because the suppression
only needs the pairwise *overlap* of the candidates: an (N, N) matrix with values in
``[0, 1]`` (an IoU), which each task computes its own way (:meth:`centerx.task.Task.tta_overlap`).
No compiled ops (torchvision is not a dependency); N is at most a few hundred per image
(top-K peaks times the number of scales), so an O(N^2) matrix is cheap. NMS is a few
whole-matrix torch reductions; soft-NMS, sequential by nature, loops in numpy on the CPU.

Conventions, shared by both functions:

- candidates are ranked by score, descending; equal scores keep their input order (stable);
- only candidates of the same group (class) suppress each other;
- a NaN overlap counts as 1 (full overlap: suppress), as the DOTA devkit's polygon NMS does.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np
import torch
from torch import Tensor

SOFT_NMS_METHODS = ('gaussian', 'linear')


def box_iou(a: Tensor, b: Tensor) -> Tensor:
    """IoU of axis-aligned boxes.

    Args:
        a: (N, 4) xyxy boxes.
        b: (M, 4) xyxy boxes.

    Returns:
        (N, M) IoU; 0 where the union is empty (two zero-area boxes).
    """
    a, b = a.to(torch.float32), b.to(torch.float32)
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    iw = (torch.minimum(a[:, None, 2], b[None, :, 2]) - torch.maximum(a[:, None, 0], b[None, :, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, None, 3], b[None, :, 3]) - torch.maximum(a[:, None, 1], b[None, :, 1])).clamp(min=0)
    inter = iw * ih
    union = area_a[:, None] + area_b[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(union.dtype).tiny), torch.zeros_like(inter))


def _checked(overlap: Tensor, scores: Tensor, groups: Tensor) -> Tensor:
    """Validate shapes; return the (N, N) overlap restricted to same-group pairs (NaN -> 1)."""
    n = scores.shape[0]
    if scores.dim() != 1 or groups.shape != (n,) or overlap.shape != (n, n):
        raise ValueError(f'NMS expects scores (N,), groups (N,) and overlap (N, N); got {tuple(scores.shape)}, '
                         f'{tuple(groups.shape)} and {tuple(overlap.shape)}')
    same = groups[:, None] == groups[None, :]
    return torch.where(same, torch.nan_to_num(overlap.to(torch.float32), nan=1.0), torch.zeros((), device=overlap.device))


def nms(overlap: Tensor, scores: Tensor, groups: Tensor, iou_thr: float) -> Tensor:
    """Greedy class-wise NMS: a candidate is dropped when a kept, higher-ranked candidate of
    its group overlaps it by more than ``iou_thr``.

    Computed without a loop over candidates: with ``S[i, j]`` = "rank i suppresses rank j"
    (i < j), the greedy result is the fixed point of ``keep[j] = not any_i(keep[i] & S[i, j])``,
    reached from ``keep = all`` after at most (longest chain of suppressions + 1) iterations of
    one (N, N) reduction each (rank j's value is final once those of all ranks before it are).

    Args:
        overlap: (N, N) pairwise overlap (IoU) of the candidates.
        scores: (N,) scores.
        groups: (N,) int group ids (classes).
        iou_thr: suppression threshold.

    Returns:
        (D,) int64 indices of the kept candidates, by descending score.
    """
    overlap = _checked(overlap, scores, groups)
    order = torch.sort(scores, descending=True, stable=True).indices
    suppress = torch.triu(overlap[order][:, order] > iou_thr, diagonal=1)
    keep = torch.ones(len(order), dtype=torch.bool, device=scores.device)
    for _ in range(len(order) + 1):
        new = ~(suppress & keep[:, None]).any(dim=0)
        if torch.equal(new, keep):
            break
        keep = new
    return order[keep]


def soft_nms(overlap: Tensor, scores: Tensor, groups: Tensor, method: str = 'gaussian', sigma: float = 0.5,
             iou_thr: float = 0.5, min_score: float = 0.001) -> Tuple[Tensor, Tensor]:
    """Class-wise soft-NMS (Bodla et al. 2017, the merge of CenterNet's multi-scale test).

    Repeatedly keep the highest-scoring remaining candidate (the first in input order among
    equal scores) and decay the scores of the remaining candidates of its group by their
    overlap ``o`` with it: ``exp(-o^2 / sigma)`` (``'gaussian'``) or ``1 - o`` where
    ``o > iou_thr`` (``'linear'``). Candidates whose score falls below ``min_score`` are dropped.
    The loop is sequential by nature; it runs on a CPU copy in numpy (about 1 us per step
    against tens for a torch op on tiny tensors), the result goes back to the input's device.

    Args:
        overlap: (N, N) pairwise overlap (IoU) of the candidates.
        scores: (N,) scores.
        groups: (N,) int group ids (classes).
        method: ``'gaussian'`` or ``'linear'``.
        sigma: width of the Gaussian decay.
        iou_thr: overlap above which the linear decay applies.
        min_score: candidates scoring below this (after decay) are dropped.

    Returns:
        (D,) int64 indices of the kept candidates, by descending decayed score, and their (D,)
        decayed scores (float32).
    """
    if method not in SOFT_NMS_METHODS:
        raise ValueError(f'soft_nms: method must be one of {SOFT_NMS_METHODS}, got {method!r}')
    overlap = _checked(overlap, scores, groups).detach().cpu().numpy().astype(np.float64)
    if method == 'gaussian':
        decay = np.exp(-(overlap * overlap) / sigma)
    else:
        decay = np.where(overlap > iou_thr, 1 - overlap, 1.0)
    current = scores.detach().cpu().numpy().astype(np.float64).copy()
    active = np.ones(len(current), dtype=bool)
    kept, kept_scores = [], []
    for _ in range(len(current)):
        best = int(np.argmax(np.where(active, current, -np.inf)))
        if not (active[best] and current[best] >= min_score):
            break
        kept.append(best)
        kept_scores.append(current[best])
        active[best] = False
        current *= decay[best]  # kept rows change too, but are never read again
    index = torch.tensor(kept, dtype=torch.int64, device=scores.device)
    return index, torch.tensor(kept_scores, dtype=torch.float32, device=scores.device)
