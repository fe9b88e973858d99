"""Drawing 3D boxes as projected cuboids for ``tools/test.py --show-dir``.

The box's 12 edges are projected with the original image's intrinsics
(the image's :class:`~centerx_tasks.box3d.camera_meta.CameraMeta` ``cam2img``; decoded boxes
are in the original camera frame). Edges that cross
the plane ``z = MIN_DEPTH`` are clipped to it, so a box beside or partly behind the camera is
drawn as far as it is in front; a box entirely behind draws nothing. The front face (the
``+l`` side, the heading) carries a cross, as mmdet3d's and the KITTI tools' drawings do.
"""
from __future__ import annotations

from typing import Optional, Tuple

import cv2
import numpy as np
import torch

from centerx.structures import ImageMeta
from centerx.visualization import register_drawer

from .camera import CORNER_SIGNS, box3d_corners
from .camera_meta import CameraMeta

#: corners closer than this (meters, camera z) are clipped away
MIN_DEPTH = 0.1


def _edges() -> Tuple[Tuple[int, int], ...]:
    """Corner index pairs that differ in exactly one sign: the 12 edges of the cuboid."""
    signs = np.array(CORNER_SIGNS)
    return tuple((i, j) for i in range(8) for j in range(i + 1, 8) if (signs[i] != signs[j]).sum() == 1)


EDGES = _edges()
#: the two diagonals of the front (+l) face
FRONT_CROSS = ((4, 7), (5, 6))


def clip_segment_to_depth(p: np.ndarray, q: np.ndarray, min_depth: float = MIN_DEPTH
                          ) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The part of the camera-frame segment ``p``-``q`` (each (3,)) with ``z >= min_depth``,
    or ``None`` when none of it is."""
    if p[2] < min_depth and q[2] < min_depth:
        return None
    if p[2] < min_depth or q[2] < min_depth:
        t = (min_depth - p[2]) / (q[2] - p[2])
        cut = p + t * (q - p)
        p, q = (cut, q) if p[2] < min_depth else (p, cut)
    return p, q


def project_cuboid_edges(box: np.ndarray, cam2img: np.ndarray,
                         pairs: Tuple[Tuple[int, int], ...] = EDGES) -> np.ndarray:
    """Image segments of a box's edges.

    Args:
        box: (7,) ``(x, y, z, l, h, w, yaw)`` in the camera frame.
        cam2img: (3, 3) intrinsics.
        pairs: corner index pairs to draw (default: the 12 edges).

    Returns:
        (S, 2, 2) float64 pixel endpoints of the S <= len(pairs) visible (clipped) segments.
    """
    corners = box3d_corners(torch.as_tensor(box, dtype=torch.float64)).numpy()  # (8, 3)
    return _project_pairs(corners, np.asarray(cam2img, dtype=np.float64), pairs)


def _project_pairs(corners: np.ndarray, K: np.ndarray, pairs: Tuple[Tuple[int, int], ...]) -> np.ndarray:
    """(S, 2, 2) clipped, projected segments between ``corners`` (8, 3) for ``pairs``."""
    out = []
    for i, j in pairs:
        seg = clip_segment_to_depth(corners[i], corners[j])
        if seg is None:
            continue
        uvw = np.stack(seg) @ K.T  # (2, 3)
        out.append(uvw[:, :2] / uvw[:, 2:])
    return np.asarray(out, dtype=np.float64).reshape(-1, 2, 2)


def _draw_segments(canvas: np.ndarray, segments: np.ndarray, color, thickness: int) -> None:
    limit = 4 * max(canvas.shape[:2])  # keep cv2's integer coordinates sane for near-plane points
    for (u1, v1), (u2, v2) in np.clip(segments, -limit, limit).round().astype(np.int64).tolist():
        cv2.line(canvas, (u1, v1), (u2, v2), color, thickness, cv2.LINE_AA)


@register_drawer('boxes3d', with_meta=True)
def draw_box3d(canvas: np.ndarray, value: np.ndarray, color, meta: ImageMeta) -> Optional[Tuple[int, int]]:
    """Draw one (7,) camera-frame box as a projected cuboid; label anchored at its top-left."""
    camera = meta.find_task_meta(CameraMeta)
    if camera is None:
        raise ValueError(f'cannot draw 3D boxes on {meta.img_path}: the image has no CameraMeta (cam2img intrinsics)')
    corners = box3d_corners(torch.as_tensor(value, dtype=torch.float64)).numpy()  # (8, 3)
    K = camera.cam2img
    segments = _project_pairs(corners, K, EDGES)
    if not len(segments):
        return None
    _draw_segments(canvas, segments, color, 2)
    _draw_segments(canvas, _project_pairs(corners, K, FRONT_CROSS), color, 1)
    top_left = segments.reshape(-1, 2).min(axis=0).clip(0, None)
    return int(top_left[0]), int(top_left[1])
