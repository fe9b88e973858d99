"""Multi-scale views of a batch: the network input resized by a factor, and image metas whose
affine says so, so every decoder maps its detections back to the original image unchanged.

The resize is ``F.interpolate(bilinear, scale_factor=s, align_corners=False,
recompute_scale_factor=False)``: output pixel ``i`` samples the input at ``(i + 0.5) / s - 0.5``,
i.e. in continuous pixel coordinates (pixel edges at integers, the convention of boxes and
of :attr:`~centerx.structures.ImageMeta.affine`) the map is exactly ``x -> s * x`` in both axes,
whatever the input size. The resized batch (``floor(H * s) x floor(W * s)``) is padded at the
bottom and right up to the preprocessor's size divisor with its padding value, which does not
move any pixel. Each view's metas are copies with ``affine <- diag(s, s, 1) @ affine`` and
scaled ``img_shape`` / ``pad_shape``; ``ori_shape``, ``flipped`` and ``task_metas`` (which
describe the original image) are unchanged.

The view resizes the network input, not the original image: a scale above 1 upsamples the
letterboxed input (it cannot add detail the input lost). To test large scales at full
detail, set the test pipeline's input size to the largest scale and use scales <= 1.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import List

import numpy as np
import torch.nn.functional as F
from mmengine.structures import InstanceData
from torch import Tensor

from centerx.structures import DetSample, ImageMeta


@dataclass
class ScaledView:
    """One test-time view of a batch.

    Attributes:
        scale: the resize factor ``s``.
        inputs: (B, 3, H_s, W_s) normalized network input of the view.
        samples: the B samples with the view's metas (no ground truth: a view is for predicting).
    """

    scale: float
    inputs: Tensor
    samples: List[DetSample]


def scale_meta(meta: ImageMeta, scale: float, pad_shape: tuple) -> ImageMeta:
    """A copy of ``meta`` for the input resized by ``scale`` and padded to ``pad_shape`` (H, W)."""
    affine = np.diag([scale, scale, 1.0]) @ meta.affine
    img_shape = tuple(min(int(math.floor(v * scale)), p) for v, p in zip(meta.img_shape, pad_shape))
    return dataclasses.replace(meta, affine=affine, img_shape=img_shape, pad_shape=tuple(pad_shape),
                               task_metas=dict(meta.task_metas), extras=dict(meta.extras))


def scaled_view(inputs: Tensor, samples: List[DetSample], scale: float, size_divisor: int,
                pad_value: Tensor) -> ScaledView:
    """The view of a batch at ``scale`` (module docstring); scale 1 returns the batch as it is.

    Args:
        inputs: (B, 3, H, W) normalized network input.
        samples: the B samples (their metas describe ``inputs``).
        scale: resize factor > 0.
        size_divisor: pad the resized input up to a multiple of this (the backbone's need).
        pad_value: (3, 1, 1) normalized value of padded pixels.
    """
    if scale == 1.0:
        return ScaledView(scale=1.0, inputs=inputs, samples=list(samples))
    resized = F.interpolate(inputs, scale_factor=scale, mode='bilinear', align_corners=False,
                            recompute_scale_factor=False)
    h, w = resized.shape[-2:]
    div = max(int(size_divisor), 1)
    ph, pw = max(div, math.ceil(h / div) * div), max(div, math.ceil(w / div) * div)
    padded = pad_value.to(resized).expand(inputs.shape[0], inputs.shape[1], ph, pw).clone()
    hh, ww = min(h, ph), min(w, pw)
    padded[..., :hh, :ww] = resized[..., :hh, :ww]
    view_samples = [DetSample(meta=scale_meta(s.meta, scale, (ph, pw)), gt=InstanceData(),
                              annotated_labels=s.annotated_labels) for s in samples]
    return ScaledView(scale=scale, inputs=padded, samples=view_samples)
