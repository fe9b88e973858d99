"""ResNet-18/34/50 backbone (He et al. 2016) with a configurable width.

Parameter names follow the common torchvision layout (``conv1``, ``bn1``,
``layer1.0.conv1``, ``layer2.0.downsample.0`` ...), so a local torchvision-format
ImageNet checkpoint loads with ``pretrained=<path>`` (the ``fc.*`` classifier keys
are ignored). ``base_channels=64`` is the real network; smaller values (24, 8)
give tiny variants with the same topology for tests.

This module also holds :func:`load_pretrained`, the local-checkpoint loader shared
by the backbones.
"""
from __future__ import annotations

import logging
import os
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Type, Union

from mmengine.logging import print_log
from torch import Tensor, nn

from centerx.registry import MODELS

# ----------------------------------------------------------------------------
# Local pretrained-checkpoint loading (shared with the DLA backbone).
# ----------------------------------------------------------------------------

_STRIP_PREFIXES = ('module.', 'backbone.')


def _extract_state_dict(ckpt: object) -> Dict[str, Tensor]:
    """Return the tensor mapping inside a loaded checkpoint object."""
    if isinstance(ckpt, nn.Module):
        return ckpt.state_dict()
    if not isinstance(ckpt, dict):
        raise TypeError(f'checkpoint holds a {type(ckpt).__name__}, expected a dict of tensors')
    for key in ('state_dict', 'model', 'model_state_dict'):
        inner = ckpt.get(key)
        if isinstance(inner, dict):
            return inner
    return ckpt  # already a plain state dict


def _strip_prefixes(state: Dict[str, Tensor]) -> Tuple[Dict[str, Tensor], List[str]]:
    """Drop a leading ``module.`` and/or ``backbone.`` from every key.

    When some keys carry ``backbone.`` (a whole-detector checkpoint), only those are
    kept; the others (neck, heads ...) are returned as the second item.
    """
    out: Dict[str, Tensor] = {}
    for key, value in state.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        out[key] = value
    if any(k.startswith('backbone.') for k in out):
        dropped = [k for k in out if not k.startswith('backbone.')]
        out = {k[len('backbone.'):]: v for k, v in out.items() if k.startswith('backbone.')}
        return out, dropped
    return out, []


def load_pretrained(module: nn.Module, path: str, ignore_prefixes: Iterable[str] = ('fc.',)) -> None:
    """Load a LOCAL checkpoint file into ``module`` non-strictly.

    Args:
        module: the backbone to fill.
        path: local checkpoint path (a state dict, or a dict holding one under
            ``state_dict``/``model``). Keys may carry ``module.``/``backbone.`` prefixes.
        ignore_prefixes: keys starting with one of these are skipped silently
            (``fc.`` by default: the ImageNet classifier).

    Raises:
        FileNotFoundError: ``path`` does not exist.

    Missing keys, unexpected keys and shape mismatches (skipped) are logged with
    mmengine's ``print_log``.
    """
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f'pretrained checkpoint not found: {path}')
    from centerx.engine.checkpoint import load_checkpoint_file  # lazy: avoids an import cycle

    state, foreign = _strip_prefixes(_extract_state_dict(load_checkpoint_file(path, map_location='cpu')))
    ignore = tuple(ignore_prefixes)
    state = {k: v for k, v in state.items() if not k.startswith(ignore)}

    own = module.state_dict()
    bad_shape = {k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)}
    mismatched = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}' for k in sorted(bad_shape)]
    state = {k: v for k, v in state.items() if k not in bad_shape}
    result = module.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith('num_batches_tracked') and k not in bad_shape]
    name = type(module).__name__
    print_log(f'{name}: loaded {len(state) - len(result.unexpected_keys)} tensors from {path}', logger='current')
    if foreign:
        print_log(f'{name}: ignored {len(foreign)} non-backbone keys in {path}', logger='current')
    for title, keys in (('missing keys', missing), ('unexpected keys', result.unexpected_keys),
                        ('shape mismatches (skipped)', mismatched)):
        if keys:
            print_log(f'{name}: {title} in {path}: {", ".join(keys)}', logger='current', level=logging.WARNING)


# ----------------------------------------------------------------------------
# Blocks
# ----------------------------------------------------------------------------


def _conv3x3(in_ch: int, out_ch: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, 3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with an identity (or 1x1-projected) shortcut. (B,Cin,H,W) -> (B,C,H/s,W/s)."""

    expansion = 1

    def __init__(self, in_ch: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_ch, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided, torchvision "v1.5"), 1x1 expand by 4. (B,Cin,H,W) -> (B,4C,H/s,W/s)."""

    expansion = 4

    def __init__(self, in_ch: int, planes: int, stride: int = 1, downsample: Optional[nn.Module] = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


# ----------------------------------------------------------------------------
# ResNet
# ----------------------------------------------------------------------------


@MODELS.register_module()
class ResNet(nn.Module):
    """ResNet backbone returning stage features at strides 4/8/16/32.

    Args:
        depth: 18, 34 (BasicBlock) or 50 (Bottleneck).
        base_channels: width of the stem and of ``layer1`` (64 is the real ResNet).
        out_indices: which of ``layer1..layer4`` (0..3) to return, in order.
        frozen_stages: -1 freezes nothing; 0 freezes the stem (``conv1``, ``bn1``);
            ``i >= 1`` freezes the stem and ``layer1..layer{i}`` (no grads, BN in eval).
        norm_eval: keep every BatchNorm in eval mode (frozen running stats) in ``train()``.
        pretrained: LOCAL path of a (torchvision-format) checkpoint to load, or None.

    Shapes:
        input ``(B, 3, H, W)``; output a tuple with, for each ``i`` in ``out_indices``,
        ``(B, out_channels[k], H / 2**(i+2), W / 2**(i+2))`` (rounded up per stride-2 step).
    """

    arch_settings: Dict[int, Tuple[Type[Union[BasicBlock, Bottleneck]], Tuple[int, int, int, int]]] = {
        18: (BasicBlock, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
    }

    def __init__(self,
                 depth: int,
                 base_channels: int = 64,
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1,
                 norm_eval: bool = False,
                 pretrained: Optional[str] = None) -> None:
        super().__init__()
        if depth not in self.arch_settings:
            raise KeyError(f'ResNet depth must be one of {sorted(self.arch_settings)}, got {depth}')
        self.out_indices = tuple(int(i) for i in out_indices)
        if not self.out_indices or any(i < 0 or i > 3 for i in self.out_indices):
            raise ValueError(f'out_indices must be a non-empty subset of 0..3, got {out_indices}')
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f'frozen_stages must be in -1..4, got {frozen_stages}')
        self.depth = depth
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        block, blocks = self.arch_settings[depth]

        self.conv1 = nn.Conv2d(3, base_channels, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_channels)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_ch = base_channels
        stage_channels: List[int] = []
        for i, num_blocks in enumerate(blocks):
            planes = base_channels * 2**i
            layer, in_ch = self._make_layer(block, in_ch, planes, num_blocks, stride=1 if i == 0 else 2)
            self.add_module(f'layer{i + 1}', layer)
            stage_channels.append(in_ch)
        self.out_channels: Tuple[int, ...] = tuple(stage_channels[i] for i in self.out_indices)

        self._init_weights()
        if pretrained is not None:
            load_pretrained(self, pretrained)
        self._freeze_stages()

    @staticmethod
    def _make_layer(block: Type[Union[BasicBlock, Bottleneck]], in_ch: int, planes: int, num_blocks: int,
                    stride: int) -> Tuple[nn.Sequential, int]:
        out_ch = planes * block.expansion
        downsample = None
        if stride != 1 or in_ch != out_ch:
            downsample = nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch))
        layers = [block(in_ch, planes, stride, downsample)]
        layers += [block(out_ch, planes) for _ in range(1, num_blocks)]
        return nn.Sequential(*layers), out_ch

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _frozen_modules(self) -> List[nn.Module]:
        mods: List[nn.Module] = []
        if self.frozen_stages >= 0:
            mods += [self.conv1, self.bn1]
        mods += [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]
        return mods

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> 'ResNet':
        """Switch mode, keeping frozen stages (and all BN when ``norm_eval``) in eval."""
        super().train(mode)
        if mode:
            for m in self._frozen_modules():
                m.eval()
            if self.norm_eval:
                for m in self.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.eval()
        return self

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        """(B, 3, H, W) -> tuple of the ``out_indices`` stage maps (strides 4/8/16/32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        feats: List[Tensor] = []
        for i in range(max(self.out_indices) + 1):
            x = getattr(self, f'layer{i + 1}')(x)
            feats.append(x)
        return tuple(feats[i] for i in self.out_indices)
