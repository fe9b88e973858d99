"""Learned uncertainty loss weighting (Kendall et al. 2018)."""
from __future__ import annotations

import math

import torch

import centerx_tasks  # noqa: F401
from centerx.models import CenterNet, UncertaintyLossBalancing
from centerx.structures import DetSample, ImageMeta
from mmengine.structures import InstanceData


def test_weighting_formula_and_logged_weights():
    bal = UncertaintyLossBalancing(['h.heatmap', 'h.box2d'], init=0.0)
    with torch.no_grad():
        bal.log_vars['h__heatmap'].fill_(math.log(2.0))
    losses, logs = bal({'h.heatmap': {'loss_heatmap': torch.tensor(4.0)},
                        'h.box2d': {'loss_box2d_size': torch.tensor(1.0), 'loss_box2d_offset': torch.tensor(0.0)}})
    assert abs(float(losses['loss_heatmap'].detach()) - 2.0) < 1e-5  # exp(-log 2) * 4
    assert abs(float(losses['loss_uncertainty_h__heatmap'].detach()) - math.log(2.0)) < 1e-6
    assert abs(float(logs['weight_h__heatmap']) - 0.5) < 1e-6 and float(logs['weight_h__box2d']) == 1.0
    assert not any('loss' in k for k in logs)


def test_group_without_loss_adds_no_regulariser():
    bal = UncertaintyLossBalancing(['h.heatmap', 'h.rot'])
    losses, _ = bal({'h.heatmap': {'loss_heatmap': torch.tensor(1.0)}, 'h.rot': {'loss_rot_size': torch.tensor(0.0)}})
    assert 'loss_uncertainty_h__rot' not in losses and 'loss_uncertainty_h__heatmap' in losses


def test_model_with_balancing_trains_the_log_variances():
    torch.manual_seed(0)
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 8, 8)), neck=dict(type='DeconvNeck', out_channels=8),
                      heads=[dict(name='objects', tasks=[dict(type='Box2DTask')], head_conv=8)], classes=('a',),
                      loss_balancing=dict(type='UncertaintyLossBalancing'))
    gt = InstanceData(bboxes=torch.tensor([[4.0, 4.0, 30.0, 40.0]]), labels=torch.tensor([0]), ignore=torch.tensor([False]))
    sample = DetSample(meta=ImageMeta(img_id=0, img_path='', ori_shape=(64, 64), img_shape=(64, 64)), gt=gt)
    losses = model.loss(torch.randn(1, 3, 64, 64), [sample])
    assert {'weight_objects__heatmap', 'weight_objects__box2d', 'loss_uncertainty_objects__heatmap'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    grads = [p.grad for p in model.loss_balancing.log_vars.values()]
    assert all(g is not None and torch.isfinite(g) and float(g) != 0 for g in grads)
