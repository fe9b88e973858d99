"""A tiny conv backbone (a few strided 3x3 conv-BN-ReLU stages) for fast tests."""
from __future__ import annotations

from typing import List, Sequence, Tuple

from torch import Tensor, nn

from centerx.registry import MODELS


def _conv_bn_relu(in_ch: int, out_ch: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


@MODELS.register_module()
class TinyBackbone(nn.Module):
    """Strided conv stages giving features at strides 4, 8, 16, 32.

    The stem is two stride-2 convs (3 -> channels[0] at stride 4); every further
    stage is one stride-2 conv. ``len(channels)`` stages (at least 1) are returned.

    Args:
        channels: output channels of each stage.

    Shapes:
        input ``(B, 3, H, W)``; stage ``i`` output ``(B, channels[i], H / 2**(i+2), W / 2**(i+2))``.
    """

    def __init__(self, channels: Sequence[int] = (8, 16, 32, 64)) -> None:
        super().__init__()
        if len(channels) < 1:
            raise ValueError('TinyBackbone needs at least one stage')
        self.out_channels: Tuple[int, ...] = tuple(int(c) for c in channels)
        c0 = self.out_channels[0]
        stages: List[nn.Module] = [nn.Sequential(_conv_bn_relu(3, c0, 2), _conv_bn_relu(c0, c0, 2))]
        for c_in, c_out in zip(self.out_channels[:-1], self.out_channels[1:]):
            stages.append(_conv_bn_relu(c_in, c_out, 2))
        self.stages = nn.ModuleList(stages)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(B, 3, H, W) -> tuple of stage maps at strides 4, 8, 16, 32."""
        outs: List[Tensor] = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return tuple(outs)
