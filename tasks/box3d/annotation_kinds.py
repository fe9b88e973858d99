"""How monocular-3D annotation fields move under image-space warps.

A camera-frame 3D box does not move when the image is scaled, shifted or cropped: the
warp changes the camera instead, and ``CameraMeta.input_cam2img()`` (``affine @ cam2img``)
projects the unchanged box onto the warped image. A horizontal flip is the one warp that
is modelled by moving the scene: the boxes are mirrored (camera-frame ``x -> -x``,
``yaw -> pi - yaw``) and ``input_cam2img()`` appends ``diag(-1, 1, 1)``, so the mirrored
box projects exactly where the flipped image shows the object. Rotations and shears
cannot be expressed by a pinhole camera and are refused.
"""
from __future__ import annotations

import numpy as np

from centerx.data import AnnotationKind, StaticKind, WarpContext
from centerx.registry import ANNOTATION_KINDS

from .camera import mirror_boxes3d_np


def _check_pinhole_step(matrix: np.ndarray, ctx: WarpContext, name: str) -> None:
    """Raise when a step is not an axis-aligned scale/shift (plus the flagged flip)."""
    m = np.asarray(matrix, dtype=np.float64)
    lin = m[:2, :2]
    scale = max(abs(lin[0, 0]), abs(lin[1, 1]), 1e-12)
    if abs(lin[0, 1]) > 1e-9 * scale or abs(lin[1, 0]) > 1e-9 * scale:
        raise ValueError(f'{name!r}: a rotated or sheared image warp {m[:2].tolist()} cannot be followed '
                         'by camera-frame 3D annotations (a pinhole camera has no such warp); '
                         'turn the rotation off for 3D tasks')
    if (lin[0, 0] < 0) != bool(ctx.flip) or lin[1, 1] < 0:
        raise ValueError(f'{name!r}: warp {m[:2].tolist()} mirrors the image without flip=True '
                         '(or mirrors it vertically); 3D annotations can only follow a flagged '
                         'horizontal flip')


@ANNOTATION_KINDS.register_module(name='boxes3d')
class Boxes3DKind(AnnotationKind):
    """(N, 7) camera-frame boxes ``(x, y, z, l, h, w, yaw)``: mirrored by a flip step,
    unchanged by every other (scale / shift / crop) step."""

    def warp(self, values: np.ndarray, matrix: np.ndarray, ctx: WarpContext) -> np.ndarray:
        values = np.asarray(values, dtype=np.float32).reshape(-1, 7)
        _check_pinhole_step(matrix, ctx, 'boxes3d')
        return mirror_boxes3d_np(values) if ctx.flip else values


@ANNOTATION_KINDS.register_module(name='velocities')
class Velocities3DKind(AnnotationKind):
    """(N, 2) camera-frame ground velocities ``(vx, vz)`` in m/s (NaN when unknown):
    ``vx -> -vx`` under a flip, unchanged otherwise."""

    def warp(self, values: np.ndarray, matrix: np.ndarray, ctx: WarpContext) -> np.ndarray:
        values = np.asarray(values, dtype=np.float32).reshape(-1, 2)
        _check_pinhole_step(matrix, ctx, 'velocities')
        if not ctx.flip:
            return values
        out = values.copy()
        out[:, 0] = -out[:, 0]
        return out


#: (N,) int64 attribute index (-1: none) and nuScenes visibility level: geometry does not change
#: them (nuScenes attributes have no left/right semantics, so a flip keeps them)
ANNOTATION_KINDS.register_module(name='attr_labels', module=StaticKind)
ANNOTATION_KINDS.register_module(name='visibility', module=StaticKind)
