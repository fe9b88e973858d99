"""Drawing predictions: the core's mechanism only (tasks register the drawers of their fields)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from centerx.structures import DetSample, ImageMeta
from centerx.visualization import FIELD_DRAWERS, FIELDS_DRAWN_WITH_META, draw_predictions, register_drawer


def sample(**fields) -> DetSample:
    pred = InstanceData(scores=torch.tensor([0.9, 0.1]), labels=torch.tensor([0, 1]), **fields)
    return DetSample(meta=ImageMeta(img_id=0, img_path='', ori_shape=(64, 64)), preds={'h': pred})


@pytest.fixture
def dots():
    """A plugin's drawer for a ``test_dots`` field (x, y), removed after the test."""
    calls = []

    @register_drawer('test_dots')
    def draw(canvas, value, color):
        calls.append(value.tolist())
        canvas[int(value[1]), int(value[0])] = color
        return int(value[0]), int(value[1])

    yield calls
    FIELD_DRAWERS.pop('test_dots')


def test_a_plugin_field_is_drawn_above_the_threshold_only(dots) -> None:
    img = np.zeros((64, 64, 3), np.uint8)
    out = draw_predictions(img, sample(test_dots=torch.tensor([[5.0, 6.0], [40.0, 50.0]])), ['a', 'b'], 0.5)
    assert dots == [[5.0, 6.0]] and out[6, 5].any() and not out[50, 40].any()
    assert not img.any()  # the input is not modified


def test_a_field_without_a_drawer_is_not_drawn() -> None:
    out = draw_predictions(np.zeros((64, 64, 3), np.uint8), sample(test_unknown=torch.ones(2, 3)), ['a', 'b'], 0.5)
    assert not out.any()


def test_a_second_drawer_for_a_field_is_refused_unless_forced(dots) -> None:
    def other(canvas, value, color):
        return None

    with pytest.raises(KeyError, match=r"'test_dots' already has the drawer .*dots.<locals>.draw"):
        register_drawer('test_dots')(other)
    register_drawer('test_dots', with_meta=True, force=True)(other)
    assert FIELD_DRAWERS['test_dots'] is other and 'test_dots' in FIELDS_DRAWN_WITH_META
    FIELDS_DRAWN_WITH_META.discard('test_dots')


def test_the_core_alone_draws_no_field() -> None:
    code = 'import centerx.visualization as v; print(sorted(v.FIELD_DRAWERS))'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == '[]'
