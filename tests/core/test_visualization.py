"""Drawing predictions: built-in fields, and a drawer registered for a plugin's field."""
from __future__ import annotations

import numpy as np
import torch
from mmengine.structures import InstanceData

from centerx.structures import DetSample, ImageMeta
from centerx.visualization import FIELD_DRAWERS, draw_predictions, register_drawer


def sample(**fields) -> DetSample:
    pred = InstanceData(scores=torch.tensor([0.9, 0.1]), labels=torch.tensor([0, 1]), **fields)
    return DetSample(meta=ImageMeta(img_id=0, img_path='', ori_shape=(64, 64)), preds={'h': pred})


def test_boxes_are_drawn_above_the_threshold_only():
    img = np.zeros((64, 64, 3), np.uint8)
    boxes = torch.tensor([[10.0, 10.0, 30.0, 30.0], [40.0, 40.0, 60.0, 60.0]])
    out = draw_predictions(img, sample(bboxes=boxes), ['a', 'b'], score_thr=0.5)
    assert out[10, 20].any() and not out[50, 40].any()  # first box edge drawn, second skipped
    assert not img.any()  # the input is not modified


def test_a_plugin_field_is_drawn_by_its_registered_drawer():
    calls = []

    @register_drawer('test_dots')
    def draw(canvas, value, color):
        calls.append(value.tolist())
        canvas[int(value[1]), int(value[0])] = color
        return int(value[0]), int(value[1])

    try:
        out = draw_predictions(np.zeros((64, 64, 3), np.uint8),
                               sample(test_dots=torch.tensor([[5.0, 6.0], [7.0, 8.0]])), ['a', 'b'], 0.5)
        assert calls == [[5.0, 6.0]] and out[6, 5].any()
    finally:
        FIELD_DRAWERS.pop('test_dots')
