"""Targets of the optional per-object extras of :class:`~centerx_tasks.box3d.task.Box3DTask`:
velocities and attribute classes (nuScenes), each with its own "known" weight."""
from __future__ import annotations

from typing import Dict

import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

from centerx.task import Task


def velocity_targets(gt: InstanceData, valid: Tensor, annotated: Tensor) -> Dict[str, Tensor]:
    """Velocity targets of M objects.

    Args:
        gt: the head's concatenated ground truth; ``velocities`` (M, 2) camera-frame
            ``(vx, vz)`` m/s, NaN where unknown (the field may be absent).
        valid: (M,) bool, the object has regression targets.
        annotated: (M,) bool, the object's image is annotated for ``velocities`` (presence mask).

    Returns:
        ``velocity`` (M, 2) (zero where unknown) and ``velocity_weight`` (M,) float: 1 for a
        valid object with a finite velocity from an image annotated with velocities.
    """
    vel = Task.field_or_nan(gt, 'velocities', (2,)).to(torch.float32).reshape(-1, 2)
    known = valid & torch.isfinite(vel).all(dim=1) & annotated
    return {'velocity': torch.where(known[:, None], torch.nan_to_num(vel), torch.zeros_like(vel)),
            'velocity_weight': known.to(torch.float32)}


def attribute_targets(gt: InstanceData, valid: Tensor, num_attributes: int, annotated: Tensor) -> Dict[str, Tensor]:
    """Attribute-class targets of M objects.

    Args:
        gt: the head's concatenated ground truth; ``attr_labels`` (M,) int, -1 for "no attribute"
            (the field may be absent).
        valid: (M,) bool, the object has regression targets.
        num_attributes: A, the attribute classes.
        annotated: (M,) bool, the object's image is annotated for ``attr_labels`` (presence mask).

    Returns:
        ``attr`` (M, A) one-hot, ``attr_index`` (M,) int64 and ``attr_weight`` (M,) float: 1 for a
        valid object whose label is known (``0 <= attr < A``).
    """
    if 'attr_labels' in gt:
        attr = gt.attr_labels.to(torch.int64).reshape(-1)
    else:
        attr = torch.full_like(gt.batch_idx, -1)
    known = valid & (attr >= 0) & (attr < num_attributes) & annotated
    attr = torch.where(known, attr, torch.zeros_like(attr))
    return {'attr': F.one_hot(attr, num_attributes).to(torch.float32) * known[:, None],
            'attr_index': attr, 'attr_weight': known.to(torch.float32)}
