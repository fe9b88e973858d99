"""A light U-Net-style upsampling neck: the deconv neck plus one skip connection per level.

:class:`~centerx.models.necks.DeconvNeck` (CenterNet's ResNet neck) upsamples only the
stride-32 map, so every detail at stride 4 has to survive three 2x downsamplings and come
back through the decoder. From random initialisation that learns slowly (issue 9: with this neck
the box2d demo's COCO AP was 0.068 instead of 0.030 at 400 x 16, docs/benchmarks.md). This neck
adds, at every stage, the
backbone map of the same stride (FPN's lateral connection; TTFNet's "shortcut"):

``x <- ReLU(BN(up(ReLU(BN(conv3x3(x))))) + BN(conv1x1(c_s)))``, from stride 32 down to 4,

where ``up`` is a depthwise stride-2 transposed conv initialised as bilinear upsampling and
``c_s`` the backbone map at the new stride. The 3x3 convs run at the coarse resolution
before each upsampling and the laterals are 1x1, so it costs little more than the deconv neck
(4.8 vs 3.7 GFLOP per batch of 16 at 256x256 with the demo widths; DLA-up at stride 4: 14.0) and
has fewer parameters, with the same stage widths.
"""
from __future__ import annotations

from typing import List, Sequence, Union

from torch import Tensor, nn

from centerx.registry import MODELS

from .deconv import fill_bilinear_


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int) -> nn.Sequential:
    conv = nn.Conv2d(in_ch, out_ch, kernel, padding=kernel // 2, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode='fan_out', nonlinearity='relu')
    return nn.Sequential(conv, nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class _SkipUpStage(nn.Module):
    """One 2x stage: 3x3 conv at the coarse stride, bilinear-initialised 2x upsampling, plus a
    1x1-projected lateral of the finer backbone map.

    Shapes: ``x (B, in_ch, h, w)``, ``lateral (B, lateral_ch, 2h, 2w)`` -> ``(B, out_ch, 2h, 2w)``.
    """

    def __init__(self, in_ch: int, lateral_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = _conv_bn_relu(in_ch, out_ch, 3)
        self.up = fill_bilinear_(nn.ConvTranspose2d(out_ch, out_ch, 4, stride=2, padding=1, groups=out_ch,
                                                    bias=False))
        self.up_bn = nn.BatchNorm2d(out_ch)
        self.lateral = nn.Sequential(nn.Conv2d(lateral_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        nn.init.kaiming_normal_(self.lateral[0].weight, mode='fan_out', nonlinearity='relu')
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor, lateral: Tensor) -> Tensor:
        up = self.up_bn(self.up(self.conv(x)))
        return self.relu(up[..., :lateral.shape[-2], :lateral.shape[-1]] + self.lateral(lateral))


@MODELS.register_module()
class SkipUpNeck(nn.Module):
    """Stride 32 to stride 4 with a skip connection from every backbone level on the way.

    Args:
        in_channels: channels of the backbone levels, finest first, each level 2x coarser
            (a ResNet's ``(C, 2C, 4C, 8C)`` at strides 4/8/16/32).
        out_channels: channels of each stage, coarse to fine (an int is used for all);
            ``len(out_channels)`` stages use the ``len(out_channels) + 1`` coarsest levels.
        final_conv: add a 3x3 conv-BN-ReLU after the last merge (mixes the lateral into
            its neighbourhood at the output stride; costs one 3x3 conv at stride 4).

    Shapes:
        input: the backbone tuple, level ``i`` ``(B, in_channels[i], H / s_i, W / s_i)``;
        output: ``(B, out_channels[-1], H_0, W_0)`` at the stride of level
        ``len(in_channels) - 1 - len(out_channels)`` (level 0, stride 4, for a ResNet and
        three stages).
    """

    def __init__(self, in_channels: Sequence[int], out_channels: Union[int, Sequence[int]] = (96, 64, 48),
                 final_conv: bool = True) -> None:
        super().__init__()
        levels = [int(c) for c in in_channels]
        n = 3 if isinstance(out_channels, int) else len(out_channels)
        widths = [int(out_channels)] * n if isinstance(out_channels, int) else [int(c) for c in out_channels]
        if not widths or len(levels) < n + 1:
            raise ValueError(f'SkipUpNeck: {n} stages need {n + 1} backbone levels, got in_channels={in_channels}')
        self.in_channels = tuple(levels)
        self.first_level = len(levels) - 1 - n
        stages: List[nn.Module] = []
        c_in = levels[-1]
        for k, c in enumerate(widths):
            stages.append(_SkipUpStage(c_in, levels[-2 - k], c))
            c_in = c
        self.stages = nn.ModuleList(stages)
        self.final = _conv_bn_relu(c_in, c_in, 3) if final_conv else nn.Identity()
        self.out_channels: int = c_in

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Backbone tuple -> (B, out_channels, H / s, W / s) at the stride of level ``first_level``."""
        if len(feats) != len(self.in_channels):
            raise ValueError(f'SkipUpNeck expected {len(self.in_channels)} feature maps, got {len(feats)}')
        x = feats[-1]
        for k, stage in enumerate(self.stages):
            x = stage(x, feats[-2 - k])
        return self.final(x)
