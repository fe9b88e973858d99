"""Test-time augmentation: multi-scale views of a batch and the merge of their detections.

Flip TTA averages each head's maps with those of the mirrored input
(:meth:`centerx.models.CenterNet.merge_flipped`); multi-scale TTA decodes every scale
(:mod:`centerx.tta.views`) and lets the head's center task merge the detections
(:meth:`centerx.task.Task.merge_tta`, by default class-wise soft-NMS or NMS over
:meth:`~centerx.task.Task.tta_overlap`, see :mod:`centerx.tta.nms`).
"""
from .config import MERGE_TYPES, PAPER_SCALES, TTAMerge, parse_merge, parse_scales
from .merge import concat_views, merge_by_overlap
from .nms import box_iou, nms, soft_nms
from .views import ScaledView, scale_meta, scaled_view

__all__ = ['MERGE_TYPES', 'PAPER_SCALES', 'ScaledView', 'TTAMerge', 'box_iou', 'concat_views', 'merge_by_overlap',
           'nms', 'parse_merge', 'parse_scales', 'scale_meta', 'scaled_view', 'soft_nms']
