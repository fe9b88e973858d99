"""Merging patch detections back into full images with polygon NMS.

Detections use the nested layout shared with :mod:`centerx_tasks.rotated.dota_eval`:
``{image_or_patch_name: {class_index: (K, 9) array}}`` where each row is
``x1 y1 x2 y2 x3 y3 x4 y4 score``.

NMS threshold: the DOTA devkit's task-1 merge (``ResultMerge_multi_process.py``)
runs polygon NMS per image and class with ``nms_thresh = 0.1`` (the older
single-process ``ResultMerge.py`` used 0.3); a box is suppressed when its IoU
with a kept, higher-scored box is ``> thresh``. :data:`DOTA_MERGE_NMS_THR`
is 0.1.
"""

from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from .patch_names import parse_patch_name
from .polygon_iou import hbox_overlap_pairs, poly_iou_pairs, quad_hboxes

__all__ = [
    "DOTA_MERGE_NMS_THR",
    "patch_polys_to_image",
    "rotated_nms",
    "batched_rotated_nms",
    "merge_patch_detections",
]

DOTA_MERGE_NMS_THR: float = 0.1

Detections = Mapping[str, Mapping[int, np.ndarray]]


def patch_polys_to_image(polys: np.ndarray, x0: float, y0: float, rate: float) -> np.ndarray:
    """Patch coordinates to original-image coordinates: ``(p + (x0, y0)) / rate``.

    Args:
        polys: ``(N, 8)`` polygons in patch pixels.

    Returns:
        ``(N, 8)`` float64 polygons in original-image pixels.
    """
    polys = np.asarray(polys, dtype=np.float64).reshape(-1, 8)
    return (polys + np.tile(np.array([x0, y0], dtype=np.float64), 4)) / float(rate)


def batched_rotated_nms(
    polys: np.ndarray, scores: np.ndarray, groups: Optional[np.ndarray], iou_thr: float
) -> np.ndarray:
    """Greedy polygon NMS run independently inside each group.

    Box ``j`` is suppressed by a kept box ``i`` of the same group with a higher
    rank when ``IoU(i, j) > iou_thr``. Rank = score descending; equal scores
    keep input order (stable sort).

    Args:
        polys: ``(N, 8)`` polygons.
        scores: ``(N,)`` scores.
        groups: ``(N,)`` non-negative integer group ids (e.g. image * C + class),
            or None for a single group.
        iou_thr: suppression threshold.

    Returns:
        ``(K,)`` int64 indices of the kept boxes, sorted by rank.
    """
    polys = np.asarray(polys, dtype=np.float64).reshape(-1, 8)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = len(polys)
    if len(scores) != n:
        raise ValueError(f"scores must have shape ({n},), got {scores.shape}")
    order = np.argsort(-scores, kind="stable")
    if n == 0:
        return order.astype(np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    ia, ib = hbox_overlap_pairs(quad_hboxes(polys), quad_hboxes(polys), groups, groups)
    # Each overlapping pair once, as (higher rank -> lower rank); self pairs dropped.
    forward = rank[ia] < rank[ib]
    ia, ib = ia[forward], ib[forward]
    heavy = poly_iou_pairs(polys, polys, ia, ib) > iou_thr
    src, dst = rank[ia[heavy]], rank[ib[heavy]]  # in rank space
    suppressed = np.zeros(n, dtype=bool)  # in rank space
    if len(src):
        by_src = np.argsort(src, kind="stable")
        src, dst = src[by_src], dst[by_src]
        bounds = np.searchsorted(src, np.arange(n + 1))
        # Only boxes that can suppress something need a sequential visit.
        for r in np.unique(src).tolist():
            if not suppressed[r]:
                suppressed[dst[bounds[r] : bounds[r + 1]]] = True
    return order[~suppressed].astype(np.int64)


def rotated_nms(polys: np.ndarray, scores: np.ndarray, iou_thr: float = DOTA_MERGE_NMS_THR) -> np.ndarray:
    """Greedy polygon NMS (see :func:`batched_rotated_nms`).

    Args:
        polys: ``(N, 8)`` polygons.
        scores: ``(N,)``.
        iou_thr: a box is dropped when its IoU with a kept higher-scored box is ``> iou_thr``.

    Returns:
        ``(K,)`` int64 kept indices, highest score first.
    """
    return batched_rotated_nms(polys, scores, None, iou_thr)


def merge_patch_detections(
    patch_dets: Detections, iou_thr: float = DOTA_MERGE_NMS_THR
) -> dict[str, dict[int, np.ndarray]]:
    """Map patch detections to their full images and run NMS per image and class.

    Args:
        patch_dets: ``{patch_name: {class_index: (K, 9)}}`` with patch names
            ``<image>__<rate>__<x0>___<y0>`` and polygons in patch pixels.
        iou_thr: polygon NMS threshold (devkit default 0.1).

    Returns:
        ``{image: {class_index: (K', 9) float64}}``, rows sorted by score
        descending; classes without detections are omitted.
    """
    all_rows: list[np.ndarray] = []
    all_images: list[np.ndarray] = []
    all_classes: list[np.ndarray] = []
    image_ids: dict[str, int] = {}
    for patch_name, per_class in patch_dets.items():
        patch = parse_patch_name(patch_name)
        image_index = image_ids.setdefault(patch.image, len(image_ids))
        for cls, dets in per_class.items():
            dets = np.asarray(dets, dtype=np.float64).reshape(-1, 9)
            if len(dets) == 0:
                continue
            rows = np.concatenate(
                [patch_polys_to_image(dets[:, :8], patch.x0, patch.y0, patch.rate), dets[:, 8:9]], axis=1
            )
            all_rows.append(rows)
            all_images.append(np.full(len(rows), image_index, dtype=np.int64))
            all_classes.append(np.full(len(rows), int(cls), dtype=np.int64))
    merged: dict[str, dict[int, np.ndarray]] = {name: {} for name in image_ids}
    if not all_rows:
        return merged
    rows = np.concatenate(all_rows)
    images = np.concatenate(all_images)
    classes = np.concatenate(all_classes)
    _, groups = np.unique(np.stack([images, classes], axis=1), axis=0, return_inverse=True)
    keep = batched_rotated_nms(rows[:, :8], rows[:, 8], groups.reshape(-1), iou_thr)
    names = list(image_ids)
    # keep is in score order; a stable sort by group preserves it inside each group.
    keep = keep[np.argsort(groups.reshape(-1)[keep], kind="stable")]
    kept_groups = groups.reshape(-1)[keep]
    bounds = np.flatnonzero(np.diff(kept_groups)) + 1
    for chunk in np.split(keep, bounds):
        first = chunk[0]
        merged[names[images[first]]][int(classes[first])] = rows[chunk]
    return merged
