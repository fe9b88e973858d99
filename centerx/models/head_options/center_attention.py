"""Center-size attention: the regression branches see the feature gated by the center evidence.

CenterNet regresses size (angle, depth ...) at every cell but only trains and reads it at the
centers; where the heatmap says "center", the regression should attend. With ``z`` the head's
heatmap logits (B, Cz, H, W) (one channel per class, or the single class-agnostic center channel)
and ``f`` the stride-4 feature (B, Cf, H, W)::

    a = conv3x3(sg(z))                    (B, 1, H, W), one spatial attention map
    f_reg = f * 2 sigmoid(a)              broadcast over the Cf channels

``sg`` is a stop-gradient (``detach=True``, the default): the heatmap is trained by its focal loss
alone and the regression losses cannot bend it to open their own gate; with ``detach=False`` they
can (a joint objective). The conv starts at zero (weights and bias), so ``2 sigmoid(a) = 1`` and the
regression branches start exactly as without the option; the gate can then amplify the feature
(up to 2x) where centers are and suppress it (to 0) elsewhere. The heatmap branch itself always
reads the ungated ``f``.
"""
from __future__ import annotations

from typing import Optional, Union

import torch
from torch import Tensor, nn


class CenterAttention(nn.Module):
    """``f_reg = f * 2 sigmoid(conv3x3(sg(z)))`` (module docstring).

    Args:
        logit_channels: channels ``Cz`` of the heatmap logits.
        detach: stop the regression losses' gradient at the heatmap logits.
    """

    def __init__(self, logit_channels: int, detach: bool = True) -> None:
        super().__init__()
        self.detach = detach
        self.conv = nn.Conv2d(logit_channels, 1, 3, padding=1)
        nn.init.zeros_(self.conv.weight)
        nn.init.zeros_(self.conv.bias)

    def gate(self, logits: Tensor) -> Tensor:
        """(B, Cz, H, W) heatmap logits -> (B, 1, H, W) gate ``2 sigmoid(a)`` in (0, 2)."""
        return 2 * torch.sigmoid(self.conv(logits.detach() if self.detach else logits))

    def forward(self, feat: Tensor, logits: Tensor) -> Tensor:
        """(B, Cf, H, W) feature and (B, Cz, H, W) heatmap logits -> (B, Cf, H, W) gated feature."""
        return feat * self.gate(logits)


def build_center_attention(cfg: Union[bool, dict, None], logit_channels: int, where: str) -> Optional[CenterAttention]:
    """``center_attention`` of a head's config: False/None (off), True (defaults) or
    ``dict(detach=...)``.

    Raises:
        ValueError: any other value, naming ``where`` (the head).
    """
    if cfg is None or cfg is False:
        return None
    if cfg is True:
        return CenterAttention(logit_channels)
    if isinstance(cfg, dict):
        unknown = set(cfg) - {'detach'}
        if unknown:
            raise ValueError(f'{where}: center_attention takes only detach=..., got {sorted(unknown)}')
        return CenterAttention(logit_channels, **cfg)
    raise ValueError(f'{where}: center_attention must be True, False or dict(detach=...), got {cfg!r}')
