"""Learned loss weighting by homoscedastic uncertainty (Kendall, Gal & Cipolla, CVPR 2018)."""
from __future__ import annotations

from typing import Dict, Iterable, Tuple

import torch
from torch import Tensor, nn

from centerx.registry import MODELS


@MODELS.register_module()
class UncertaintyLossBalancing(nn.Module):
    """Weight each loss group ``g`` by a learned ``exp(-s_g)`` and add ``s_g``.

    ``L = sum_g exp(-s_g) * L_g + s_g`` with one log-variance ``s_g`` per group (per head, the
    heatmap loss and each task's losses are groups), initialised at ``init`` (0: weight 1).
    The per-term weights of the config still apply inside ``L_g``. A group whose loss is
    exactly zero in a batch (no image annotated for it) adds no ``s_g`` term, so its weight
    does not drift while it has no data. ``weight_<group>`` values are logged (not summed).

    Args:
        groups: the group names, e.g. ``objects.heatmap``, ``objects.box2d``.
        init: initial log-variance.
    """

    def __init__(self, groups: Iterable[str], init: float = 0.0) -> None:
        super().__init__()
        self.log_vars = nn.ParameterDict({self._key(g): nn.Parameter(torch.tensor(float(init))) for g in groups})

    @staticmethod
    def _key(group: str) -> str:
        return group.replace('.', '__')

    def forward(self, grouped: Dict[str, Dict[str, Tensor]]) -> Tuple[Dict[str, Tensor], Dict[str, Tensor]]:
        """Reweight ``{group: {loss name: loss}}``.

        Returns:
            the reweighted losses (same names) plus one ``loss_uncertainty_<group>`` term per
            non-zero group, and the logged weights ``{weight_<group>: exp(-s_g)}``.
        """
        losses: Dict[str, Tensor] = {}
        logs: Dict[str, Tensor] = {}
        for group, terms in grouped.items():
            s = self.log_vars[self._key(group)]
            weight = torch.exp(-s)
            total = sum(terms.values())
            for name, value in terms.items():
                losses[name] = weight * value
            if bool(total.detach() != 0):
                losses[f'loss_uncertainty_{self._key(group)}'] = s
            logs[f'weight_{self._key(group)}'] = weight.detach()
        return losses, logs
