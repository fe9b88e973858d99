"""GradNorm loss balancing (Chen, Badrinarayanan, Lee & Rabinovich, ICML 2018), per loss group.

Each group ``i`` (a head's heatmap, or one task of a head) has a learned weight ``w_i`` (init 1) and
the network trains on ``sum_i w_i L_i``. GradNorm moves the weights so that every group's gradient on
the shared representation has a norm proportional to how slowly the group learns:

    G_i = || d(w_i L_i) / d feat ||_2 = w_i || dL_i / d feat ||_2
    r_i = (L_i / L_i(0)) / mean_j (L_j / L_j(0))                 relative inverse training rate
    L_grad = sum_i | G_i - [mean_j G_j] * r_i ** alpha |          the bracket and r_i are constants

``L_grad`` is differentiated with respect to the weights only (``||dL_i / d feat||`` is computed
without a graph, so the network gets no gradient from it); after every step the weights are
renormalised to ``sum_i w_i = number of groups`` (done here at the start of the next forward, which
is equivalent). ``L_i(0)`` is the group's loss in the first training step in which it is nonzero.

Where the gradient is measured: the paper uses the last shared layer's weights; here it is the
**shared feature** (the neck's stride-4 output that every head reads), which needs only a backward
through the heads per group (not through the neck's last layer, whose identity differs per neck) and
is what every head of any model shares. A group whose loss is zero in a batch (no image annotated
for it) takes no part in that step (its weight keeps, its ``L_grad`` term is ``0 * w_i``).
``L_grad`` is returned as the regularizers (logged ``loss_gradnorm_<head>__<task>``, summed into
the loss, which moves only the weights) and the weights are logged as ``weight_<head>__<task>``.

The weights are trained by the model's optimizer; under distributed training each rank measures
its own gradient norms (not reduced across ranks).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional

import torch
from torch import Tensor, nn

from centerx.registry import MODELS

from .loss_balancing import BalancedLosses, check_groups, check_same_groups, group_key
from .loss_groups import GroupLosses, LossGroup

#: smallest weight kept by the renormalisation (a weight at 0 could never recover)
MIN_WEIGHT = 1e-3


@MODELS.register_module()
class GradNormLossBalancing(nn.Module):
    """GradNorm (module docstring) over the model's loss groups.

    Args:
        groups: the model's groups, in order.
        alpha: the restoring force (the paper: 1.5; 0 pulls all gradient norms to one value).
    """

    def __init__(self, groups: Iterable[LossGroup], alpha: float = 1.5) -> None:
        super().__init__()
        self.groups = check_groups(groups, 'GradNormLossBalancing')
        self.alpha = alpha
        self.task_weights = nn.ParameterDict([(group_key(g), nn.Parameter(torch.tensor(1.0))) for g in self.groups])
        #: L_i(0) per group, NaN until the group's first nonzero training loss
        self.register_buffer('initial_losses', torch.full((len(self.groups),), float('nan')))

    def weight(self, group: LossGroup) -> nn.Parameter:
        """The () weight ``w_i`` of ``group``."""
        return self.task_weights[group_key(group)]

    @torch.no_grad()
    def renormalize(self) -> None:
        """``w_i <- max(w_i, MIN_WEIGHT)``, then scaled to ``sum_i w_i = number of groups``."""
        weights = torch.stack([self.weight(g) for g in self.groups]).clamp(min=MIN_WEIGHT)
        weights = weights * (len(self.groups) / weights.sum())
        for g, w in zip(self.groups, weights):
            self.weight(g).copy_(w)

    def forward(self, grouped: GroupLosses, shared: Optional[Tensor] = None) -> BalancedLosses:
        """Weight ``{group: {term: loss}}`` by the (detached) ``w_i``, and build ``L_grad`` from the
        gradients of the group losses on ``shared`` (B, C, H, W).

        Without a ``shared`` tensor that requires grad (evaluation, ``no_grad``), the terms are
        only weighted and the regularizers are ``0 * w_i``.

        Raises:
            ValueError: the groups differ from the configured ones.
        """
        check_same_groups(grouped, self.groups, 'GradNormLossBalancing')
        if self.training:
            self.renormalize()
        weights = [self.weight(g) for g in self.groups]
        totals: List[Tensor] = [sum(grouped[g].values()) for g in self.groups]
        balanced: GroupLosses = {g: {t: w.detach() * v for t, v in grouped[g].items()}
                                 for g, w in zip(self.groups, weights)}
        regularizers: Dict[LossGroup, Tensor] = {g: 0 * w for g, w in zip(self.groups, weights)}
        measure = (self.training and shared is not None and shared.requires_grad and torch.is_grad_enabled())
        active = [i for i, L in enumerate(totals)
                  if measure and isinstance(L, Tensor) and L.requires_grad
                  and bool(torch.isfinite(L.detach())) and float(L.detach()) != 0]  # L_i(0) only from a finite loss
        norms: Dict[int, Tensor] = {}
        for i in active:
            grad = torch.autograd.grad(totals[i], shared, retain_graph=True, allow_unused=True)[0]
            if grad is not None:
                norms[i] = grad.detach().float().norm()
        active = [i for i in active if i in norms]
        if active:
            with torch.no_grad():
                for i in active:
                    if torch.isnan(self.initial_losses[i]):
                        self.initial_losses[i] = totals[i].detach().float()
            ratios = torch.stack([totals[i].detach().float() / self.initial_losses[i] for i in active])
            inverse_rate = ratios / ratios.mean()
            g_norms = [weights[i] * norms[i] for i in active]
            mean_norm = torch.stack([g.detach() for g in g_norms]).mean()
            for k, i in enumerate(active):
                target = (mean_norm * inverse_rate[k] ** self.alpha).detach()
                regularizers[self.groups[i]] = (g_norms[k] - target).abs()
        return BalancedLosses(balanced, regularizers, {g: w.detach().clone() for g, w in zip(self.groups, weights)},
                              regularizer_name='gradnorm')
