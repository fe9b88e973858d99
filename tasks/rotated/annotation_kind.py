"""How DOTA's annotation fields move under image-space affine warps: 4-point polygons are
warped, the ``difficult`` flag is not."""
from __future__ import annotations

import numpy as np

from centerx.data import AnnotationKind, StaticKind, WarpContext
from centerx.data.geometry import apply_to_points
from centerx.registry import ANNOTATION_KINDS


@ANNOTATION_KINDS.register_module(name='polygons')
class PolygonKind(AnnotationKind):
    """(N, 8) quadrilaterals ``(x1, y1, ..., x4, y4)``: every vertex is warped exactly.

    Any affine (flip, scale, shift, rotation, shear) maps a quadrilateral to a
    quadrilateral, so no information is lost; a flip reverses the vertex order's
    orientation, which no consumer relies on (rotated boxes are refitted from the points).
    Nothing is clipped: tasks decide what is visible.
    """

    def warp(self, values: np.ndarray, matrix: np.ndarray, ctx: WarpContext) -> np.ndarray:
        pts = np.asarray(values, dtype=np.float64).reshape(-1, 4, 2)
        return apply_to_points(pts, matrix).reshape(-1, 8).astype(np.float32)


#: DOTA's per-object difficult flag (N,) bool: geometry does not change it
ANNOTATION_KINDS.register_module(name='difficult', module=StaticKind)
