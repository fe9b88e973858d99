"""Affine matrices of the image-space augmentations.

Annotation coordinates are continuous pixels: pixel ``i`` covers ``[i, i + 1)``. OpenCV
samples images at pixel centers (integer coordinates), so the matrix handed to
``cv2.warpAffine`` is conjugated by a half-pixel shift (:func:`image_matrix`); images and
annotations then stay aligned exactly, flips included.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import cv2
import numpy as np


def translation(tx: float, ty: float) -> np.ndarray:
    """(3, 3) translation."""
    return np.array([[1.0, 0.0, tx], [0.0, 1.0, ty], [0.0, 0.0, 1.0]])


def center_scale_affine(center: Sequence[float], scale: float, out_size: Tuple[int, int],
                        rotation_deg: float = 0.0) -> np.ndarray:
    """CenterNet's crop: a square of side ``scale`` around ``center`` onto the output.

    The square is scaled uniformly by ``out_w / scale`` and rotated by ``rotation_deg``
    (counter-clockwise on screen) about its center, which lands on the output's center.

    Args:
        center: (x, y) in source pixels.
        scale: side of the source square in pixels.
        out_size: (width, height) of the output.
        rotation_deg: rotation in degrees.

    Returns:
        (3, 3) float64 source -> output matrix.
    """
    k = out_size[0] / float(scale)
    t = math.radians(rotation_deg)
    cos, sin = math.cos(t) * k, math.sin(t) * k
    lin = np.array([[cos, sin, 0.0], [-sin, cos, 0.0], [0.0, 0.0, 1.0]])
    return translation(out_size[0] / 2.0, out_size[1] / 2.0) @ lin @ translation(-center[0], -center[1])


def hflip_matrix(width: int) -> np.ndarray:
    """(3, 3) horizontal mirror of an image ``width`` pixels wide: ``x -> width - x``."""
    return np.array([[-1.0, 0.0, float(width)], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def image_matrix(matrix: np.ndarray) -> np.ndarray:
    """(2, 3) matrix for ``cv2.warpAffine`` equivalent to ``matrix`` on annotation coordinates."""
    return (translation(-0.5, -0.5) @ matrix @ translation(0.5, 0.5))[:2]


def warp_image(img: np.ndarray, matrix: np.ndarray, out_shape: Tuple[int, int],
               border_value: Tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Warp an (H, W, C) image with an annotation-space (3, 3) matrix to ``out_shape`` (h, w)."""
    return cv2.warpAffine(img, image_matrix(matrix), (int(out_shape[1]), int(out_shape[0])),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)


def apply_to_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (3, 3) affine to (..., 2) points."""
    return points @ matrix[:2, :2].T + matrix[:2, 2]
