"""Camera-frame 3D detections <-> the nuScenes detection submission format.

centerx's monocular 3D boxes live in the *camera* frame of one image (the mmdet3d
``CameraInstance3DBoxes`` convention); the nuScenes detection benchmark wants one list
of *global*-frame boxes per sample (the 6 cameras of a keyframe together). This module
converts between the two, exactly and vectorized; :mod:`~centerx_tasks.box3d.nuscenes_submission`
builds the submission json from them.

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

from dataclasses import dataclass
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from centerx.utils import to_numpy

# NUSCENES_CLASSES: the 10 classes in CenterNet's (and centerx's default) label order;
# NUSCENES_ATTRIBUTES: the attribute label order of OpenMMLab's nuScenes info files (their
# index 8, 'None', and -1 mean no attribute)
from .nuscenes_names import (CLASS_ATTRIBUTES, DEFAULT_ATTRIBUTES, INFO_CLASSES, NUSCENES_ATTRIBUTES,  # noqa: F401
                             NUSCENES_CLASSES)

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
