"""The first transform of an inference pipeline fed with an image array instead of a path."""
from __future__ import annotations

from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform

from centerx.registry import TRANSFORMS
from centerx.structures import ImageMeta


def check_image_array(img: object, where: str) -> np.ndarray:
    """``img`` as a contiguous (H, W, 3) BGR uint8 array.

    Raises:
        TypeError / ValueError naming ``where``: not an array, not (H, W, 3), not uint8, empty.
    """
    if not isinstance(img, np.ndarray):
        raise TypeError(f'{where}: expected an image path or an (H, W, 3) BGR uint8 array, got {type(img).__name__}')
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f'{where}: expected an (H, W, 3) BGR image array, got shape {img.shape}')
    if img.dtype != np.uint8:
        raise ValueError(f'{where}: expected a uint8 image array (0-255, BGR as OpenCV reads it), got {img.dtype}')
    return np.ascontiguousarray(img)


@TRANSFORMS.register_module()
class LoadImageFromArray(BaseTransform):
    """Start a sample from ``results['img']``, an (H, W, 3) BGR uint8 array, as
    :class:`~centerx.data.transforms.loading.LoadImage` does from a file: the
    :class:`ImageMeta` (``img_path`` is ``results.get('img_path', '')``, a name for messages)
    with the per-task metas of ``results['task_metas']``.

    Raises:
        TypeError / ValueError naming the image: not an (H, W, 3) uint8 array.
    """

    def transform(self, results: Dict) -> Dict:
        name = results.get('img_path', '')
        img = check_image_array(results.get('img'), f'image {name!r} (img_id={results.get("img_id")})')
        h, w = img.shape[:2]
        results['img'] = img
        results['meta'] = ImageMeta(img_id=results.get('img_id'), img_path=name, ori_shape=(h, w),
                                    img_shape=(h, w), pad_shape=(h, w),
                                    task_metas=tuple(results.get('task_metas', ())))
        results.setdefault('instances', {})
        return results
