"""How the ``circles`` annotation field moves under image-space affine warps and flips."""
from __future__ import annotations

import numpy as np

from centerx.data import AnnotationKind, WarpContext
from centerx.data.geometry import apply_to_points
from centerx.registry import ANNOTATION_KINDS


def affine_scale(matrix: np.ndarray) -> float:
    """Length scale of an affine map: ``sqrt(|det A|)`` of its (2, 2) linear part.

    Exact for similarities (flips, uniform scales, shifts, rotations); for an anisotropic
    map it is the scale that preserves area.
    """
    lin = np.asarray(matrix, dtype=np.float64)[:2, :2]
    return float(np.sqrt(abs(np.linalg.det(lin))))


@ANNOTATION_KINDS.register_module(name='circles')
class CircleKind(AnnotationKind):
    """(N, 3) discs ``(cx, cy, r)`` in pixels.

    The center goes through the matrix; the radius is multiplied by :func:`affine_scale`.
    Every transform centerx ships (flip, uniform scale + shift + rotation, letterbox) is a
    similarity, under which a disc stays a disc and this warp is exact. Nothing is clipped:
    the task decides which discs are visible.
    """

    def warp(self, values: np.ndarray, matrix: np.ndarray, ctx: WarpContext) -> np.ndarray:
        values = np.asarray(values, dtype=np.float64).reshape(-1, 3)
        centers = apply_to_points(values[:, :2], np.asarray(matrix, dtype=np.float64))
        radii = values[:, 2:3] * affine_scale(matrix)
        return np.concatenate([centers, radii], axis=1).astype(np.float32)
