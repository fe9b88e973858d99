"""CenterHead refuses task names that clash with its own outputs or with each other."""
import pytest

from centerx.heatmap import CornerNetGaussian
from centerx.models.center_head import CenterHead
from centerx_tasks.box2d.task import Box2DTask


def _head(*tasks):
    return CenterHead(name='h', in_channels=8, classes=('a',), tasks=list(tasks), kernel=CornerNetGaussian())


def test_a_task_named_heatmap_is_refused():
    with pytest.raises(ValueError, match=r"head 'h'.*may not be named 'heatmap'"):
        _head(Box2DTask(name='heatmap'))


def test_duplicate_task_names_are_refused():
    with pytest.raises(ValueError, match='task names must be unique'):
        _head(Box2DTask(), Box2DTask())


def test_distinct_names_build_one_branch_per_map():
    head = _head(Box2DTask(), Box2DTask(name='box2d_2'))
    assert sorted(head.branches) == ['box2d_2__offset', 'box2d_2__size', 'box2d__offset', 'box2d__size']
