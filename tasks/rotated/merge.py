"""Merging patch detections back into full images with polygon NMS.

Detections use the nested layout shared with :mod:`centerx_tasks.rotated.dota_eval`:
``{image_or_patch_name: {class_index: (K, 9) array}}`` where each row is
``x1 y1 x2 y2 x3 y3 x4 y4 score``.

NMS threshold: the DOTA devkit's task-1 merge (``ResultMerge_multi_process.py``)
runs polygon NMS per image and class with ``nms_thresh = 0.1`` (the older
single-process ``ResultMerge.py`` used 0.3); a box is kept only when its IoU
with every kept, higher-ranked box is ``<= thresh`` (so a NaN IoU, two zero-area
polygons, suppresses, as in the devkit). Rank, as the devkit's
``scores.argsort()[::-1]`` per image and class: score descending, equal scores in
the reverse of numpy's default argsort order over the group's detections in input
order (file order for :class:`~centerx_tasks.rotated.submission.Task1Detections`).
IoU is the devkit's polygon IoU (:mod:`centerx_tasks.rotated.polygon_iou`).
:data:`DOTA_MERGE_NMS_THR` is 0.1. Non-finite coordinates or scores are refused with
an error naming the patch and class (the readers can skip and count such lines first).
"""

from __future__ import annotations

from typing import Mapping, Optional, Union

import numpy as np

from .patch_names import PatchName, parse_patch_name
from .polygon_iou import hbox_overlap_pairs, poly_iou_pairs, quad_hboxes
from .submission import Task1Detections

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


def _devkit_rank_order(scores: np.ndarray, groups: Optional[np.ndarray]) -> np.ndarray:
    """Indices ``(N,)``: groups in ascending id, inside each ``argsort(scores)[::-1]`` of its boxes in input order."""
    if groups is None:
        return np.argsort(scores)[::-1]
    groups = np.asarray(groups, dtype=np.int64).reshape(-1)
    by_group = np.argsort(groups, kind="stable")  # input order inside each group
    bounds = np.flatnonzero(np.diff(groups[by_group])) + 1
    parts = [members[np.argsort(scores[members])[::-1]] for members in np.split(by_group, bounds)]
    return np.concatenate(parts) if parts else by_group


def batched_rotated_nms(
    polys: np.ndarray, scores: np.ndarray, groups: Optional[np.ndarray], iou_thr: float
) -> np.ndarray:
    """Greedy polygon NMS run independently inside each group.

    Box ``j`` is suppressed by a kept box ``i`` of the same group with a higher
    rank unless ``IoU(i, j) <= iou_thr``. Rank inside a group = the devkit's
    ``scores.argsort()[::-1]`` over the group's boxes in input order (module docstring).

    Args:
        polys: ``(N, 8)`` polygons.
        scores: ``(N,)`` scores.
        groups: ``(N,)`` non-negative integer group ids (e.g. image * C + class),
            or None for a single group.
        iou_thr: suppression threshold.

    Returns:
        ``(K,)`` int64 indices of the kept boxes, group by group (ascending group id), by rank.

    Raises:
        ValueError: shapes disagree, or a polygon or score is not finite.
    """
    polys = np.asarray(polys, dtype=np.float64).reshape(-1, 8)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    n = len(polys)
    if len(scores) != n:
        raise ValueError(f"scores must have shape ({n},), got {scores.shape}")
    finite = np.isfinite(polys).all(axis=1) & np.isfinite(scores)
    if not finite.all():
        raise ValueError(f"rotated NMS: {int((~finite).sum())} box(es) with non-finite values, first at index "
                         f"{int(np.flatnonzero(~finite)[0])}")
    order = _devkit_rank_order(scores, groups)
    if n == 0:
        return order.astype(np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    ia, ib = hbox_overlap_pairs(quad_hboxes(polys), quad_hboxes(polys), groups, groups)
    # Each overlapping pair once, as (higher rank -> lower rank); self pairs dropped.
    forward = rank[ia] < rank[ib]
    ia, ib = ia[forward], ib[forward]
    heavy = ~(poly_iou_pairs(polys, polys, ia, ib) <= iou_thr)  # the devkit keeps IoU <= thr only
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


def _nested_patch_rows(patch_dets: Union[Detections, Task1Detections]) -> list[tuple[str, int, np.ndarray]]:
    """``(patch name, class, (K, 9) rows)`` blocks in input order (file order: one block per line run)."""
    if not isinstance(patch_dets, Task1Detections):
        return [(name, int(cls), np.asarray(rows, dtype=np.float64).reshape(-1, 9))
                for name, per_class in patch_dets.items() for cls, rows in per_class.items()]
    rows = np.concatenate([patch_dets.polys, patch_dets.scores[:, None]], axis=1)
    keys = list(zip(patch_dets.image_ids, patch_dets.labels.tolist()))
    starts = [i for i in range(len(keys)) if i == 0 or keys[i] != keys[i - 1]] + [len(keys)]
    return [(keys[a][0], keys[a][1], rows[a:b]) for a, b in zip(starts[:-1], starts[1:])]


def merge_patch_detections(
    patch_dets: Union[Detections, Task1Detections], iou_thr: float = DOTA_MERGE_NMS_THR
) -> dict[str, dict[int, np.ndarray]]:
    """Map patch detections to their full images and run NMS per image and class.

    Args:
        patch_dets: ``{patch_name: {class_index: (K, 9)}}`` with patch names
            ``<image>__<rate>__<x0>___<y0>`` and polygons in patch pixels, or
            :class:`Task1Detections` (file order: the devkit's ranking of equal scores).
        iou_thr: polygon NMS threshold (devkit default 0.1).

    Raises:
        ValueError: a malformed patch name, or a non-finite value (naming patch and class).

    Returns:
        ``{image: {class_index: (K', 9) float64}}``, rows in rank order (score
        descending, ties as the devkit); classes without detections are omitted.
    """
    all_rows: list[np.ndarray] = []
    all_images: list[np.ndarray] = []
    all_classes: list[np.ndarray] = []
    image_ids: dict[str, int] = {}
    patches: dict[str, PatchName] = {}
    names_in_order = patch_dets.image_ids if isinstance(patch_dets, Task1Detections) else list(patch_dets)
    for patch_name in names_in_order:  # every patch's image is in the result, with detections or not
        if patch_name not in patches:
            patches[patch_name] = parse_patch_name(patch_name)
            image_ids.setdefault(patches[patch_name].image, len(image_ids))
    for patch_name, cls, dets in _nested_patch_rows(patch_dets):
        patch = patches[patch_name]
        image_index = image_ids[patch.image]
        if len(dets) == 0:
            continue
        if not np.isfinite(dets).all():
            row = int(np.flatnonzero(~np.isfinite(dets).all(axis=1))[0])
            raise ValueError(f"patch {patch_name!r} class {cls}: detection {row} is not finite: "
                             f"{dets[row].tolist()}")
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
    # keep is in rank order inside each group; a stable sort by group preserves it.
    keep = keep[np.argsort(groups.reshape(-1)[keep], kind="stable")]
    kept_groups = groups.reshape(-1)[keep]
    bounds = np.flatnonzero(np.diff(kept_groups)) + 1
    for chunk in np.split(keep, bounds):
        first = chunk[0]
        merged[names[images[first]]][int(classes[first])] = rows[chunk]
    return merged
