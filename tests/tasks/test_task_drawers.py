"""Each built-in task registers the drawer of the field it decodes (the core draws none)."""
from __future__ import annotations

import numpy as np
import torch
from mmengine.structures import InstanceData

from centerx.structures import DetSample, ImageMeta
from centerx.visualization import FIELD_DRAWERS, draw_predictions


def draw(**fields) -> np.ndarray:
    pred = InstanceData(scores=torch.tensor([0.9]), labels=torch.tensor([0]), **fields)
    sample = DetSample(meta=ImageMeta(img_id=0, img_path='', ori_shape=(64, 64)), preds={'h': pred})
    return draw_predictions(np.zeros((64, 64, 3), np.uint8), sample, ['thing'], score_thr=0.5)


def test_each_task_module_owns_its_drawer() -> None:
    owners = {field: fn.__module__ for field, fn in FIELD_DRAWERS.items()}
    assert owners['bboxes'] == 'centerx_tasks.box2d.draw'
    assert owners['polygons'] == 'centerx_tasks.rotated.draw'
    assert owners['keypoints'] == 'centerx_tasks.keypoints.draw'
    assert owners['boxes3d'] == 'centerx_tasks.box3d.draw'


def test_a_box_is_drawn_as_its_outline() -> None:
    out = draw(bboxes=torch.tensor([[10.0, 20.0, 40.0, 50.0]]))
    assert out[35, 10].any() and out[35, 40].any() and out[20, 25].any()
    assert not out[35, 25].any()  # inside the outline


def test_a_polygon_is_drawn_closed() -> None:
    out = draw(polygons=torch.tensor([[10.0, 30.0, 30.0, 10.0, 50.0, 30.0, 30.0, 50.0]]))
    assert out[20, 20].any() and out[40, 40].any()  # the first and the closing edge
    assert not out[30, 30].any()


def test_keypoints_with_a_positive_score_are_dots() -> None:
    out = draw(keypoints=torch.tensor([[[20.0, 40.0, 0.8], [45.0, 55.0, 0.0]]]))
    assert out[40, 20].any() and not out[55, 45].any()
