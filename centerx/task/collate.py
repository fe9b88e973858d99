"""Concatenate per-image ground truth into one table of the batch's objects."""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
from mmengine.structures import InstanceData
from torch import Tensor


def concat_instances(gts: Sequence[InstanceData], label_map: Optional[Tensor] = None) -> InstanceData:
    """Concatenate the ground truth of B images into one InstanceData of M rows.

    Adds ``batch_idx`` (M,) int64. When ``label_map`` is given ((num_dataset_classes,)
    int64 with -1 for classes the head does not predict), labels are mapped to head
    channels and rows of other classes are removed. A field that some images lack is
    filled with NaN in their rows and flagged by ``has_<field>`` (M,) bool, so a task
    can skip images that were not annotated for it; ``metainfo['image_fields']`` keeps each
    image's field names (an image with no row of the head still says what it was annotated for).
    """
    device = None
    fields: Dict[str, Tensor] = {}
    for gt in gts:
        for key in gt.keys():
            fields.setdefault(key, gt.get(key))
            device = gt.get(key).device
    parts = {key: [] for key in fields}
    flags = {key: [] for key in fields}
    batch_idx = []
    for i, gt in enumerate(gts):
        n = len(gt) if len(gt.keys()) else 0
        batch_idx.append(torch.full((n,), i, dtype=torch.int64, device=device))
        for key, example in fields.items():
            if key in gt:
                parts[key].append(gt.get(key))
                flags[key].append(torch.ones(n, dtype=torch.bool, device=device))
            else:
                filler = torch.full((n, *example.shape[1:]), float('nan'), device=device)
                parts[key].append(filler.to(example.dtype) if example.is_floating_point()
                                  else torch.zeros((n, *example.shape[1:]), dtype=example.dtype, device=device))
                flags[key].append(torch.zeros(n, dtype=torch.bool, device=device))
    out = InstanceData(metainfo=dict(image_fields=tuple(frozenset(gt.keys()) for gt in gts)))
    out.batch_idx = torch.cat(batch_idx) if batch_idx else torch.zeros(0, dtype=torch.int64)
    for key in fields:
        out.set_field(torch.cat(parts[key]), key)
        flag = torch.cat(flags[key])
        if not bool(flag.all()):
            out.set_field(flag, f'has_{key}')
    if 'labels' not in out:  # no image of the batch carries any annotation
        out.labels = torch.zeros(len(out.batch_idx), dtype=torch.int64, device=out.batch_idx.device)
    if 'ignore' not in out:
        out.ignore = torch.zeros(len(out.batch_idx), dtype=torch.bool, device=out.batch_idx.device)
    if label_map is not None and 'labels' in out:
        mapped = label_map.to(out.labels.device)[out.labels]
        keep = mapped >= 0
        out = out[keep]
        out.labels = mapped[keep]
    return out
