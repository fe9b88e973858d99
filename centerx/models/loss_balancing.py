"""Learned loss weighting by homoscedastic uncertainty (Kendall, Gal & Cipolla, CVPR 2018), and
what every balancing method shares (its result type, the checks on its groups).

The other methods: :mod:`.gradnorm` (GradNorm) and :mod:`.dynamic_weight_average` (DWA). A method is
a module built with ``groups`` (:meth:`CenterNet.loss_groups`) and called as
``method(grouped, shared=feat)`` with the losses by group and the shared stride-4 feature.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple

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
    """What a balancing method returns (here: :class:`UncertaintyLossBalancing`).

    Attributes:
        groups: the terms of every group, each multiplied by its group's weight (``exp(-s_g)``).
        regularizers: extra losses per group (``s_g``; 0 * ``s_g`` for a group whose loss is zero
            in the batch), logged as ``loss_<regularizer_name>_<head>__<task>``.
        weights: ``{group: weight}``, detached, for logging (``weight_<head>__<task>``).
        regularizer_name: the name of the regularizers in the logs.
    """

    groups: GroupLosses
    regularizers: Dict[LossGroup, Tensor]
    weights: Dict[LossGroup, Tensor]
    regularizer_name: str = 'uncertainty'


def check_groups(groups: Iterable[LossGroup], method: str) -> Tuple[LossGroup, ...]:
    """The groups as a tuple, checked for a balancing method named ``method``.

    Raises:
        ValueError: duplicate groups, two groups with one :func:`group_key`, or a head or task name
            containing ``loss`` (its logged ``weight_<group>`` would be summed into the loss).
    """
    groups = tuple(groups)
    if len(set(groups)) != len(groups):
        raise ValueError(f'{method}: duplicate groups in {[g.label for g in groups]}')
    for g in groups:
        if 'loss' in g.head or (g.task is not None and 'loss' in g.task):
            raise ValueError(f'{method}: group {g.label!r}: head and task names must not '
                             "contain 'loss' (mmengine would sum the logged weight into the loss)")
    owners: Dict[str, LossGroup] = {}
    for g in groups:
        key = group_key(g)
        if key in owners:
            raise ValueError(f'{method}: groups {owners[key].label!r} and {g.label!r} would '
                             f'share the parameter key {key!r}; rename a head or a task (name=...)')
        owners[key] = g
    return groups


def check_same_groups(grouped: GroupLosses, groups: Tuple[LossGroup, ...], method: str) -> None:
    """Raise ValueError when the groups of ``grouped`` differ from the configured ``groups``."""
    if set(grouped) != set(groups):
        raise ValueError(f'{method}: got groups {sorted(g.label for g in grouped)}, '
                         f'configured for {sorted(g.label for g in groups)}')


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
        self.groups = check_groups(groups, 'UncertaintyLossBalancing')
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

    def forward(self, grouped: GroupLosses, shared: Optional[Tensor] = None) -> BalancedLosses:
        """Reweight ``{group: {term: loss}}``; every group of the model must be there (``shared``,
        the shared feature, is not used by this method).

        Raises:
            ValueError: the groups differ from the configured ones (naming both sets).
        """
        check_same_groups(grouped, self.groups, 'UncertaintyLossBalancing')
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
