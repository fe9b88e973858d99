"""A training shortened or lengthened on the command line keeps its learning-rate schedule's shape.

``--cfg-options train_cfg.max_iters=100`` on a config whose warm-up and cosine decay were written
for 800 iterations would otherwise train 100 iterations of warm-up at a nearly constant rate.
:func:`follow_max_iters` moves every iteration milestone (``begin``, ``end``) of the
iteration-based ``param_scheduler`` entries that equals the old length to the new one (the decay
ends where the training does); when the new length is shorter than some other milestone (the
run would end inside the warm-up), those milestones are scaled by new / old length too. A
warm-up the new length reaches is kept. Nothing changes when the command line also sets
``param_scheduler`` itself.
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
    """Fit the schedule of ``cfg`` (an mmengine ``Config``, changed in place) to its
    ``train_cfg.max_iters`` when that differs from ``old_max_iters`` (the module doc's rule).

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
    old, new = int(old_max_iters), int(new)
    schedulers = [sch for sch in _scheduler_list(cfg)
                  if not sch.get('by_epoch', True) and not sch.get('convert_to_iter_based', False)]
    milestones = [sch[k] for sch in schedulers for k in MILESTONE_KEYS if isinstance(sch.get(k), int)]
    # a milestone the shorter run would never reach (a warm-up of 100 in a run of 100) scales too
    shrink = any(v >= new for v in milestones if v != old)
    changed = []
    for scheduler in schedulers:
        for key in MILESTONE_KEYS:
            value = scheduler.get(key)
            if not isinstance(value, int) or value <= 0:
                continue
            if value == old:
                scheduler[key] = new
            elif shrink:
                scheduler[key] = max(1, int(round(value * new / old)))
            else:
                continue
            changed.append(f'{scheduler.get("type")}.{key} {value}->{scheduler[key]}')
    if not changed:
        return None
    return (f'train_cfg.max_iters {old_max_iters}->{new}: the lr schedule follows ({", ".join(changed)}); '
            'set param_scheduler on the command line to keep your own')
