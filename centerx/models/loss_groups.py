"""Losses grouped by structure (one group per head heatmap and per task of a head), and the
log names they get.

A head returns ``{LossGroup: {term: loss}}``; learned balancing weights whole groups; only the
last step, :func:`log_names`, turns the structure into the flat ``loss_*`` keys mmengine sums
and logs. Nothing parses those names back.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from torch import Tensor


@dataclass(frozen=True)
class LossGroup:
    """One group of losses: the heatmap of head ``head`` (``task`` None) or one of its tasks."""

    head: str
    task: Optional[str] = None

    @property
    def label(self) -> str:
        """``<head>.<task>`` or ``<head>.heatmap`` (for messages)."""
        return f'{self.head}.{self.task if self.task is not None else "heatmap"}'


#: ``{group: {term: scalar loss}}``, each term already weighted by its configured weight
GroupLosses = Dict[LossGroup, Dict[str, Tensor]]


def task_terms(task_type: str, task_name: str, losses: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """``{'loss_<term>': v}`` returned by a task's ``loss`` -> ``{term: v}``.

    Raises:
        ValueError: a key that is not ``loss_<term>`` (the task contract), naming the task.
    """
    terms = {}
    for key, value in losses.items():
        if not key.startswith('loss_') or key == 'loss_':
            raise ValueError(f'{task_type} ({task_name!r}).loss returned {key!r}; a task returns '
                             "only losses, named 'loss_<term>'")
        terms[key[len('loss_'):]] = value
    return terms


# (readable name, structural name, value)
_Entry = Tuple[str, str, Tensor]


def _entries(grouped: GroupLosses, several_heads: bool) -> List[_Entry]:
    out = []
    for group, terms in grouped.items():
        for term, value in terms.items():
            readable = ([group.head] if several_heads else []) + ([group.task] if group.task is not None else [])
            structural = [group.head] + ([group.task] if group.task is not None else [])
            out.append(('loss_' + '_'.join(readable + [term]), 'loss_' + '.'.join(structural + [term]), value))
    return out


def _per_group(prefix: str, values: Mapping[LossGroup, Tensor]) -> List[_Entry]:
    return [(f'{prefix}_{g.head}__{g.task if g.task is not None else "heatmap"}', f'{prefix}.{g.label}', v)
            for g, v in values.items()]


def log_names(grouped: GroupLosses, several_heads: bool,
              regularizers: Optional[Mapping[LossGroup, Tensor]] = None,
              weights: Optional[Mapping[LossGroup, Tensor]] = None,
              regularizer_name: str = 'uncertainty') -> Dict[str, Tensor]:
    """The flat dict mmengine sums (every key containing ``loss``) and logs.

    Terms are named ``loss_<head>_<task>_<term>`` / ``loss_<head>_heatmap``, without the head
    with one head (``loss_<task>_<term>``, ``loss_heatmap``); balancing adds
    ``loss_<regularizer_name>_<head>__<task>`` (regularizers: ``loss_uncertainty_*``,
    ``loss_gradnorm_*``) and ``weight_<head>__<task>`` (logged weights). Names that two entries would share (tasks ``b`` with term ``x_y`` and ``b_x`` with
    term ``y``) take the structural form ``loss_<head>.<task>.<term>``
    (``loss_uncertainty.<head>.<task>``, ``weight.<head>.<task>``) instead, so no loss is ever
    overwritten by another.

    Raises:
        ValueError: two entries share even their structural name (names containing dots).
    """
    entries = (_entries(grouped, several_heads) + _per_group(f'loss_{regularizer_name}', regularizers or {})
               + _per_group('weight', weights or {}))
    readable_count: Dict[str, int] = {}
    for readable, _, _ in entries:
        readable_count[readable] = readable_count.get(readable, 0) + 1
    out: Dict[str, Tensor] = {}
    for readable, structural, value in entries:
        name = readable if readable_count[readable] == 1 else structural
        if name in out:
            raise ValueError(f'two losses would both be logged as {name!r}; rename a head or a task '
                             '(name=...) so that their names differ without dots')
        out[name] = value
    return out
