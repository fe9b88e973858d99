"""Geometric augmentations. Each one is an affine map applied to the image and, through
the registered annotation kinds, to every annotation the sample carries; the maps
compose into ``meta.affine`` so decoders can map predictions back."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from centerx.registry import TRANSFORMS

from ..annotation_kinds import WarpContext, warp_instances
from ..geometry import center_scale_affine, hflip_matrix, warp_image


def apply_affine(results: Dict, matrix: np.ndarray, out_shape: Tuple[int, int], flip: bool = False,
                 border_value: Tuple[int, int, int] = (0, 0, 0)) -> Dict:
    """Warp ``results['img']`` and all ``results['instances']`` with one (3, 3) matrix.

    Args:
        results: a sample dict with ``img``, ``meta`` and ``instances``.
        matrix: (3, 3) map from the current image to the new one (annotation coordinates).
        out_shape: (height, width) of the new image.
        flip: the step mirrors the image (left/right semantics swap for kinds that care).
    """
    meta = results['meta']
    ctx = WarpContext(out_shape=out_shape, flip=flip, metainfo=results.get('metainfo', {}), meta=meta)
    if flip and np.allclose(matrix, hflip_matrix(results['img'].shape[1])):
        results['img'] = np.ascontiguousarray(results['img'][:, ::-1])
    else:
        results['img'] = warp_image(results['img'], matrix, out_shape, border_value)
    results['instances'] = warp_instances(results.get('instances', {}), matrix, ctx)
    meta.compose(matrix, out_shape, flip)
    return results


def _border(border: int, size: int) -> int:
    """CenterNet's crop border: halve ``border`` until the image is more than twice as large."""
    i = 1
    while size - border // i <= border // i:
        i *= 2
    return border // i


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Mirror horizontally with probability ``prob`` (exact: no resampling)."""

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        if np.random.rand() < self.prob:
            h, w = results['img'].shape[:2]
            apply_affine(results, hflip_matrix(w), (h, w), flip=True)
        return results


@TRANSFORMS.register_module()
class RandomCenterAffine(BaseTransform):
    """CenterNet's training crop as one affine warp to a fixed input size.

    ``mode='random_crop'`` (CenterNet's default for COCO): the square side is
    ``max(h, w) * s`` with ``s`` drawn from ``scales`` (0.6 ... 1.3), and the center is
    uniform in the image minus a border of 128 px (halved for small images).
    ``mode='shift_scale'``: the center moves by ``N(0, shift) * side`` and the side scales
    by ``N(1, scale)``, both clipped at two standard deviations.
    ``rotation``: optional uniform rotation in degrees (+-rotation), off for boxes.

    Args:
        input_size: (width, height) of the network input.
    """

    def __init__(self, input_size: Tuple[int, int] = (512, 512), mode: str = 'random_crop',
                 scales: Sequence[float] = tuple(np.arange(0.6, 1.4, 0.1)), border: int = 128,
                 shift: float = 0.1, scale: float = 0.4, rotation: float = 0.0,
                 border_value: Tuple[int, int, int] = (0, 0, 0)) -> None:
        if mode not in ('random_crop', 'shift_scale'):
            raise ValueError(f"mode must be 'random_crop' or 'shift_scale', got {mode!r}")
        self.input_size = tuple(input_size)
        self.mode, self.scales, self.border = mode, tuple(scales), border
        self.shift, self.scale, self.rotation = shift, scale, rotation
        self.border_value = tuple(border_value)

    def transform(self, results: Dict) -> Dict:
        h, w = results['img'].shape[:2]
        side = float(max(h, w))
        if self.mode == 'random_crop':
            side *= float(np.random.choice(self.scales))
            wb, hb = _border(self.border, w), _border(self.border, h)
            cx = np.random.randint(low=wb, high=max(w - wb, wb + 1))
            cy = np.random.randint(low=hb, high=max(h - hb, hb + 1))
        else:
            cx = w / 2.0 + side * np.clip(np.random.randn() * self.shift, -2 * self.shift, 2 * self.shift)
            cy = h / 2.0 + side * np.clip(np.random.randn() * self.shift, -2 * self.shift, 2 * self.shift)
            side *= np.clip(np.random.randn() * self.scale + 1, 1 - self.scale, 1 + self.scale)
        rot = np.random.uniform(-self.rotation, self.rotation) if self.rotation > 0 else 0.0
        matrix = center_scale_affine((cx, cy), side, self.input_size, rot)
        return apply_affine(results, matrix, (self.input_size[1], self.input_size[0]), border_value=self.border_value)


@TRANSFORMS.register_module()
class CenterAffine(BaseTransform):
    """Test-time resize. With ``input_size`` (width, height): the whole image, scaled
    uniformly to fit and centered (letterboxed); for square inputs this is CenterNet's fixed
    resolution (the square of side ``max(h, w)`` around the image center).
    Without it: keep the resolution and pad right/bottom up to ``size_divisor``."""

    def __init__(self, input_size: Optional[Tuple[int, int]] = (512, 512), size_divisor: int = 32,
                 border_value: Tuple[int, int, int] = (0, 0, 0)) -> None:
        self.input_size = tuple(input_size) if input_size is not None else None
        self.size_divisor = size_divisor
        self.border_value = tuple(border_value)

    def transform(self, results: Dict) -> Dict:
        h, w = results['img'].shape[:2]
        if self.input_size is None:
            d = self.size_divisor
            out = (int(np.ceil(h / d) * d), int(np.ceil(w / d) * d))
            return apply_affine(results, np.eye(3), out, border_value=self.border_value)
        out_w, out_h = self.input_size
        side = max(float(w), h * out_w / float(out_h))  # the whole image fits, aspect kept
        matrix = center_scale_affine((w / 2.0, h / 2.0), side, self.input_size)
        return apply_affine(results, matrix, (out_h, out_w), border_value=self.border_value)
