"""Camera-frame 3D detections <-> the nuScenes detection submission format.

centerx's monocular 3D boxes live in the *camera* frame of one image (the mmdet3d
``CameraInstance3DBoxes`` convention); the nuScenes detection benchmark wants one list
of *global*-frame boxes per sample (the 6 cameras of a keyframe together). This module
converts between the two, exactly and vectorized, and builds the submission json.

Conventions (verified on the nuScenes fixture, see ``tests/tasks/box3d/test_nuscenes_results.py``):

- camera frame: x right, y down, z forward. A box is ``(x, y, z, l, h, w, yaw)``: its
  gravity center, its length (along its heading), height (along camera -y) and width,
  and ``yaw`` about the camera y axis with the heading (the box's length axis) pointing
  along ``(cos yaw, 0, -sin yaw)``. As a devkit ``Box`` in the camera frame this is
  ``Box(center, wlh=(w, l, h), orientation=Ry(yaw) * Rx(pi/2))`` (= mmdet3d's
  ``Rx(pi/2) * Rz(-yaw)``; mmdet3d's conversion from a devkit box,
  ``yaw = -orientation.yaw_pitch_roll[0]``, inverts it): :func:`camera_boxes_to_devkit_boxes`.
- velocities are ``(vx, vz)``: the velocity in the camera's x-z plane.
- global frame (nuScenes): ``translation`` (3,) gravity center, ``size`` = (w, l, h),
  ``rotation`` a (w, x, y, z) quaternion, ``velocity`` (vx, vy).

The box's vertical axis is camera -y in the camera frame and global +z in the global
frame; they differ by the camera's tilt (about 1 degree on nuScenes). Centers and sizes
are mapped exactly; the heading is mapped through the 2x2 linear map ``M`` between the
camera x-z plane and the global x-y plane (``M = R[:2][:, [0, 2]]`` of the camera ->
global rotation ``R``): the global yaw is the direction of ``R @ heading`` projected onto
the ground (what the devkit's ``quaternion_yaw`` measures) and the global rotation is
the pure yaw about global z (as the nuScenes annotations are). Velocities are mapped by
the same ``M``. Both directions are therefore exact inverses of each other, whatever the
tilt (``M`` is invertible unless a camera looks straight up or down).

Class labels index ``class_names`` (default :data:`NUSCENES_CLASSES`, CenterNet's order;
the OpenMMLab info files use :data:`MMDET3D_NUSCENES_CLASSES`); attribute labels index
:data:`NUSCENES_ATTRIBUTES` (the 8 nuScenes attributes in OpenMMLab's order; -1, or 8 =
the info files' ``'None'``, means no attribute).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from centerx.utils import log as _log  # a module attribute: tests capture the messages by patching it
from centerx.utils import to_numpy

# NUSCENES_CLASSES: the 10 classes in CenterNet's (and centerx's default) label order;
# NUSCENES_ATTRIBUTES: the attribute label order of OpenMMLab's nuScenes info files (their
# index 8, 'None', and -1 mean no attribute)
from .nuscenes_names import CLASS_ATTRIBUTES, DEFAULT_ATTRIBUTES, INFO_CLASSES, NUSCENES_ATTRIBUTES, NUSCENES_CLASSES

#: the same classes in the label order of OpenMMLab's nuScenes info files (the fixtures)
MMDET3D_NUSCENES_CLASSES: Tuple[str, ...] = INFO_CLASSES
#: attribute written when none (or one invalid for the class) is predicted; the values
#: used by mmdet3d, CenterPoint and FCOS3D
DEFAULT_ATTRIBUTE: Dict[str, str] = DEFAULT_ATTRIBUTES
#: the attributes the devkit accepts for each class (its ``detection_name_to_rel_attributes``)
VALID_ATTRIBUTES: Dict[str, Tuple[str, ...]] = CLASS_ATTRIBUTES
#: ``meta`` of a camera-only submission
SUBMISSION_META: Dict[str, bool] = dict(use_camera=True, use_lidar=False, use_radar=False, use_map=False,
                                        use_external=False)
#: the devkit's limit of detections per sample (``max_boxes_per_sample`` of its configs)
MAX_BOXES_PER_SAMPLE = 500


# --------------------------------------------------------------------------- geometry
def camera_to_global(cam2ego: np.ndarray, ego2global: np.ndarray) -> np.ndarray:
    """(4, 4) camera -> global pose ``ego2global @ cam2ego``."""
    return to_numpy(ego2global, np.float64).reshape(4, 4) @ to_numpy(cam2ego, np.float64).reshape(4, 4)


def camera_ego2global(ego2global: np.ndarray, lidar2ego: np.ndarray, lidar2cam: np.ndarray,
                      cam2ego: np.ndarray) -> np.ndarray:
    """(4, 4) ego -> global pose at a *camera's* timestamp, from an OpenMMLab info record.

    Info files (v1.1) store one ``ego2global`` per sample (the LIDAR_TOP timestamp), but
    their ``lidar2cam`` includes the ego motion between the lidar and camera timestamps
    (it goes through the global frame), and the camera boxes (``cam_instances``) were
    made with the camera's own ego pose. ``ego2global @ cam2ego`` is then off by that
    motion (up to 0.37 m on the fixture keyframe); the camera's exact pose is
    ``ego2global @ lidar2ego @ inv(lidar2cam) @ inv(cam2ego)``, returned here.
    """
    cam2global = (to_numpy(ego2global, np.float64).reshape(4, 4) @ to_numpy(lidar2ego, np.float64).reshape(4, 4)
                  @ np.linalg.inv(to_numpy(lidar2cam, np.float64).reshape(4, 4)))
    return cam2global @ np.linalg.inv(to_numpy(cam2ego, np.float64).reshape(4, 4))


def _plane_map(rotation: np.ndarray) -> np.ndarray:
    """(2, 2) ``M``: camera x-z plane vector (a, c) -> ground (x, y) part of ``R @ (a, 0, c)``."""
    return rotation[:2][:, [0, 2]]


def _yaw_quaternion(yaw: np.ndarray) -> np.ndarray:
    """(N,) yaw about global z -> (N, 4) unit quaternions (w, x, y, z), ``w >= 0``."""
    half = 0.5 * yaw
    quat = np.zeros((len(yaw), 4))
    quat[:, 0] = np.cos(half)
    quat[:, 3] = np.sin(half)
    return quat


def quaternion_to_yaw(rotation: np.ndarray) -> np.ndarray:
    """(N, 4) quaternions (w, x, y, z) -> (N,) yaw: the ground-plane direction of the box's
    x axis, ``atan2(R[1, 0], R[0, 0])`` (the devkit's ``quaternion_yaw``, vectorized)."""
    q = to_numpy(rotation, np.float64).reshape(-1, 4)
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    w, x, y, z = q.T
    return np.arctan2(2.0 * (x * y + w * z), 1.0 - 2.0 * (y * y + z * z))


class GlobalBoxes(NamedTuple):
    """Boxes in the nuScenes global frame, as arrays.

    Attributes:
        translation: (N, 3) gravity centers, meters.
        size: (N, 3) (w, l, h), meters (the devkit's ``wlh``).
        rotation: (N, 4) unit quaternions (w, x, y, z), pure yaw about global z, ``w >= 0``.
        velocity: (N, 2) (vx, vy) m/s (NaN where the camera velocity was NaN).
    """

    translation: np.ndarray
    size: np.ndarray
    rotation: np.ndarray
    velocity: np.ndarray


def camera_boxes_to_global(boxes3d: np.ndarray,
                           velocities: Optional[np.ndarray],
                           cam2ego: np.ndarray,
                           ego2global: np.ndarray) -> GlobalBoxes:
    """Camera-frame boxes (and velocities) -> global-frame :class:`GlobalBoxes`.

    Args:
        boxes3d: (N, 7) ``(x, y, z, l, h, w, yaw)`` in the camera frame (module doc).
        velocities: (N, 2) ``(vx, vz)`` in the camera frame, or None (-> zero velocity).
            NaN stays NaN.
        cam2ego: (4, 4) camera -> ego pose; ego2global: (4, 4) ego -> global pose (the
            ego pose at the camera's timestamp for an exact result).
    """
    boxes = to_numpy(boxes3d, np.float64).reshape(-1, 7)
    pose = camera_to_global(cam2ego, ego2global)
    rot, trans = pose[:3, :3], pose[:3, 3]
    plane = _plane_map(rot)
    translation = boxes[:, :3] @ rot.T + trans
    size = boxes[:, [5, 3, 4]].copy()
    heading = np.stack([np.cos(boxes[:, 6]), -np.sin(boxes[:, 6])], axis=1) @ plane.T
    yaw = np.arctan2(heading[:, 1], heading[:, 0])
    if velocities is None:
        velocity = np.zeros((len(boxes), 2))
    else:
        velocity = to_numpy(velocities, np.float64).reshape(-1, 2) @ plane.T
    return GlobalBoxes(translation, size, _yaw_quaternion(yaw), velocity)


def global_to_camera_boxes(translation: np.ndarray,
                           size: np.ndarray,
                           rotation: np.ndarray,
                           velocity: Optional[np.ndarray],
                           cam2ego: np.ndarray,
                           ego2global: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Global-frame boxes -> camera frame; the exact inverse of :func:`camera_boxes_to_global`.

    Args:
        translation: (N, 3); size: (N, 3) (w, l, h); rotation: (N, 4) (w, x, y, z) (any
            rotation; only its ground-plane yaw is used, as by the devkit); velocity:
            (N, 2) (vx, vy) or None (-> zeros).
        cam2ego, ego2global: (4, 4) poses.

    Returns:
        ``(boxes3d (N, 7) (x, y, z, l, h, w, yaw) with yaw in (-pi, pi], velocities (N, 2)
        (vx, vz))``: the camera-plane heading / velocity whose ground projection is the
        given global one.

    Raises:
        ValueError: the camera's x-z plane is vertical (the ground map is singular).
    """
    translation = to_numpy(translation, np.float64).reshape(-1, 3)
    size = to_numpy(size, np.float64).reshape(-1, 3)
    pose = camera_to_global(cam2ego, ego2global)
    rot, trans = pose[:3, :3], pose[:3, 3]
    plane = _plane_map(rot)
    if abs(np.linalg.det(plane)) < 1e-9:
        raise ValueError('global_to_camera_boxes: the camera x-z plane is perpendicular to the ground; '
                         'a ground-plane yaw cannot be expressed as a camera yaw')
    plane_inv = np.linalg.inv(plane)
    center = (translation - trans) @ rot  # R^T (t - T), row-wise
    yaw_g = quaternion_to_yaw(rotation)
    direction = np.stack([np.cos(yaw_g), np.sin(yaw_g)], axis=1) @ plane_inv.T  # (cos yaw, -sin yaw) * s
    yaw = np.arctan2(-direction[:, 1], direction[:, 0])
    boxes = np.concatenate([center, size[:, [1, 2, 0]], yaw[:, None]], axis=1)
    if velocity is None:
        vel = np.zeros((len(boxes), 2))
    else:
        vel = to_numpy(velocity, np.float64).reshape(-1, 2) @ plane_inv.T
    return boxes, vel


def camera_boxes_to_devkit_boxes(boxes3d: np.ndarray, velocities: Optional[np.ndarray] = None) -> list:
    """Camera-frame boxes -> ``nuscenes.utils.data_classes.Box`` objects in the camera frame
    (``wlh = (w, l, h)``, ``orientation = Ry(yaw) * Rx(pi/2)``, velocity ``(vx, 0, vz)``),
    e.g. for ``Box.corners()`` and ``view_points`` to draw or project them."""
    from nuscenes.utils.data_classes import Box
    from pyquaternion import Quaternion

    boxes = to_numpy(boxes3d, np.float64).reshape(-1, 7)
    vel = (np.full((len(boxes), 2), np.nan) if velocities is None
           else to_numpy(velocities, np.float64).reshape(-1, 2))
    upright = Quaternion(axis=[1.0, 0.0, 0.0], radians=np.pi / 2)
    return [Box(center=b[:3], size=b[[5, 3, 4]],
                orientation=Quaternion(axis=[0.0, 1.0, 0.0], radians=float(b[6])) * upright,
                velocity=(float(v[0]), 0.0, float(v[1])))
            for b, v in zip(boxes, vel)]


# -------------------------------------------------------------------- submission format
def split_img_id(img_id: Any) -> Tuple[str, str]:
    """``'<sample_token>/<CAM>'`` -> ``(sample_token, camera)``; an id without ``/`` is a
    sample token with camera ``''``."""
    token, _, camera = str(img_id).partition('/')
    return token, camera


@dataclass
class CameraDetections:
    """One image's detections in its camera frame, with its poses.

    Attributes:
        sample_token: nuScenes sample (keyframe) token.
        camera: camera channel (``'CAM_FRONT'`` ...), informational.
        boxes3d: (D, 7) camera frame (module doc); scores: (D,); labels: (D,) index
            into ``class_names``.
        cam2ego, ego2global: (4, 4) poses.
        velocities: (D, 2) (vx, vz) or None; NaN entries are written as 0.
        attr_labels: (D,) index into the attribute names (default :data:`NUSCENES_ATTRIBUTES`;
            an index outside them, e.g. -1, = none) or None.
    """

    sample_token: str
    camera: str
    boxes3d: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    cam2ego: np.ndarray
    ego2global: np.ndarray
    velocities: Optional[np.ndarray] = None
    attr_labels: Optional[np.ndarray] = None


def attribute_names(detection_names: Sequence[str],
                    attr_labels: Optional[np.ndarray],
                    attr_names: Sequence[str] = NUSCENES_ATTRIBUTES) -> List[str]:
    """The submission's ``attribute_name`` of each detection: the predicted attribute when
    it is valid for the class (:data:`VALID_ATTRIBUTES`), else :data:`DEFAULT_ATTRIBUTE`."""
    out = []
    attr = None if attr_labels is None else to_numpy(attr_labels, np.int64).reshape(-1)
    for i, name in enumerate(detection_names):
        chosen = DEFAULT_ATTRIBUTE[name]
        if attr is not None and 0 <= attr[i] < len(attr_names) and attr_names[attr[i]] in VALID_ATTRIBUTES[name]:
            chosen = attr_names[attr[i]]
        out.append(chosen)
    return out


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
    per_sample: Dict[str, List[Tuple[GlobalBoxes, np.ndarray, np.ndarray, List[str], np.ndarray]]] = {}
    dropped_nonfinite = 0
    for det in detections:
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
        if not finite.all():
            dropped_nonfinite += int((~finite).sum())
            boxes, scores, labels, vel = boxes[finite], scores[finite], labels[finite], vel[finite]
            attr = None if attr is None else attr[finite]
        vel = np.where(np.isfinite(vel), vel, 0.0)
        glob = camera_boxes_to_global(boxes, vel, det.cam2ego, det.ego2global)
        names = [class_names[i] for i in labels]
        ego_xy = np.broadcast_to(to_numpy(det.ego2global, np.float64).reshape(4, 4)[:2, 3], (len(boxes), 2))
        per_sample.setdefault(str(det.sample_token), []).append(
            (glob, scores, labels, attribute_names(names, attr, attr_names), ego_xy))
    if dropped_nonfinite:
        _log(f'to_detection_results: dropped {dropped_nonfinite} detections with non-finite boxes or scores '
             'or non-positive sizes (the devkit rejects them)', logging.WARNING)

    results: Dict[str, List[dict]] = {}
    out_of_range = capped_samples = capped_boxes = 0
    for token, parts in per_sample.items():
        glob = GlobalBoxes(*(np.concatenate([p[0][k] for p in parts]).reshape(-1, w)
                             for k, w in enumerate((3, 3, 4, 2))))
        scores = np.concatenate([p[1] for p in parts])
        labels = np.concatenate([p[2] for p in parts])
        attrs = [a for p in parts for a in p[3]]
        ego_xy = np.concatenate([p[4] for p in parts]).reshape(-1, 2)
        keep = np.arange(len(scores))
        if class_range is not None and len(keep):
            limit = np.array([class_range[class_names[i]] for i in labels], np.float64)
            inside = np.linalg.norm(glob.translation[:, :2] - ego_xy, axis=1) < limit
            out_of_range += int((~inside).sum())
            keep = keep[inside]
        if nms_iou_thr is not None and len(keep):
            sub = GlobalBoxes(*(a[keep] for a in glob))
            keep = keep[bev_nms(sub, scores[keep], labels[keep], float(nms_iou_thr))]
        keep = keep[np.argsort(-scores[keep], kind='stable')]
        if len(keep) > max_per_sample:
            capped_samples += 1
            capped_boxes += len(keep) - max_per_sample
            _log(f'to_detection_results: sample {token}: {len(keep)} detections, kept the '
                 f'{max_per_sample} highest scores (>= {scores[keep[max_per_sample - 1]]:.4f}), '
                 f'cut {len(keep) - max_per_sample}', logging.WARNING)
            keep = keep[:max_per_sample]
        results[token] = [dict(sample_token=token,
                               translation=glob.translation[i].tolist(),
                               size=glob.size[i].tolist(),
                               rotation=glob.rotation[i].tolist(),
                               velocity=glob.velocity[i].tolist(),
                               detection_name=class_names[labels[i]],
                               detection_score=float(scores[i]),
                               attribute_name=attrs[i]) for i in keep.tolist()]
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
