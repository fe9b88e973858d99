"""Merging the detections of several test-time views of one image (the default of
:meth:`centerx.task.Task.merge_tta`): concatenate, suppress by overlap, cap."""
from __future__ import annotations

from typing import Sequence

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from .config import TTAMerge
from .nms import nms, soft_nms


def concat_views(views: Sequence[InstanceData]) -> InstanceData:
    """One image's detections of every view in one list (rows of view 0 first).

    Args:
        views: per view an InstanceData with ``scores`` (D_v,), ``labels`` (D_v,) and the same
            other fields (D_v, ...).

    Raises:
        ValueError: no views, or views with different fields (naming them).
    """
    if not views:
        raise ValueError('concat_views: no views to merge')
    keys = set(views[0].keys())
    for i, view in enumerate(views[1:], start=1):
        if set(view.keys()) != keys:
            raise ValueError(f'concat_views: view {i} has fields {sorted(view.keys())}, view 0 has {sorted(keys)}')
    merged = InstanceData()
    for key in views[0].keys():
        merged.set_field(torch.cat([v.get(key) for v in views]), key)
    return merged


def merge_by_overlap(dets: InstanceData, overlap: Tensor, cfg: TTAMerge) -> InstanceData:
    """Class-wise NMS or soft-NMS (``cfg.type``) of one image's candidates, capped at
    ``cfg.max_per_img``; soft-NMS writes the decayed scores.

    Args:
        dets: N candidates with ``scores`` (N,), ``labels`` (N,) and any other fields.
        overlap: (N, N) pairwise overlap of the candidates, values in [0, 1].
        cfg: the merge settings.

    Returns:
        the kept rows (every field), by descending score.
    """
    if cfg.type == 'nms':
        keep = nms(overlap, dets.scores, dets.labels, cfg.iou_thr)
        scores = dets.scores[keep]
    else:
        keep, scores = soft_nms(overlap, dets.scores, dets.labels, method=cfg.method, sigma=cfg.sigma,
                                iou_thr=cfg.iou_thr, min_score=cfg.min_score)
    keep, scores = keep[:cfg.max_per_img], scores[:cfg.max_per_img]
    out = dets[keep]
    out.scores = scores.to(dets.scores.dtype)
    return out
