"""The nuScenes detection submission: camera-frame detections -> one global-frame list per
sample (cross-camera BEV NMS, class ranges, the per-sample cap), and back.

The frame conversions are :mod:`~centerx_tasks.box3d.nuscenes_results`'s.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from centerx.utils import log as _log  # a module attribute: tests capture the messages by patching it
from centerx.utils import to_numpy

from .nuscenes_names import NUSCENES_ATTRIBUTES, NUSCENES_CLASSES
from .nuscenes_results import (DEFAULT_ATTRIBUTE, MAX_BOXES_PER_SAMPLE, SUBMISSION_META, CameraDetections,
                               GlobalBoxes, attribute_names, camera_boxes_to_global, global_to_camera_boxes,
                               quaternion_to_yaw)


# ------------------------------------------------------------------------ BEV NMS
def bev_corners(translation: np.ndarray, size: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(N, 4, 2) ground-plane corners of global boxes (size = (w, l, h), yaw about z)."""
    half_l, half_w = size[:, 1] / 2, size[:, 0] / 2
    local = np.stack([np.stack([half_l, half_w], 1), np.stack([-half_l, half_w], 1),
                      np.stack([-half_l, -half_w], 1), np.stack([half_l, -half_w], 1)], axis=1)
    c, s = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x = local[..., 0] * c - local[..., 1] * s
    y = local[..., 0] * s + local[..., 1] * c
    return np.stack([x, y], axis=-1) + translation[:, None, :2]


def bev_iou(corners_a: np.ndarray, corners_b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of rotated ground-plane rectangles given as (N, 4, 2) / (M, 4, 2) corners."""
    import shapely

    poly_a = shapely.polygons(corners_a)
    poly_b = shapely.polygons(corners_b)
    inter = shapely.area(shapely.intersection(poly_a[:, None], poly_b[None, :]))
    union = shapely.area(poly_a)[:, None] + shapely.area(poly_b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def bev_nms(boxes: GlobalBoxes, scores: np.ndarray, labels: np.ndarray, iou_thr: float) -> np.ndarray:
    """Class-wise greedy NMS on the ground-plane IoU of global boxes.

    Returns the kept indices, by descending score. A box is suppressed by a kept box
    of the same label with BEV IoU ``> iou_thr``.
    """
    scores = to_numpy(scores, np.float64).reshape(-1)
    labels = to_numpy(labels, np.int64).reshape(-1)
    order = np.argsort(-scores, kind='stable')
    corners = bev_corners(boxes.translation, boxes.size, quaternion_to_yaw(boxes.rotation))
    keep = []
    for label in np.unique(labels):
        idx = order[labels[order] == label]
        if len(idx) == 1:
            keep.append(idx)
            continue
        iou = bev_iou(corners[idx], corners[idx])
        alive = np.ones(len(idx), bool)
        for i in range(len(idx)):
            if alive[i]:
                alive[i + 1:] &= iou[i, i + 1:] <= iou_thr
        keep.append(idx[alive])
    kept = np.concatenate(keep) if keep else np.zeros(0, np.int64)
    return kept[np.argsort(-scores[kept], kind='stable')]


# --------------------------------------------------------------------- submission
#: one camera image's detections in the global frame: boxes, scores (D,), labels (D,),
#: attribute names (D,) and the (D, 2) ground-plane ego position of each
CameraPart = Tuple[GlobalBoxes, np.ndarray, np.ndarray, List[str], np.ndarray]


def camera_part(det: CameraDetections, class_names: Sequence[str],
                attr_names: Sequence[str]) -> Tuple[CameraPart, int]:
    """One camera's detections in the global frame, and how many non-finite (or size <= 0)
    detections were dropped; NaN velocities become 0.

    Raises:
        ValueError: lengths disagree, or a label is not an index of ``class_names``.
    """
    boxes = to_numpy(det.boxes3d, np.float64).reshape(-1, 7)
    scores = to_numpy(det.scores, np.float64).reshape(-1)
    labels = to_numpy(det.labels, np.int64).reshape(-1)
    n = len(boxes)
    vel = np.zeros((n, 2)) if det.velocities is None else to_numpy(det.velocities, np.float64).reshape(-1, 2)
    attr = None if det.attr_labels is None else to_numpy(det.attr_labels, np.int64).reshape(-1)
    if not (len(scores) == len(labels) == len(vel) == n) or (attr is not None and len(attr) != n):
        raise ValueError(f'to_detection_results: sample {det.sample_token} {det.camera}: {n} boxes, '
                         f'{len(scores)} scores, {len(labels)} labels, {len(vel)} velocities'
                         + ('' if attr is None else f', {len(attr)} attribute labels'))
    bad = (labels < 0) | (labels >= len(class_names))
    if bad.any():
        raise ValueError(f'to_detection_results: sample {det.sample_token} {det.camera}: label(s) '
                         f'{sorted(set(labels[bad].tolist()))} are not indices of the '
                         f'{len(class_names)} classes')
    finite = np.isfinite(boxes).all(axis=1) & np.isfinite(scores) & (boxes[:, 3:6] > 0).all(axis=1)
    boxes, scores, labels, vel = boxes[finite], scores[finite], labels[finite], vel[finite]
    attr = None if attr is None else attr[finite]
    vel = np.where(np.isfinite(vel), vel, 0.0)
    glob = camera_boxes_to_global(boxes, vel, det.cam2ego, det.ego2global)
    names = [class_names[i] for i in labels]
    ego_xy = np.broadcast_to(to_numpy(det.ego2global, np.float64).reshape(4, 4)[:2, 3], (len(boxes), 2))
    return (glob, scores, labels, attribute_names(names, attr, attr_names), ego_xy), int((~finite).sum())


def select_sample_detections(token: str, parts: Sequence[CameraPart], class_names: Sequence[str],
                             max_per_sample: int, nms_iou_thr: Optional[float],
                             class_range: Optional[Mapping[str, float]]) -> Tuple[List[dict], int, int]:
    """One sample's submission entries from its cameras' parts: range filter, BEV NMS and the
    ``max_per_sample`` cap (logged) of :func:`to_detection_results`, best score first.

    Returns:
        the entries, how many detections were beyond their class range, and how many the cap cut.
    """
    glob = GlobalBoxes(*(np.concatenate([p[0][k] for p in parts]).reshape(-1, w)
                         for k, w in enumerate((3, 3, 4, 2))))
    scores = np.concatenate([p[1] for p in parts])
    labels = np.concatenate([p[2] for p in parts])
    attrs = [a for p in parts for a in p[3]]
    ego_xy = np.concatenate([p[4] for p in parts]).reshape(-1, 2)
    keep = np.arange(len(scores))
    out_of_range = 0
    if class_range is not None and len(keep):
        limit = np.array([class_range[class_names[i]] for i in labels], np.float64)
        inside = np.linalg.norm(glob.translation[:, :2] - ego_xy, axis=1) < limit
        out_of_range = int((~inside).sum())
        keep = keep[inside]
    if nms_iou_thr is not None and len(keep):
        sub = GlobalBoxes(*(a[keep] for a in glob))
        keep = keep[bev_nms(sub, scores[keep], labels[keep], float(nms_iou_thr))]
    keep = keep[np.argsort(-scores[keep], kind='stable')]
    cut = max(len(keep) - max_per_sample, 0)
    if cut:
        _log(f'to_detection_results: sample {token}: {len(keep)} detections, kept the '
             f'{max_per_sample} highest scores (>= {scores[keep[max_per_sample - 1]]:.4f}), '
             f'cut {len(keep) - max_per_sample}', logging.WARNING)
        keep = keep[:max_per_sample]
    rows = [dict(sample_token=token,
                 translation=glob.translation[i].tolist(),
                 size=glob.size[i].tolist(),
                 rotation=glob.rotation[i].tolist(),
                 velocity=glob.velocity[i].tolist(),
                 detection_name=class_names[labels[i]],
                 detection_score=float(scores[i]),
                 attribute_name=attrs[i]) for i in keep.tolist()]
    return rows, out_of_range, cut


def to_detection_results(detections: Iterable[CameraDetections],
                         class_names: Sequence[str] = NUSCENES_CLASSES,
                         attr_names: Sequence[str] = NUSCENES_ATTRIBUTES,
                         max_per_sample: int = MAX_BOXES_PER_SAMPLE,
                         nms_iou_thr: Optional[float] = None,
                         class_range: Optional[Mapping[str, float]] = None,
                         meta: Optional[Mapping[str, bool]] = None) -> Dict[str, Any]:
    """Build the nuScenes detection submission from per-camera detections.

    A sample's detections are the union of its cameras' (every sample seen gets an
    entry, possibly empty). Then, per sample:

    1. ``class_range`` (e.g. the eval config's ``class_range``): detections farther than
       their class's range from the ego vehicle (ground-plane distance to the camera's
       ``ego2global`` translation) are dropped, as mmdet3d does, since the devkit drops them
       anyway; a count is logged.
    2. ``nms_iou_thr`` (default None = off): class-wise greedy NMS on the global BEV IoU
       (:func:`bev_nms`) over all cameras of the sample, to remove the duplicates of an
       object seen by two overlapping cameras (mmdet3d's FCOS3D evaluation does this with
       a rotated-IoU threshold of 0.05).
    3. at most ``max_per_sample`` detections are kept, the highest scores; every cut is
       logged as a warning.

    Detections with non-finite boxes or scores or a size <= 0 (the devkit's ``scale_iou``
    asserts positive sizes) are dropped (logged); NaN velocities are written as 0.

    Returns:
        ``{'meta': SUBMISSION_META, 'results': {sample_token: [{sample_token, translation,
        size, rotation, velocity, detection_name, detection_score, attribute_name}]}}``,
        json-serializable, readable by ``nuscenes.eval.common.loaders.load_prediction``.

    Raises:
        ValueError: a label is not an index of ``class_names``, a class name is not a
            nuScenes detection class, or array lengths disagree.
    """
    bad_names = [c for c in class_names if c not in DEFAULT_ATTRIBUTE]
    if bad_names:
        raise ValueError(f'to_detection_results: {bad_names} are not nuScenes detection classes')
    per_sample: Dict[str, List[CameraPart]] = {}
    dropped_nonfinite = 0
    for det in detections:
        part, dropped = camera_part(det, class_names, attr_names)
        dropped_nonfinite += dropped
        per_sample.setdefault(str(det.sample_token), []).append(part)
    if dropped_nonfinite:
        _log(f'to_detection_results: dropped {dropped_nonfinite} detections with non-finite boxes or scores '
             'or non-positive sizes (the devkit rejects them)', logging.WARNING)
    results: Dict[str, List[dict]] = {}
    out_of_range = capped_samples = capped_boxes = 0
    for token, parts in per_sample.items():
        results[token], beyond, cut = select_sample_detections(token, parts, class_names, max_per_sample,
                                                               nms_iou_thr, class_range)
        out_of_range += beyond
        capped_samples += bool(cut)
        capped_boxes += cut
    if out_of_range:
        _log(f'to_detection_results: dropped {out_of_range} detections beyond their class range')
    if capped_samples:
        _log(f'to_detection_results: {capped_samples} sample(s) had more than {max_per_sample} detections; '
             f'cut {capped_boxes} lowest-scoring detections in total', logging.WARNING)
    return {'meta': dict(meta if meta is not None else SUBMISSION_META), 'results': results}


def from_detection_results(submission: Mapping[str, Any],
                           sample_token: str,
                           cam2ego: np.ndarray,
                           ego2global: np.ndarray,
                           class_names: Sequence[str] = NUSCENES_CLASSES,
                           attr_names: Sequence[str] = NUSCENES_ATTRIBUTES) -> Dict[str, np.ndarray]:
    """One sample's submitted detections -> arrays in one camera's frame (the inverse of
    :func:`to_detection_results` for that camera; boxes outside the camera's view are kept).

    Args:
        submission: the submission dict (or just its ``results``).

    Returns:
        ``dict(boxes3d (D, 7), velocities (D, 2), scores (D,), labels (D,) int64 index into
        class_names, attr_labels (D,) int64 index into attr_names (-1 for ''))``.
    """
    results = submission.get('results', submission)
    dets = results.get(sample_token, [])
    if not dets:
        return dict(boxes3d=np.zeros((0, 7)), velocities=np.zeros((0, 2)), scores=np.zeros(0),
                    labels=np.zeros(0, np.int64), attr_labels=np.zeros(0, np.int64))
    index = {name: i for i, name in enumerate(class_names)}
    attr_index = {name: i for i, name in enumerate(attr_names)}
    boxes, vel = global_to_camera_boxes(np.array([d['translation'] for d in dets], np.float64),
                                        np.array([d['size'] for d in dets], np.float64),
                                        np.array([d['rotation'] for d in dets], np.float64),
                                        np.array([d['velocity'] for d in dets], np.float64),
                                        cam2ego, ego2global)
    return dict(boxes3d=boxes, velocities=vel,
                scores=np.array([d['detection_score'] for d in dets], np.float64),
                labels=np.array([index[d['detection_name']] for d in dets], np.int64),
                attr_labels=np.array([attr_index.get(d['attribute_name'], -1) for d in dets], np.int64))
