"""Host-side preparation of an exported model's inputs: the test-time letterbox and its inverse.

The graph's decoded fields are in original-image pixels because it takes ``inverse_affine`` as an
input. :func:`prepare_image` runs centerx's own ``CenterAffine`` (the test pipeline's resize), so the
image and the matrix are exactly what ``tools/test.py`` would use; :func:`inverse_resize_affine`
is the same matrix in closed form, for a host without centerx.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

from centerx.data.transforms import CenterAffine
from centerx.structures import ImageMeta


def inverse_resize_affine(ori_shape: Tuple[int, int], input_shape: Tuple[int, int]) -> np.ndarray:
    """(3, 3) float64 network-input pixel -> original pixel of ``CenterAffine``'s letterbox.

    The original (h, w) is scaled by ``s = min(W / w, H / h)`` and centered in the (H, W) input,
    so ``x_orig = (x_in - (W - s w) / 2) / s`` and ``y_orig = (y_in - (H - s h) / 2) / s``.
    """
    h, w = float(ori_shape[0]), float(ori_shape[1])
    H, W = float(input_shape[0]), float(input_shape[1])
    if min(h, w, H, W) <= 0:
        raise ValueError(f'shapes must be positive, got ori_shape {ori_shape}, input_shape {input_shape}')
    s = min(W / w, H / h)
    return np.array([[1 / s, 0.0, -(W - s * w) / 2 / s], [0.0, 1 / s, -(H - s * h) / 2 / s], [0.0, 0.0, 1.0]])


def prepare_image(image: np.ndarray, input_shape: Tuple[int, int], task_metas: Sequence[object] = ()) -> Tuple[np.ndarray, ImageMeta]:
    """Resize one (h, w, 3) uint8 image into the export input size as the test pipeline does.

    Args:
        image: (h, w, 3) uint8, channels in loading order (BGR for OpenCV).
        input_shape: (H, W) of the exported graph.
        task_metas: the image's per-task metas (a camera ...), for the tasks' ``decode_inputs``.

    Returns:
        the ``images`` row (3, H, W) float32 (0-255), and the image's :class:`ImageMeta`, whose
        ``inverse_affine`` and ``ori_shape`` are the graph's ``inverse_affine`` / ``ori_shapes``.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'expected an (h, w, 3) image, got shape {image.shape}')
    h, w = image.shape[:2]
    meta = ImageMeta(img_id=0, img_path='', ori_shape=(h, w), img_shape=(h, w), pad_shape=(h, w),
                     task_metas=tuple(task_metas))
    results = CenterAffine(input_size=(int(input_shape[1]), int(input_shape[0])))(
        dict(img=image, meta=meta, instances={}))
    return np.ascontiguousarray(results['img'].transpose(2, 0, 1)).astype(np.float32), results['meta']
