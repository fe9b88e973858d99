"""The camera of one image: what monocular 3D tasks, metrics and drawings read from its
:class:`~centerx.structures.ImageMeta` (``meta.task_meta(CameraMeta)``).

The box3d datasets attach one per image (data item key ``task_metas``); the core carries
it without knowing it. It describes the *original* image: the camera of the network input
is computed when read, from the image's ``affine`` and ``flipped``
(:meth:`CameraMeta.input_cam2img`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from centerx.structures import ImageMeta

#: key of the (B, 3, 3) network-input intrinsics in ``DecodeContext.task_inputs`` (export feeds
#: them as a graph input; without it the decoder computes them from each image's CameraMeta)
CAMERA_INPUT = 'input_cam2img'


def _checked(value, shape, name: str) -> Optional[np.ndarray]:
    """``value`` as a finite float64 array of ``shape`` (None stays None)."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != shape or not np.isfinite(arr).all():
        raise ValueError(f'CameraMeta.{name} must be a finite {shape[0]}x{shape[1]} matrix, got '
                         f'shape {arr.shape}' + ('' if arr.shape != shape else ' with non-finite values'))
    return arr


@dataclass
class CameraMeta:
    """Camera geometry of one original image.

    Attributes:
        cam2img: (3, 3) float64 pinhole intrinsics of the original image.
        cam2ego: (4, 4) float64 camera -> ego-vehicle pose (for global-frame metrics), or None.
        ego2global: (4, 4) float64 ego-vehicle -> global pose at the image's capture time, or None.
        timestamp: capture time in microseconds, when known.
    """

    cam2img: np.ndarray
    cam2ego: Optional[np.ndarray] = None
    ego2global: Optional[np.ndarray] = None
    timestamp: Optional[int] = None

    def __post_init__(self) -> None:
        self.cam2img = _checked(self.cam2img, (3, 3), 'cam2img')
        if self.cam2img is None:
            raise ValueError('CameraMeta.cam2img is required (the intrinsics of the original image)')
        self.cam2ego = _checked(self.cam2ego, (4, 4), 'cam2ego')
        self.ego2global = _checked(self.ego2global, (4, 4), 'ego2global')
        self.timestamp = None if self.timestamp is None else int(self.timestamp)

    def input_cam2img(self, affine: np.ndarray, flipped: bool) -> np.ndarray:
        """(3, 3) float64 intrinsics of the network input made from this image by ``affine``.

        Image-space warps compose into ``affine`` (original pixel -> input pixel); a horizontal
        flip is modelled as mirroring the 3D scene (camera-frame ``x -> -x``, what the
        ``boxes3d`` annotation kind does), so ``K_input = affine @ cam2img @ diag(-1, 1, 1)``
        when flipped and ``affine @ cam2img`` otherwise. Valid as a pinhole camera for flips,
        scales, shifts and crops (not for rotations).
        """
        k = np.asarray(affine, dtype=np.float64) @ self.cam2img
        if flipped:
            k = k @ np.diag([-1.0, 1.0, 1.0])
        return k

    def for_input_image(self, affine: np.ndarray, flipped: bool) -> 'CameraMeta':
        """The camera of the network input as an image of its own (``cam2img`` =
        :meth:`input_cam2img`), for drawing ground truth that is already in the input's frame
        (:func:`centerx.visualization.input_view`). The poses are left out: they describe the
        original camera, not a mirrored one."""
        return CameraMeta(cam2img=self.input_cam2img(affine, flipped), timestamp=self.timestamp)


def input_cam2img(meta: ImageMeta) -> np.ndarray:
    """(3, 3) float64 intrinsics of the network input of ``meta``'s image.

    Raises:
        LookupError: the image carries no :class:`CameraMeta` (naming the image).
    """
    return meta.task_meta(CameraMeta).input_cam2img(meta.affine, meta.flipped)
