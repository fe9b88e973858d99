"""A training shortened or lengthened on the command line keeps its learning-rate schedule's shape.

``--cfg-options train_cfg.max_iters=100`` on a config whose warm-up and cosine decay were written
for 800 iterations would otherwise train 100 iterations of warm-up at a nearly constant rate.
:func:`follow_max_iters` scales every iteration milestone (``begin``, ``end``) of the
iteration-based ``param_scheduler`` entries by new / old length, unless the command line also
sets ``param_scheduler`` itself.
"""
from __future__ import annotations

from typing import Any, Optional

#: the scheduler keys that are iteration milestones
MILESTONE_KEYS = ('begin', 'end')


def _scheduler_list(cfg: Any) -> list:
    schedulers = cfg.get('param_scheduler')
    if schedulers is None:
        return []
    return list(schedulers) if isinstance(schedulers, (list, tuple)) else [schedulers]


def follow_max_iters(cfg: Any, old_max_iters: Optional[int], explicit_schedule: bool) -> Optional[str]:
    """Scale the schedule of ``cfg`` (an mmengine ``Config``, changed in place) to its
    ``train_cfg.max_iters`` when that differs from ``old_max_iters``.

    Args:
        cfg: the config after the command-line options were merged.
        old_max_iters: ``train_cfg.max_iters`` of the config file (None: it had none).
        explicit_schedule: the command line set ``param_scheduler``; nothing is changed then.

    Returns:
        a line saying what was scaled (for the log), or None when nothing was.
    """
    train_cfg = cfg.get('train_cfg') or {}
    new = train_cfg.get('max_iters')
    if explicit_schedule or not old_max_iters or not new or int(new) == int(old_max_iters):
        return None
    ratio = int(new) / int(old_max_iters)
    changed = []
    for scheduler in _scheduler_list(cfg):
        if scheduler.get('by_epoch', True) or scheduler.get('convert_to_iter_based', False):
            continue  # epoch-based milestones do not follow an iteration count
        for key in MILESTONE_KEYS:
            value = scheduler.get(key)
            if isinstance(value, int) and value > 0:
                scheduler[key] = max(1, int(round(value * ratio)))
                changed.append(f'{scheduler.get("type")}.{key} {value}->{scheduler[key]}')
    if not changed:
        return None
    return (f'train_cfg.max_iters {old_max_iters}->{new}: the lr schedule follows ({", ".join(changed)}); '
            'set param_scheduler on the command line to keep your own')
