"""CenterNet's ResNet upsampling neck: three (3x3 conv, 2x transposed conv) stages.

Each stage is a 3x3 conv + BN + ReLU (CenterNet uses a deformable conv here; this is
a plain conv) followed by a stride-2 ``ConvTranspose2d`` + BN + ReLU whose weights
start as bilinear upsampling. Stride 32 in, stride 4 out.

This module also holds :func:`bilinear_kernel` / :func:`fill_bilinear_`, shared with
the DLA-up neck.
"""
from __future__ import annotations

from typing import Dict, List, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

from centerx.registry import MODELS

# kernel -> (padding, output_padding) for an exact 2x upsampling with stride 2
_DECONV_CFG: Dict[int, Tuple[int, int]] = {4: (1, 0), 3: (1, 1), 2: (0, 0)}


def bilinear_kernel(size: int) -> Tensor:
    """(size, size) bilinear interpolation kernel (the FCN / CenterNet ``fill_up_weights`` formula).

    For ``size = 2 * f`` used with stride ``f`` and padding ``f // 2`` it is exact
    bilinear upsampling: the taps landing on every interior output pixel sum to 1.
    """
    f = (size + 1) // 2
    center = (2 * f - 1 - f % 2) / (2.0 * f)
    ramp = 1 - (torch.arange(size, dtype=torch.float64) / f - center).abs()
    return (ramp[:, None] * ramp[None, :]).float()


@torch.no_grad()
def fill_bilinear_(deconv: nn.ConvTranspose2d) -> nn.ConvTranspose2d:
    """Make ``deconv`` a per-channel bilinear upsampler (in place).

    Depthwise (``groups == channels``): every channel gets the bilinear kernel.
    Dense (``groups == 1``, in == out): channel ``c`` -> ``c`` gets the kernel, the
    cross-channel weights are zero. The bias (if any) is zeroed.
    """
    w = deconv.weight  # (C_in, C_out / groups, k, k)
    kernel = bilinear_kernel(w.shape[2]).to(w)
    if w.shape[1] == 1:
        w.copy_(kernel.expand_as(w))
    elif w.shape[0] == w.shape[1]:
        w.zero_()
        idx = torch.arange(w.shape[0])
        w[idx, idx] = kernel
    else:
        raise ValueError(f'bilinear init needs a depthwise or square transposed conv, got weight {tuple(w.shape)}')
    if deconv.bias is not None:
        deconv.bias.zero_()
    return deconv


@MODELS.register_module()
class DeconvNeck(nn.Module):
    """Upsample the stride-32 backbone map to stride 4.

    Args:
        in_channels: channels of the backbone's last (stride-32) feature (given a
            sequence of per-level channels, its last entry is used).
        out_channels: channels of each stage (an int is used for all stages).
        num_deconv: number of 2x stages (3 for stride 32 -> 4).
        kernel: transposed-conv kernel size (4, 3 or 2; always stride 2).

    Shapes:
        input: a backbone tuple whose last map is ``(B, in_channels, H/32, W/32)``;
        output: ``(B, out_channels[-1], H/32 * 2**num_deconv, ...)``, i.e. ``(B, C, H/4, W/4)``.
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 out_channels: Union[int, Sequence[int]] = (256, 128, 64),
                 num_deconv: int = 3,
                 kernel: int = 4) -> None:
        super().__init__()
        if kernel not in _DECONV_CFG:
            raise ValueError(f'kernel must be one of {sorted(_DECONV_CFG)}, got {kernel}')
        widths = [int(out_channels)] * num_deconv if isinstance(out_channels, int) else [int(c) for c in out_channels]
        if len(widths) != num_deconv:
            raise ValueError(f'{len(widths)} out_channels given for num_deconv={num_deconv}')
        padding, output_padding = _DECONV_CFG[kernel]
        layers: List[nn.Module] = []
        c_in = int(in_channels) if isinstance(in_channels, int) else int(list(in_channels)[-1])
        for c in widths:
            conv = nn.Conv2d(c_in, c, 3, padding=1, bias=False)
            nn.init.kaiming_normal_(conv.weight, mode='fan_out', nonlinearity='relu')
            up = nn.ConvTranspose2d(c, c, kernel, stride=2, padding=padding, output_padding=output_padding, bias=False)
            fill_bilinear_(up)
            layers += [conv, nn.BatchNorm2d(c), nn.ReLU(inplace=True), up, nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            c_in = c
        self.layers = nn.Sequential(*layers)
        self.out_channels: int = c_in

    def forward(self, feats: Union[Sequence[Tensor], Tensor]) -> Tensor:
        """feats: backbone tuple (last map (B, in_channels, h, w)) or that map -> (B, out_channels, h*2**n, w*2**n)."""
        x = feats if isinstance(feats, Tensor) else feats[-1]
        return self.layers(x)
