"""DLA-34 backbone (Yu et al., "Deep Layer Aggregation", 2018) as CenterNet uses it.

Six levels with channels (16, 32, 64, 128, 256, 512) at strides 1, 2, 4, 8, 16, 32:
``base_layer`` (7x7 conv) and ``level0``/``level1`` (3x3 conv levels), then
``level2..level5``: hierarchical :class:`Tree` aggregations of :class:`DLABasicBlock`
joined by :class:`Root` nodes (1x1 conv over the concatenated children). No
deformable convolution anywhere.

Parameter names follow the original DLA layout (``base_layer.0``,
``level3.tree1.tree1.conv1``, ``level3.tree2.root.conv`` ...) so a local ImageNet
checkpoint loads with ``pretrained=<path>``. One difference: the original builds a
``project`` (1x1 conv + BN) in every strided/widening Tree, also in the outer Trees
with ``levels > 1`` whose projection output is overwritten by the inner Tree and
never used. Those dead parameters are not built here (they would break DDP without
``find_unused_parameters``), and their checkpoint keys are skipped when loading.
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from centerx.registry import MODELS
from .resnet import load_pretrained


def _conv_bn_relu(in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_ch), nn.ReLU(inplace=True))


class DLABasicBlock(nn.Module):
    """Two 3x3 convs plus a residual given by the caller. (B,Cin,H,W) -> (B,C,H/s,W/s)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        """``residual`` (B,C,H/s,W/s) defaults to ``x`` (only valid when s=1 and Cin=C)."""
        residual = x if residual is None else residual
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + residual)


class Root(nn.Module):
    """Aggregation node: 1x1 conv + BN + ReLU over the channel-concatenated children."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, *children: Tensor) -> Tensor:
        """children: maps (B, C_i, H, W) with sum(C_i) = in_ch -> (B, out_ch, H, W)."""
        return self.relu(self.bn(self.conv(torch.cat(children, dim=1))))


class Tree(nn.Module):
    """Hierarchical (iterative + tree) aggregation of ``2**levels`` basic blocks.

    Args:
        levels: depth of the tree; ``levels == 1`` is two blocks and a root.
        in_ch / out_ch: channels in and out.
        stride: spatial stride of the first block (a max-pool gives the matching
            residual / root child).
        level_root: whether the (pooled) input joins the deepest root as a child.
        root_dim: channels entering the root; 0 means ``2 * out_ch`` (+ ``in_ch`` if
            ``level_root``).
    """

    def __init__(self, levels: int, in_ch: int, out_ch: int, stride: int = 1, level_root: bool = False,
                 root_dim: int = 0) -> None:
        super().__init__()
        if root_dim == 0:
            root_dim = 2 * out_ch
        if level_root:
            root_dim += in_ch
        self.levels = levels
        self.level_root = level_root
        self.downsample = nn.MaxPool2d(stride, stride=stride) if stride > 1 else None
        self.project: Optional[nn.Sequential] = None
        if levels == 1:
            self.tree1: nn.Module = DLABasicBlock(in_ch, out_ch, stride)
            self.tree2: nn.Module = DLABasicBlock(out_ch, out_ch, 1)
            self.root = Root(root_dim, out_ch)
            if in_ch != out_ch:
                self.project = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        else:
            self.tree1 = Tree(levels - 1, in_ch, out_ch, stride, root_dim=0)
            self.tree2 = Tree(levels - 1, out_ch, out_ch, 1, root_dim=root_dim + out_ch)

    def forward(self, x: Tensor, children: Optional[List[Tensor]] = None) -> Tensor:
        """(B, in_ch, H, W) -> (B, out_ch, H/stride, W/stride)."""
        children = [] if children is None else children
        bottom = x if self.downsample is None else self.downsample(x)
        if self.level_root:
            children.append(bottom)
        if self.levels == 1:
            residual = bottom if self.project is None else self.project(bottom)
            x1 = self.tree1(x, residual)
            x2 = self.tree2(x1)
            return self.root(x2, x1, *children)
        x1 = self.tree1(x)
        children.append(x1)
        return self.tree2(x1, children=children)


@MODELS.register_module()
class DLA(nn.Module):
    """DLA-34 backbone returning all six level features.

    Args:
        depth: only 34 is supported.
        pretrained: LOCAL path of a checkpoint in the original DLA layout, or None.

    Shapes:
        input ``(B, 3, H, W)``; output a tuple of 6 maps, level ``i`` being
        ``(B, out_channels[i], H / 2**i, W / 2**i)`` (H, W divisible by 32).
    """

    settings = {34: ((1, 1, 1, 2, 2, 1), (16, 32, 64, 128, 256, 512))}

    def __init__(self, depth: int = 34, pretrained: Optional[str] = None) -> None:
        super().__init__()
        if depth not in self.settings:
            raise KeyError(f'DLA depth must be one of {sorted(self.settings)}, got {depth}')
        levels, channels = self.settings[depth]
        self.depth = depth
        self.out_channels: Tuple[int, ...] = tuple(channels)
        self.base_layer = _conv_bn_relu(3, channels[0], 7)
        self.level0 = self._conv_level(channels[0], channels[0], levels[0], stride=1)
        self.level1 = self._conv_level(channels[0], channels[1], levels[1], stride=2)
        self.level2 = Tree(levels[2], channels[1], channels[2], 2, level_root=False)
        self.level3 = Tree(levels[3], channels[2], channels[3], 2, level_root=True)
        self.level4 = Tree(levels[4], channels[3], channels[4], 2, level_root=True)
        self.level5 = Tree(levels[5], channels[4], channels[5], 2, level_root=True)
        self._init_weights()
        if pretrained is not None:
            load_pretrained(self, pretrained, ignore_prefixes=('fc.', *self._dead_project_prefixes()))

    @staticmethod
    def _conv_level(in_ch: int, out_ch: int, num_convs: int, stride: int) -> nn.Sequential:
        """``num_convs`` 3x3 conv-BN-ReLU, the first strided; flat Sequential (``levelN.0/1/2 ...``)."""
        mods: List[nn.Module] = []
        for i in range(num_convs):
            mods.extend(_conv_bn_relu(in_ch if i == 0 else out_ch, out_ch, 3, stride if i == 0 else 1))
        return nn.Sequential(*mods)

    def _dead_project_prefixes(self) -> Tuple[str, ...]:
        """Checkpoint key prefixes of the unused outer-Tree projections of the original DLA."""
        return tuple(f'{name}.project.' for name, m in self.named_modules() if isinstance(m, Tree) and m.levels > 1)

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(B, 3, H, W) -> 6 maps at strides 1, 2, 4, 8, 16, 32."""
        x = self.base_layer(x)
        outs: List[Tensor] = []
        for i in range(6):
            x = getattr(self, f'level{i}')(x)
            outs.append(x)
        return tuple(outs)
