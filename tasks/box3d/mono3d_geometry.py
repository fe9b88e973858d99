"""Camera-frame box geometry and record parsing of the mono-3D json files.

Boxes are ``(x, y, z, l, h, w, yaw)`` with the gravity center in the camera frame (the
convention of :mod:`~centerx_tasks.box3d.mono3d_dataset`); :func:`to_contract` reads the
other ``bbox_cam3d`` layouts into it. numpy, float64.
"""
from __future__ import annotations

import math
import os
import re
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

# Corner k of a box has bits (i, j, m) = (k >> 2, (k >> 1) & 1, k & 1): i along the heading
# (1 = front), j vertical (0 = top, the camera y axis points down), m lateral.
#: Corner indices of each face, in cyclic order.
BOX_FACES: Dict[str, Tuple[int, int, int, int]] = {
    'front': (4, 5, 7, 6), 'back': (0, 1, 3, 2), 'top': (0, 1, 5, 4),
    'bottom': (2, 3, 7, 6), 'side0': (0, 2, 6, 4), 'side1': (1, 3, 7, 5)}
#: Outward face normals in the box's own frame (heading x, down y, lateral z).
FACE_NORMALS: Dict[str, Tuple[float, float, float]] = {
    'front': (1.0, 0.0, 0.0), 'back': (-1.0, 0.0, 0.0), 'top': (0.0, -1.0, 0.0),
    'bottom': (0.0, 1.0, 0.0), 'side0': (0.0, 0.0, -1.0), 'side1': (0.0, 0.0, 1.0)}


def yaw_rotation(yaw: np.ndarray) -> np.ndarray:
    """(..., 3, 3) rotation about the camera y axis: box frame -> camera frame.

    Columns: heading ``(cos, 0, -sin)``, down ``(0, 1, 0)``, lateral ``(sin, 0, cos)``.
    """
    yaw = np.asarray(yaw, dtype=np.float64)
    c, s = np.cos(yaw), np.sin(yaw)
    zero, one = np.zeros_like(yaw), np.ones_like(yaw)
    rows = [np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1), np.stack([-s, zero, c], -1)]
    return np.stack(rows, -2)


def box3d_corners(boxes3d: np.ndarray) -> np.ndarray:
    """Corners of camera-frame boxes ``(x, y, z, l, h, w, yaw)`` (gravity center).

    Returns:
        (N, 8, 3) float64; corner ``k`` has bits ``(i, j, m) = (k >> 2, (k >> 1) & 1, k & 1)``
        meaning ``(+-l/2, +-h/2, +-w/2)`` in the box frame (bit 1 = plus): corners 4-7 form
        the front face (see :data:`BOX_FACES`).
    """
    boxes3d = np.asarray(boxes3d, dtype=np.float64).reshape(-1, 7)
    bits = (np.arange(8)[:, None] >> np.array([2, 1, 0])) & 1
    local = (bits - 0.5)[None] * boxes3d[:, None, 3:6]  # (N, 8, 3)
    rot = yaw_rotation(boxes3d[:, 6])  # (N, 3, 3)
    return np.einsum('nij,nkj->nki', rot, local) + boxes3d[:, None, :3]


def project_points(points: np.ndarray, cam2img: np.ndarray) -> np.ndarray:
    """Pinhole projection of (..., 3) camera-frame points to (..., 2) pixels (u, v)."""
    points = np.asarray(points, dtype=np.float64)
    uvw = points @ np.asarray(cam2img, dtype=np.float64).T
    return uvw[..., :2] / uvw[..., 2:3]


def corners_enclosing_boxes(boxes3d: np.ndarray, cam2img: np.ndarray,
                            image_hw: Optional[Tuple[int, int]] = None) -> np.ndarray:
    """(N, 4) x1 y1 x2 y2 enclosing the projected corners, clipped to ``image_hw`` if given.

    Valid for boxes entirely in front of the camera.
    """
    uv = project_points(box3d_corners(boxes3d), cam2img)
    boxes = np.concatenate([uv.min(axis=1), uv.max(axis=1)], axis=1) if len(uv) else np.zeros((0, 4))
    if image_hw is not None:
        h, w = image_hw
        boxes = np.clip(boxes, 0.0, np.array([w, h, w, h], np.float64))
    return boxes


def quaternion_matrix(q: Sequence[float]) -> np.ndarray:
    """(3, 3) rotation of a (w, x, y, z) quaternion (normalised first)."""
    w, x, y, z = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def pose_matrix(rotation: Sequence[float], translation: Sequence[float]) -> np.ndarray:
    """(4, 4) pose from a (w, x, y, z) quaternion and a translation."""
    pose = np.eye(4)
    pose[:3, :3] = quaternion_matrix(rotation)
    pose[:3, 3] = np.asarray(translation, dtype=np.float64)
    return pose


def finite_numbers(value: Any, n: int, allow_nan: bool = False) -> Optional[np.ndarray]:
    """``value`` as float64 (n,) if it is n finite numbers (NaN/None allowed if asked), else None."""
    if not isinstance(value, (list, tuple)) or len(value) != n:
        return None
    out = np.empty(n, np.float64)
    for k, v in enumerate(value):
        if v is None and allow_nan:
            out[k] = math.nan
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            try:
                v = float(v)
            except OverflowError:  # an int beyond float64
                return None
            if not (math.isfinite(v) or (allow_nan and math.isnan(v))):
                return None
            out[k] = v
        else:
            return None
    return out


CAM_IN_NAME = re.compile(r'__(CAM_[A-Z_]+?)__')
TIMESTAMP_IN_NAME = re.compile(r'__(\d{10,})\.[A-Za-z]+$')


def camera_of(file_name: str) -> Optional[str]:
    """Camera name of a nuScenes-style image path (``samples/CAM_FRONT/...`` or ``...__CAM_FRONT__...``)."""
    match = CAM_IN_NAME.search(os.path.basename(file_name))
    if match:
        return match.group(1)
    parent = os.path.basename(os.path.dirname(file_name))
    return parent if parent.startswith('CAM_') else None


def to_contract(raw: np.ndarray, layout: str) -> np.ndarray:
    """(N, 7) ``bbox_cam3d`` of a file layout -> (x, y, z, l, h, w, yaw) of the contract."""
    raw = np.asarray(raw, np.float64).reshape(-1, 7)
    if layout in ('centerx', 'mmdet3d_v1'):
        return raw.copy()
    if layout == 'mmdet3d_v0':  # (x, y, z, w, l, h, yaw_pitch_roll[0])
        return np.concatenate([raw[:, :3], raw[:, 4:5], raw[:, 5:6], raw[:, 3:4], -raw[:, 6:7]], axis=1)
    raise ValueError(f'unknown bbox_cam3d layout {layout!r}')


def xyxy_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (4,) x1 y1 x2 y2 boxes (0 for an empty union)."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
