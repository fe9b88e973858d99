"""The plugin test kit: ``check_task`` passes a sound task and stops, naming the check, at a broken one.

The broken tasks are Box2DTask subclasses (not registered), each wrong in one way a plugin can be.
"""
from __future__ import annotations

from typing import Dict

import pytest
import torch
from torch import Tensor

import centerx_tasks  # noqa: F401  (registers the built-in tasks)
from centerx.testing import CHECKS, TaskCase, check_task
from centerx_tasks.box2d.task import Box2DTask


class ShiftedDecode(Box2DTask):
    """Decodes every box one pixel to the right: the round trip must fail."""

    def decode(self, preds, peaks, ctx) -> Dict[str, Tensor]:
        out = super().decode(preds, peaks, ctx)
        return dict(out, bboxes=out['bboxes'] + torch.tensor([1.0, 0.0, 1.0, 0.0]))


class LossOnEmpty(Box2DTask):
    """Adds a constant to its losses: an empty batch must give regression losses of exactly 0."""

    def loss(self, preds, targets, centers, grid) -> Dict[str, Tensor]:
        return {k: v + 0.5 for k, v in super().loss(preds, targets, centers, grid).items()}


class DataDependentDecode(Box2DTask):
    """Reads a value into Python: tracing freezes the first batch's value into the graph."""

    def decode(self, preds, peaks, ctx) -> Dict[str, Tensor]:
        out = super().decode(preds, peaks, ctx)
        return dict(out, bboxes=out['bboxes'] + float(peaks.xs.float().mean()))


def test_a_sound_task_passes_every_check() -> None:
    check_task(Box2DTask, behind=('RotatedBoxTask',))


def test_a_shifted_decoder_fails_the_round_trips() -> None:
    for check in ('roundtrip', 'roundtrip_through_pipeline'):
        with pytest.raises(AssertionError, match='ShiftedDecode.*round-trip errors'):
            check_task(ShiftedDecode, checks=[check])
    check_task(ShiftedDecode, checks=['forward_backward', 'empty'])  # the other checks do not see it


def test_a_loss_on_nothing_fails_the_empty_and_ignored_checks() -> None:
    for check in ('empty', 'all_ignored'):
        with pytest.raises(AssertionError, match='LossOnEmpty'):
            check_task(LossOnEmpty, checks=[check])


def test_a_built_instance_and_a_ground_truth_factory() -> None:
    calls = []

    def tiny_boxes(num: int, shape, gen: torch.Generator) -> Dict[str, Tensor]:
        calls.append(num)
        return {'bboxes': torch.tensor([[10.0, 10.0, 12.0, 12.0]]).repeat(num, 1)}

    check_task(Box2DTask(), checks=['empty'], gt_factory=tiny_boxes)
    assert calls == [0, 0]
    # all objects on one cell: too few distinct peaks for the round trip, and the check says so
    with pytest.raises(AssertionError, match='too few to test'):
        check_task(Box2DTask(), checks=['roundtrip'], gt_factory=tiny_boxes)


def test_unknown_check_and_task_names() -> None:
    with pytest.raises(KeyError, match="known: \\['contract'"):
        check_task(Box2DTask, checks=['roundtrip_flipped'])
    with pytest.raises(KeyError, match='not registered'):
        check_task('NoSuchTask', checks=['empty'])
    assert list(CHECKS)[0] == 'contract'


def test_a_data_dependent_decoder_fails_the_trace_check() -> None:
    with pytest.raises(AssertionError, match='DataDependentDecode'):
        check_task(DataDependentDecode, checks=['decode_traces'])


def test_a_case_with_head_options_and_loss_balancing() -> None:
    case = TaskCase('Box2DTask', head_options=dict(loss_heatmap_weight=2.0),
                    loss_balancing=dict(type='UncertaintyLossBalancing'))
    assert case.head.loss_heatmap_weight == 2.0 and case.model.loss_balancing is not None
    CHECKS['forward_backward'](case)
    CHECKS['roundtrip'](case)


def test_checks_and_behind_together_are_refused() -> None:
    with pytest.raises(ValueError, match='give checks= or behind=, not both'):
        check_task('Box2DTask', checks=['empty'], behind=('RotatedBoxTask',))
