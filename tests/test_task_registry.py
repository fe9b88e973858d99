"""Registry-wide tests: every registered task (built in, and the tutorial's plugin) gets the checks
of the plugin test kit :mod:`centerx.testing` (forward/backward with a gradient on every branch,
empty GT, all-ignored, NaN-free predictions, the round trip also under letterbox + flip, traced
decode) and the mixing test, one pytest item each.

A task takes part by implementing ``example_gt`` (random valid ground truth) and
``roundtrip_error``; a task that does not place centers names a ``companion`` center task.
Mixing: every task sits second behind every center-placing task (its own ground truth is
drawn independently of the first task's, so its targets reach from the first task's peak
cells to its own points) and must train a step and round-trip.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path

import pytest

import centerx_tasks  # noqa: F401  (registers the built-in tasks)
from centerx.registry import TASKS
from centerx.testing import CHECKS, center_task_types, check_task, check_task_behind

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / 'docs' / 'examples' / 'circles'
if (TUTORIAL / 'centerx_circles').is_dir():
    sys.path.insert(0, str(TUTORIAL))
    import centerx_circles  # noqa: F401,E402  (the tutorial's plugin registers itself)

TASK_TYPES = sorted(TASKS.module_dict)
#: (task type, extra task arguments, neck type): every registered task with its defaults, plus the
#: options the demos ship (log sizes, the skip neck), so they get the same tests
VARIANTS = [(t, {}, 'DeconvNeck') for t in TASK_TYPES] + [
    ('Box2DTask', dict(size_encoding='log'), 'SkipUpNeck'),
    ('RotatedBoxTask', dict(size_encoding='log'), 'SkipUpNeck'),
]
VARIANT_IDS = [t + ''.join(f'-{k}={v}' for k, v in kw.items()) + ('' if n == 'DeconvNeck' else f'-{n}')
               for t, kw, n in VARIANTS]
#: checks run once per task type (the others also on every variant)
ONCE = ('contract', 'roundtrip_through_pipeline', 'decode_traces')
#: left/right pairs given to the tasks that take ``flip_pairs`` (the flipped round trip swaps them)
FLIP_PAIRS = [[1, 2], [3, 4]]
#: (center task, second task): every task behind every other center-placing task
PAIRS = [(first, second) for first in center_task_types() for second in TASK_TYPES if second != first]


@pytest.mark.parametrize('check', ONCE)
@pytest.mark.parametrize('task_type', TASK_TYPES)
def test_every_task(task_type, check):
    takes_pairs = 'flip_pairs' in inspect.signature(TASKS.get(task_type)).parameters
    check_task(task_type, task_kwargs=dict(flip_pairs=FLIP_PAIRS) if takes_pairs else None, checks=[check])


@pytest.mark.parametrize('check', [c for c in CHECKS if c not in ONCE])
@pytest.mark.parametrize('task_type,task_kwargs,neck', VARIANTS, ids=VARIANT_IDS)
def test_every_variant(task_type, task_kwargs, neck, check):
    check_task(task_type, task_kwargs=task_kwargs, neck=neck, checks=[check])


@pytest.mark.parametrize('first,second', PAIRS, ids=[f'{a}+{b}' for a, b in PAIRS])
def test_any_task_behind_any_center_task(first, second):
    check_task_behind(first, second)
