"""CenterNet's DLA-up neck (DLAUp + IDAUp) with plain convolutions.

Iterative deep aggregation (IDA) merges maps coarse-to-fine: each coarser map is
projected (3x3 conv-BN-ReLU), upsampled by a depthwise transposed conv initialised
as bilinear upsampling, added to the previous (finer) result and fused by a node
(3x3 conv-BN-ReLU). CenterNet uses deformable convs for the projections and nodes;
here they are plain 3x3 convs.

``DLAUp`` applies IDA repeatedly from the coarsest level downwards, giving one map
per level from ``first_level`` on; a last IDA merges those (all but the coarsest)
into a single map at the stride of level ``first_level`` (stride 4 for DLA-34 with
``first_level=2``).
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

from torch import Tensor, nn

from centerx.registry import MODELS
from .deconv import fill_bilinear_


def _conv_bn_relu(in_ch: int, out_ch: int) -> nn.Sequential:
    conv = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
    nn.init.kaiming_normal_(conv.weight, mode='fan_out', nonlinearity='relu')
    return nn.Sequential(conv, nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


def _upsampler(channels: int, factor: int) -> nn.Module:
    """Depthwise bilinear-initialised ``factor``x transposed conv (identity for factor 1)."""
    if factor == 1:
        return nn.Identity()
    up = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor, padding=factor // 2, groups=channels,
                            bias=False)
    return fill_bilinear_(up)


class IDAUp(nn.Module):
    """One iterative deep aggregation pass.

    Args:
        out_channels: channels of every output.
        in_channels: channels of the inputs, finest first.
        up_factors: scale of each input relative to the first (``up_factors[0] == 1``).

    Shapes:
        inputs ``x[i]``: ``(B, in_channels[i], h / up_factors[i], w / up_factors[i])``;
        outputs ``y[i]``: ``(B, out_channels, h, w)`` with ``y[0] = proj(x[0])`` (identity
        when the channels already match) and ``y[i] = node(up(proj(x[i])) + y[i-1])``.
    """

    def __init__(self, out_channels: int, in_channels: Sequence[int], up_factors: Sequence[int]) -> None:
        super().__init__()
        if len(in_channels) != len(up_factors) or not in_channels or up_factors[0] != 1:
            raise ValueError(f'bad IDAUp spec: in_channels={in_channels}, up_factors={up_factors}')
        first = nn.Identity() if in_channels[0] == out_channels else _conv_bn_relu(in_channels[0], out_channels)
        self.proj = nn.ModuleList([first] + [_conv_bn_relu(c, out_channels) for c in in_channels[1:]])
        self.up = nn.ModuleList([nn.Identity()] + [_upsampler(out_channels, int(f)) for f in up_factors[1:]])
        nodes = [_conv_bn_relu(out_channels, out_channels) for _ in in_channels[1:]]
        self.node = nn.ModuleList([nn.Identity()] + nodes)

    def forward(self, xs: Sequence[Tensor]) -> List[Tensor]:
        """xs (finest first) -> list of the same length, all at the finest resolution."""
        ys = [self.proj[0](xs[0])]
        for i in range(1, len(xs)):
            ys.append(self.node[i](self.up[i](self.proj[i](xs[i])) + ys[-1]))
        return ys


class DLAUp(nn.Module):
    """Repeated IDA from the coarsest level down.

    Args:
        channels: channels of the used levels, finest first, each level 2x coarser.

    Shapes:
        inputs: one map per level, level ``i`` ``(B, channels[i], h / 2**i, w / 2**i)``;
        outputs: one map per level, output ``i`` is ``(B, channels[i], h / 2**i, w / 2**i)``
        (the last one is the input coarsest map itself).
    """

    def __init__(self, channels: Sequence[int]) -> None:
        super().__init__()
        channels = [int(c) for c in channels]
        scales = [2**i for i in range(len(channels))]
        in_ch = list(channels)
        idas: List[nn.Module] = []
        for j in range(len(channels) - 2, -1, -1):
            idas.append(IDAUp(channels[j], in_ch[j:], [s // scales[j] for s in scales[j:]]))
            scales[j + 1:] = [scales[j]] * (len(channels) - j - 1)
            in_ch[j + 1:] = [channels[j]] * (len(channels) - j - 1)
        self.idas = nn.ModuleList(idas)

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        layers = list(feats)
        outs = [layers[-1]]
        for k, ida in enumerate(self.idas):
            j = len(layers) - 2 - k
            layers[j:] = ida(layers[j:])
            outs.insert(0, layers[-1])
        return outs


@MODELS.register_module()
class DLAUpNeck(nn.Module):
    """DLAUp + final IDAUp, as in CenterNet's DLA-34 segmentation-style neck.

    Args:
        in_channels: channels of every backbone level (e.g. DLA-34's
            ``(16, 32, 64, 128, 256, 512)`` at strides 1..32).
        first_level: first backbone level used; the output is at its stride
            (``2**first_level`` for DLA, i.e. 4 by default).
        out_channels: channels of the output map.

    Shapes:
        input: the backbone tuple, level ``i`` ``(B, in_channels[i], H / 2**i, W / 2**i)``;
        output: ``(B, out_channels, H / 2**first_level, W / 2**first_level)``.
    """

    def __init__(self, in_channels: Sequence[int], first_level: int = 2, out_channels: int = 64) -> None:
        super().__init__()
        self.in_channels: Tuple[int, ...] = tuple(int(c) for c in in_channels)
        if not 0 <= first_level <= len(self.in_channels) - 2:
            raise ValueError(f'first_level={first_level} needs at least two levels from it in {in_channels}')
        self.first_level = first_level
        used = self.in_channels[first_level:]
        self.dla_up = DLAUp(used)
        n_merge = len(used) - 1  # the final IDA merges all DLAUp outputs but the coarsest
        self.ida_up = IDAUp(out_channels, used[:n_merge], [2**i for i in range(n_merge)])
        self.out_channels: int = int(out_channels)

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        """Backbone tuple (len(in_channels) maps) -> (B, out_channels, H / 2**first_level, W / 2**first_level)."""
        if len(feats) != len(self.in_channels):
            raise ValueError(f'expected {len(self.in_channels)} feature maps, got {len(feats)}')
        ups = self.dla_up(feats[self.first_level:])
        return self.ida_up(ups[:-1])[-1]
