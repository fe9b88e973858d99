"""``check_task``: every check of :data:`~centerx.testing.checks.CHECKS` on one task, and the task
behind other center-placing tasks."""
from __future__ import annotations

from typing import List, Optional, Sequence

from centerx.registry import TASKS
from centerx.task import Task

from .cases import CLASSES, GtFactory, TaskCase, TaskSpec, task_class
from .checks import CHECKS, check_behind


def center_task_types() -> List[str]:
    """The registered task types that place peaks (override :meth:`Task.centers`), sorted."""
    return sorted(t for t, cls in TASKS.module_dict.items() if cls.centers is not Task.centers)


def check_task_behind(first: TaskSpec, task: TaskSpec, task_kwargs: Optional[dict] = None,
                      gt_factory: Optional[GtFactory] = None, classes: Sequence[str] = CLASSES) -> None:
    """``task`` second on a head whose peaks ``first`` places: trains a step (every branch learns)
    and decodes its own ground truth back from those peaks."""
    check_behind(TaskCase(task, task_kwargs, first=first, gt_factory=gt_factory, classes=classes))


def check_task(task: TaskSpec, *, task_kwargs: Optional[dict] = None, checks: Optional[Sequence[str]] = None,
               behind: Optional[Sequence[TaskSpec]] = None, neck: str = 'DeconvNeck',
               gt_factory: Optional[GtFactory] = None, classes: Sequence[str] = CLASSES) -> None:
    """Run the registry-wide checks on one task; raises ``AssertionError`` at the first failure.

    Args:
        task: a registered type name, a :class:`~centerx.task.Task` subclass or a built instance.
        task_kwargs: constructor arguments (for a name or class); the examples carry the
            dataset metainfo the task's ``example_metainfo`` gives.
        checks: names out of :data:`CHECKS` (default: all of them, in that order).
        behind: center-placing tasks to put the task behind, one model each; default: every
            registered center task but the task itself (``()``: none). Skipped when ``checks``
            is given.
        neck: the neck type of the tiny model (``'DeconvNeck'``, ``'SkipUpNeck'`` ...).
        gt_factory: ground truth of the task instead of its ``example_gt``:
            ``factory(num, (H, W), generator) -> {field: (num, ...) tensor}`` in input pixels.
        classes: the head's classes (a task with per-class tables must know them all).

    Raises:
        KeyError: an unknown check name or task type.
        ValueError: both ``checks`` and ``behind``.
    """
    if checks is not None and behind is not None:  # behind runs only with the full set
        raise ValueError('check_task: give checks= or behind=, not both (the behind-other-task models run '
                         'with the full set of checks; for one check at a time use check_task_behind)')
    names = list(CHECKS) if checks is None else list(checks)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise KeyError(f'unknown checks {unknown}; known: {list(CHECKS)}')
    case = TaskCase(task, task_kwargs, neck=neck, gt_factory=gt_factory, classes=classes)
    for name in names:
        CHECKS[name](case)
    if checks is None:
        own = task_class(task)
        firsts = [f for f in center_task_types() if TASKS.get(f) is not own] if behind is None else list(behind)
        for first in firsts:
            check_task_behind(first, task, task_kwargs, gt_factory, classes)
