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
from centerx.testing import CHECKS, TaskCase, center_task_types, check_task, check_task_behind, train_step

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
#: the head options of issue 14 (one config line each), tested with every task
HEAD_OPTIONS = [dict(center_mode='class_agnostic'), dict(center_attention=True),
                dict(center_mode='class_agnostic', center_attention=dict(detach=False)),
                dict(kernel=dict(type='CenternessKernel')), dict(kernel=dict(type='BoxFillingGaussian', beta=1.0))]
HEAD_OPTION_IDS = ['+'.join(f'{k}={v["type"] if k == "kernel" else v}' for k, v in o.items()) for o in HEAD_OPTIONS]
#: the loss balancing methods (model option ``loss_balancing``)
BALANCING = ['UncertaintyLossBalancing', 'GradNormLossBalancing', 'DynamicWeightAverage']
OPTION_CASES = [(t, o) for t in TASK_TYPES for o in HEAD_OPTIONS]
OPTION_CASE_IDS = [f'{t}-{i}' for t in TASK_TYPES for i in HEAD_OPTION_IDS]
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


@pytest.mark.parametrize('task_type,head_options', OPTION_CASES, ids=OPTION_CASE_IDS)
def test_head_options_train_and_roundtrip(task_type, head_options):
    """Every head option with every task: a training step in which every branch (and the option's
    own modules) learns, zero regression loss without objects, finite predictions, and the
    perfect-maps round trip (the perfect outputs of a class-agnostic head decode to the ground truth)."""
    case = TaskCase(task_type, head_options=head_options)
    for check in ('forward_backward', 'empty', 'roundtrip', 'predict_finite'):
        CHECKS[check](case)


@pytest.mark.parametrize('balancing', BALANCING)
@pytest.mark.parametrize('task_type', TASK_TYPES)
def test_loss_balancing_trains_every_branch_and_weight(task_type, balancing):
    """Every balancing method with every task: two steps in which every branch learns and every
    group's weight is logged; learned weights get a gradient."""
    case = TaskCase(task_type, loss_balancing=dict(type=balancing))
    for _ in range(2):
        losses = train_step(case, case.samples([5, 4]), every_branch_learns=True)
    assert {f'weight_h__{g.task or "heatmap"}' for g in case.model.loss_groups()} <= set(losses)
    for p in case.model.loss_balancing.parameters():
        assert p.grad is not None and float(p.grad.abs()) > 0
