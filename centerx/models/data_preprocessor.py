"""Batching: stack and normalize images, move ground truth to the model's device."""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from centerx.registry import MODELS
from centerx.structures import DetSample


@MODELS.register_module()
class DetDataPreprocessor(BaseDataPreprocessor):
    """Pad a list of (3, H, W) uint8 images to one batch and normalize it.

    Args:
        mean, std: per-channel statistics in 0-255 units, in the channel order after
            ``bgr_to_rgb``.
        bgr_to_rgb: images come from OpenCV (BGR); convert to RGB first.
        pad_size_divisor: pad H and W up to a multiple (32 suits the backbones).
        pad_value: value of padded pixels (before normalization).
    """

    def __init__(self, mean: Sequence[float] = (123.675, 116.28, 103.53),
                 std: Sequence[float] = (58.395, 57.12, 57.375), bgr_to_rgb: bool = True,
                 pad_size_divisor: int = 32, pad_value: float = 0.0) -> None:
        super().__init__()
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False)
        self.bgr_to_rgb = bgr_to_rgb
        self.pad_size_divisor = pad_size_divisor
        self.pad_value = pad_value

    def forward(self, data: Dict, training: bool = False) -> Dict:
        """``{'inputs': [(3, H, W) uint8], 'data_samples': [DetSample]}`` -> normalized (B, 3, H', W')."""
        images: List[torch.Tensor] = list(data['inputs'])
        samples: Optional[List[DetSample]] = data.get('data_samples')
        h = max(img.shape[1] for img in images)
        w = max(img.shape[2] for img in images)
        div = max(self.pad_size_divisor, 1)
        h, w = int(math.ceil(h / div) * div), int(math.ceil(w / div) * div)
        batch = []
        for img in images:
            img = img.to(self.device, non_blocking=True).float()
            if self.bgr_to_rgb:
                img = img.flip(0)
            img = (img - self.mean) / self.std
            pad_value = (self.pad_value - self.mean) / self.std
            padded = pad_value.expand(3, h, w).clone()
            padded[:, :img.shape[1], :img.shape[2]] = img
            batch.append(padded)
        inputs = torch.stack(batch)
        if samples is not None:
            moved = []
            for s in samples:
                s = s.to(self.device)
                s.meta.pad_shape = (h, w)
                moved.append(s)
            samples = moved
        return {'inputs': inputs, 'data_samples': samples}
