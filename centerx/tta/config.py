"""The test-time augmentation settings of ``model.test_cfg``, checked once at build time.

``test_cfg`` keys read here (docs/config_reference.md):

- ``scales``: None (default: no multi-scale test, the plain single pass) or a sequence of
  positive factors, e.g. the paper's ``(0.5, 0.75, 1.0, 1.25, 1.5)``; each scale re-runs the
  model on the network input resized by that factor;
- ``tta_merge``: how the detections of all scales are merged, per head, by the head's center
  task (:meth:`centerx.task.Task.merge_tta`): ``dict(type='soft_nms', method='gaussian',
  sigma=0.5, iou_thr=0.5, min_score=0.001)`` (default, CenterNet's multi-scale merge) or
  ``dict(type='nms', iou_thr=0.5)``; ``max_per_img`` (default ``topk``) caps the merged list.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Optional, Tuple

from .nms import SOFT_NMS_METHODS

MERGE_TYPES = ('soft_nms', 'nms')
PAPER_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5)


@dataclass(frozen=True)
class TTAMerge:
    """How a task merges the detections of several test-time views of one image.

    Attributes:
        type: ``'soft_nms'`` or ``'nms'``.
        iou_thr: NMS threshold; for soft-NMS, the overlap above which the linear decay applies.
        method: soft-NMS decay, ``'gaussian'`` or ``'linear'``.
        sigma: width of the Gaussian decay.
        min_score: soft-NMS drops candidates whose decayed score falls below this.
        max_per_img: at most this many merged detections per image and head (highest first).
    """

    type: str = 'soft_nms'
    iou_thr: float = 0.5
    method: str = 'gaussian'
    sigma: float = 0.5
    min_score: float = 0.001
    max_per_img: int = 100


def parse_scales(value: Any) -> Optional[Tuple[float, ...]]:
    """``test_cfg.scales`` as a tuple of positive floats, or None when multi-scale is off.

    Raises:
        ValueError: not a non-empty sequence of positive finite numbers (naming the value).
    """
    if value is None:
        return None
    try:
        scales = tuple(float(s) for s in value)
    except (TypeError, ValueError) as e:
        raise ValueError(f'model.test_cfg.scales must be a sequence of positive numbers, got {value!r}') from e
    if not scales or not all(0 < s < float('inf') for s in scales):
        raise ValueError(f'model.test_cfg.scales must be a non-empty sequence of positive numbers, got {value!r}')
    if len(set(scales)) != len(scales):
        raise ValueError(f'model.test_cfg.scales repeats a scale: {value!r}')
    return scales


def parse_merge(value: Optional[Mapping[str, Any]], topk: int) -> TTAMerge:
    """``test_cfg.tta_merge`` as a :class:`TTAMerge` (``max_per_img`` defaults to ``topk``).

    Raises:
        ValueError: an unknown type, method or key, or a value out of range (naming it).
    """
    cfg = dict(value or {})
    kind = cfg.pop('type', 'soft_nms')
    if kind not in MERGE_TYPES:
        raise ValueError(f'model.test_cfg.tta_merge.type must be one of {MERGE_TYPES}, got {kind!r}')
    known = set(TTAMerge.__dataclass_fields__) - {'type'}
    if kind == 'nms':
        known = {'iou_thr', 'max_per_img'}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f'model.test_cfg.tta_merge (type {kind!r}) has unknown keys {unknown}; known: {sorted(known)}')
    cfg.setdefault('max_per_img', topk)
    merge = TTAMerge(type=kind, **cfg)
    if merge.method not in SOFT_NMS_METHODS:
        raise ValueError(f'model.test_cfg.tta_merge.method must be one of {SOFT_NMS_METHODS}, got {merge.method!r}')
    if not (0 <= merge.iou_thr <= 1) or merge.sigma <= 0 or merge.max_per_img < 1:
        raise ValueError(f'model.test_cfg.tta_merge out of range: {merge} (iou_thr in [0, 1], sigma > 0, '
                         'max_per_img >= 1)')
    return merge
