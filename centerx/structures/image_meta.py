"""Typed per-image geometry that travels with every sample.

Every image-space transform (flip, random scale/shift/crop, test-time resize) is an
affine map; they compose into one 3x3 matrix ``affine`` from original-image pixels to
network-input pixels. Decoders map their outputs back with ``inverse_affine``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional, Tuple

import numpy as np


@dataclass
class ImageMeta:
    """Geometry and identity of one image.

    Attributes:
        img_id: dataset id of the image (COCO image id, DOTA image name ...).
        img_path: path of the image file.
        ori_shape: (height, width) of the original image.
        img_shape: (height, width) of the network input after the warp.
        pad_shape: (height, width) after batch padding (>= img_shape).
        affine: (3, 3) float64, original-image pixel -> input pixel (homogeneous).
        flipped: whether a horizontal flip is part of ``affine``.
        cam2img: (3, 3) camera intrinsics of the *original* image, for 3D tasks.
        cam2ego: (4, 4) camera -> ego-vehicle pose, for 3D metrics.
        ego2global: (4, 4) ego-vehicle -> global pose, for 3D metrics.
        timestamp: capture time in microseconds, when known.
        extras: typed-by-convention values of user plugins (documented by the plugin).
    """

    img_id: Any
    img_path: str
    ori_shape: Tuple[int, int]
    img_shape: Tuple[int, int] = (0, 0)
    pad_shape: Tuple[int, int] = (0, 0)
    affine: np.ndarray = field(default_factory=lambda: np.eye(3))
    flipped: bool = False
    cam2img: Optional[np.ndarray] = None
    cam2ego: Optional[np.ndarray] = None
    ego2global: Optional[np.ndarray] = None
    timestamp: Optional[int] = None
    extras: dict = field(default_factory=dict)

    @property
    def inverse_affine(self) -> np.ndarray:
        """(3, 3) float64, input pixel -> original-image pixel."""
        return np.linalg.inv(self.affine)

    def input_cam2img(self) -> np.ndarray:
        """(3, 3) intrinsics of the network input image.

        Image-space warps compose into ``affine``; a horizontal flip is modelled as
        mirroring the 3D scene (camera-frame ``x -> -x``, what the ``boxes3d`` annotation
        kind does), so ``K_input = affine @ cam2img @ diag(-1, 1, 1)`` when flipped and
        ``affine @ cam2img`` otherwise. Valid as a pinhole camera for flips, scales, shifts
        and crops (not for rotations).
        """
        if self.cam2img is None:
            raise ValueError(f'image {self.img_path} has no camera intrinsics (cam2img)')
        k = self.affine @ np.asarray(self.cam2img, dtype=np.float64)
        if self.flipped:
            k = k @ np.diag([-1.0, 1.0, 1.0])
        return k

    def compose(self, matrix: np.ndarray, out_shape: Tuple[int, int], flip: bool = False) -> None:
        """Prepend an image-space step: ``affine <- matrix @ affine``.

        Args:
            matrix: (3, 3) or (2, 3) map from the current image to the new one.
            out_shape: (height, width) of the new image.
            flip: whether this step mirrors the image horizontally.
        """
        self.affine = as_3x3(matrix) @ self.affine
        self.img_shape = tuple(int(v) for v in out_shape)
        self.pad_shape = self.img_shape
        self.flipped = self.flipped != flip


def as_3x3(matrix: np.ndarray) -> np.ndarray:
    """Return a (3, 3) float64 homogeneous matrix from a (2, 3) or (3, 3) one."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape == (3, 3):
        return matrix
    if matrix.shape == (2, 3):
        return np.vstack([matrix, [0.0, 0.0, 1.0]])
    raise ValueError(f'expected a (2, 3) or (3, 3) affine matrix, got shape {matrix.shape}')
