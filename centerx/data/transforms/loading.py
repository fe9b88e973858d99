"""Reading images from disk."""
from __future__ import annotations

from typing import Dict

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from centerx.registry import TRANSFORMS
from centerx.structures import ImageMeta


@TRANSFORMS.register_module()
class LoadImage(BaseTransform):
    """Read ``results['img_path']`` as a BGR uint8 (H, W, 3) image and start the ImageMeta.

    The dataset's per-task metas (``results['task_metas']``: a sequence of objects, at most
    one per type, e.g. a 3D task's camera) go to ``ImageMeta.task_metas`` unchanged.

    Raises:
        FileNotFoundError / ValueError naming the file (and the image id) when it is
        missing or unreadable, or when its size disagrees with the annotation's.
    """

    def transform(self, results: Dict) -> Dict:
        path = results['img_path']
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            import os
            reason = 'does not exist' if not os.path.exists(path) else 'is not a readable image'
            raise (FileNotFoundError if reason == 'does not exist' else ValueError)(
                f'image {path} (img_id={results.get("img_id")}) {reason}')
        h, w = img.shape[:2]
        expected = (results.get('height'), results.get('width'))
        if all(v is not None for v in expected) and (h, w) != tuple(expected):
            raise ValueError(f'image {path} (img_id={results.get("img_id")}) is {w}x{h} but its '
                             f'annotation says {expected[1]}x{expected[0]}')
        results['img'] = np.ascontiguousarray(img)
        results['meta'] = ImageMeta(img_id=results.get('img_id'), img_path=path, ori_shape=(h, w),
                                    img_shape=(h, w), pad_shape=(h, w),
                                    task_metas=tuple(results.get('task_metas', ())))
        results.setdefault('instances', {})
        return results
