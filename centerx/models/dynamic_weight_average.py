"""Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019: MTAN), per loss group.

Each group ``k`` (a head's heatmap, or one task of a head) is weighted by

    w_k(t) = K exp(r_k(t - 1) / T) / sum_i exp(r_i(t - 1) / T),    r_k(t - 1) = L_k(t - 1) / L_k(t - 2)

with ``K`` the number of groups and temperature ``T`` (2 in the paper): a group whose loss fell
less over the last period gets more weight; the weights sum to ``K``. The paper's ``L_k(t)`` is the
mean loss of epoch ``t``; with centerx's iteration-based schedules a "period" is ``period``
training iterations, ``L_k(t)`` the mean of the group's loss over period ``t``, and the weights
computed at the end of a period hold through the next one. For the first two periods (no ratio yet)
every weight is 1. A group whose mean loss over the earlier period is zero (no data) has ratio 1.

The weights need no gradient (no parameters); the running means are buffers, so they travel in
checkpoints. Under distributed training each rank averages its own losses (not reduced).
"""
from __future__ import annotations

from typing import Iterable, Optional

import torch
from torch import Tensor, nn

from centerx.registry import MODELS

from .loss_balancing import BalancedLosses, check_groups, check_same_groups
from .loss_groups import GroupLosses, LossGroup


@MODELS.register_module()
class DynamicWeightAverage(nn.Module):
    """DWA (module docstring) over the model's loss groups.

    Args:
        groups: the model's groups, in order.
        temperature: ``T``; larger is softer (``T -> inf``: all weights 1).
        period: training iterations per averaging period (the paper's epoch).
    """

    def __init__(self, groups: Iterable[LossGroup], temperature: float = 2.0, period: int = 50) -> None:
        super().__init__()
        self.groups = check_groups(groups, 'DynamicWeightAverage')
        if not temperature > 0:
            raise ValueError(f'DynamicWeightAverage: temperature must be > 0, got {temperature}')
        if period < 1:
            raise ValueError(f'DynamicWeightAverage: period must be >= 1, got {period}')
        self.temperature, self.period = float(temperature), int(period)
        n = len(self.groups)
        self.register_buffer('sums', torch.zeros(n, dtype=torch.float64))
        self.register_buffer('count', torch.zeros((), dtype=torch.int64))
        #: mean loss of the last completed period and of the one before (NaN: not yet)
        self.register_buffer('last_means', torch.full((n,), float('nan'), dtype=torch.float64))
        self.register_buffer('earlier_means', torch.full((n,), float('nan'), dtype=torch.float64))
        self.register_buffer('weights', torch.ones(n))

    @torch.no_grad()
    def observe(self, totals: Tensor) -> None:
        """Add one training step's (G,) group losses; at the end of a period, update the weights.

        A step with a non-finite group loss is not counted (the step itself is the non-finite
        guard's to stop or skip: centerx.engine.non_finite); the weights stay as they are.
        """
        totals = totals.to(self.sums)
        if not bool(torch.isfinite(totals).all()):
            return
        self.sums += totals
        self.count += 1
        if int(self.count) < self.period:
            return
        self.earlier_means.copy_(self.last_means)
        self.last_means.copy_(self.sums / self.period)
        self.sums.zero_()
        self.count.zero_()
        if bool(torch.isnan(self.earlier_means).any()):
            return
        ratio = torch.where(self.earlier_means > 0, self.last_means / self.earlier_means.clamp(min=1e-30),
                            torch.ones_like(self.last_means))
        self.weights.copy_((len(self.groups) * torch.softmax(ratio / self.temperature, dim=0)).to(self.weights))

    def forward(self, grouped: GroupLosses, shared: Optional[Tensor] = None) -> BalancedLosses:
        """Weight ``{group: {term: loss}}`` by the current weights; in training mode, record the
        step's group losses first (``shared`` is not used by this method).

        Raises:
            ValueError: the groups differ from the configured ones.
        """
        check_same_groups(grouped, self.groups, 'DynamicWeightAverage')
        if self.training:
            totals = torch.stack([torch.as_tensor(sum(grouped[g].values())).detach().double().cpu()
                                  for g in self.groups])
            self.observe(totals)
        balanced: GroupLosses = {g: {t: self.weights[i] * v for t, v in grouped[g].items()}
                                 for i, g in enumerate(self.groups)}
        return BalancedLosses(balanced, {}, {g: self.weights[i].clone() for i, g in enumerate(self.groups)})
