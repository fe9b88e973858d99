"""Learned loss weighting by homoscedastic uncertainty (Kendall, Gal & Cipolla, CVPR 2018)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable

import torch
from torch import Tensor, nn

from centerx.registry import MODELS

from .loss_groups import GroupLosses, LossGroup


def group_key(group: LossGroup) -> str:
    """The stable parameter key of ``group``: ``<head>__<task>`` or ``<head>__heatmap``, every
    ``.`` written as ``__`` (a parameter name must not contain dots)."""
    return group.label.replace('.', '__')


@dataclass
class BalancedLosses:
    """What :class:`UncertaintyLossBalancing` returns.

    Attributes:
        groups: the terms of every group, each multiplied by its group's ``exp(-s_g)``.
        regularizers: ``{group: s_g}`` (0 * ``s_g`` for a group whose loss is zero in the batch).
        weights: ``{group: exp(-s_g)}``, detached, for logging.
    """

    groups: GroupLosses
    regularizers: Dict[LossGroup, Tensor]
    weights: Dict[LossGroup, Tensor]


@MODELS.register_module()
class UncertaintyLossBalancing(nn.Module):
    """Weight each loss group ``g`` by a learned ``exp(-s_g)`` and add ``s_g``.

    ``L = sum_g exp(-s_g) * L_g + s_g`` with one log-variance ``s_g`` per group (a head's
    heatmap, or one task of a head: :class:`~centerx.models.loss_groups.LossGroup`),
    initialised at ``init`` (0: weight 1). The per-term weights of the config still apply
    inside ``L_g``. A group whose loss is exactly zero in a batch (no image annotated for it)
    adds ``0 * s_g``, so its weight does not drift while it has no data, and every ``s_g`` is
    in every step's graph (DDP needs no ``find_unused_parameters``).

    Groups are identified by (head, task), never by parsing names. ``log_vars`` is an
    ``nn.ParameterDict`` of () scalars keyed by :func:`group_key` (``<head>__<task>``,
    ``<head>__heatmap``), so checkpoints hold ``loss_balancing.log_vars.<head>__<task>``
    whatever the order of the groups.

    Args:
        groups: the model's groups, in order.
        init: initial log-variance.

    Raises:
        ValueError: duplicate groups, two groups with one :func:`group_key` (head ``a`` task
            ``b__c`` and head ``a__b`` task ``c``; a task named ``heatmap``), or a head or task
            name containing ``loss`` (its logged ``weight_<group>`` would be summed into the loss
            by mmengine).
    """

    def __init__(self, groups: Iterable[LossGroup], init: float = 0.0) -> None:
        super().__init__()
        self.groups = tuple(groups)
        if len(set(self.groups)) != len(self.groups):
            raise ValueError(f'UncertaintyLossBalancing: duplicate groups in {[g.label for g in self.groups]}')
        for g in self.groups:
            if 'loss' in g.head or (g.task is not None and 'loss' in g.task):
                raise ValueError(f'UncertaintyLossBalancing: group {g.label!r}: head and task names must not '
                                 "contain 'loss' (mmengine would sum the logged weight into the loss)")
        owners: Dict[str, LossGroup] = {}
        for g in self.groups:
            key = group_key(g)
            if key in owners:
                raise ValueError(f'UncertaintyLossBalancing: groups {owners[key].label!r} and {g.label!r} would '
                                 f'share the parameter key {key!r}; rename a head or a task (name=...)')
            owners[key] = g
        # pairs, not a dict: ParameterDict sorts a plain dict's keys; keep the groups' order
        self.log_vars = nn.ParameterDict([(group_key(g), nn.Parameter(torch.tensor(float(init))))
                                          for g in self.groups])

    def log_var(self, group: LossGroup) -> nn.Parameter:
        """The () log-variance ``s_g`` of ``group``.

        Raises:
            KeyError: ``group`` is not one of the configured groups (listing them).
        """
        if group not in self.groups:
            raise KeyError(f'UncertaintyLossBalancing has no group {group.label!r}; its groups are '
                           f'{[g.label for g in self.groups]}')
        return self.log_vars[group_key(group)]

    def forward(self, grouped: GroupLosses) -> BalancedLosses:
        """Reweight ``{group: {term: loss}}``; every group of the model must be there.

        Raises:
            ValueError: the groups differ from the configured ones (naming both sets).
        """
        if set(grouped) != set(self.groups):
            raise ValueError(f'UncertaintyLossBalancing: got groups {sorted(g.label for g in grouped)}, '
                             f'configured for {sorted(g.label for g in self.groups)}')
        balanced: GroupLosses = {}
        regularizers: Dict[LossGroup, Tensor] = {}
        weights: Dict[LossGroup, Tensor] = {}
        for group, terms in grouped.items():
            s = self.log_var(group)
            weight = torch.exp(-s)
            total = sum(terms.values())
            has_loss = (total.detach() != 0).to(s.dtype) if isinstance(total, Tensor) else s.new_zeros(())
            balanced[group] = {term: weight * value for term, value in terms.items()}
            regularizers[group] = s * has_loss
            weights[group] = weight.detach()
        return BalancedLosses(balanced, regularizers, weights)
