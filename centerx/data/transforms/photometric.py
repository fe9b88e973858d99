"""Photometric augmentation (CenterNet's colour jitter and PCA lighting noise)."""
from __future__ import annotations

from typing import Dict

import numpy as np
from mmcv.transforms import BaseTransform

from centerx.registry import TRANSFORMS

# ImageNet RGB eigen-decomposition used by CenterNet's lighting noise, in BGR order here
_EIGVAL = np.array([0.2141788, 0.01817699, 0.00341571], dtype=np.float32)
_EIGVEC = np.array([[-0.58752847, -0.69563484, 0.41340352],
                    [-0.5832747, 0.00994535, -0.81221408],
                    [-0.56089297, 0.71832671, 0.41158938]], dtype=np.float32)


@TRANSFORMS.register_module()
class ColorJitter(BaseTransform):
    """Brightness, contrast and saturation (each ``1 + U(-v, v)``, random order) and
    lighting noise along the ImageNet colour eigenvectors (``alphastd``), on a BGR uint8 image."""

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4,
                 lighting_std: float = 0.1) -> None:
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation
        self.lighting_std = lighting_std

    def transform(self, results: Dict) -> Dict:
        img = results['img'].astype(np.float32) / 255.0
        gray = img @ np.array([0.114, 0.587, 0.299], dtype=np.float32)  # BGR weights
        ops = []
        if self.brightness > 0:
            ops.append(lambda x: x * (1 + np.random.uniform(-self.brightness, self.brightness)))
        if self.contrast > 0:
            ops.append(lambda x: _blend(x, gray.mean(), 1 + np.random.uniform(-self.contrast, self.contrast)))
        if self.saturation > 0:
            ops.append(lambda x: _blend(x, gray[..., None], 1 + np.random.uniform(-self.saturation, self.saturation)))
        for i in np.random.permutation(len(ops)):
            img = ops[i](img)
        if self.lighting_std > 0:
            alpha = np.random.normal(scale=self.lighting_std, size=3).astype(np.float32)
            img = img + (_EIGVEC @ (_EIGVAL * alpha))[::-1]
        results['img'] = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return results


def _blend(img: np.ndarray, other, alpha: float) -> np.ndarray:
    return img * alpha + other * (1 - alpha)
