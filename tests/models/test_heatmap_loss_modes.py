"""CenterHead trains with the sparse heatmap loss by default; heatmap_loss='dense' gives the same
loss and gradient (crowd regions, unannotated classes, border and overlapping objects)."""
from __future__ import annotations

import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401  (registers the built-in tasks)
from centerx.models import CenterNet
from centerx.models.loss_groups import LossGroup
from centerx.structures import DetSample, ImageMeta
from centerx.task import concat_instances

SIZE = 64


def model(**head) -> CenterNet:
    torch.manual_seed(0)
    return CenterNet(classes=('car', 'person', 'bike'), backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                     neck=dict(type='DeconvNeck', out_channels=8),
                     heads=[dict(name='h', tasks=[dict(type='Box2DTask')], head_conv=8, **head)])


def sample(i: int, rows, labels, ignore, annotated=None) -> DetSample:
    meta = ImageMeta(img_id=i, img_path='', ori_shape=(SIZE, SIZE), img_shape=(SIZE, SIZE), pad_shape=(SIZE, SIZE))
    gt = InstanceData(bboxes=torch.tensor(rows, dtype=torch.float32).reshape(-1, 4),
                      labels=torch.tensor(labels, dtype=torch.int64), ignore=torch.tensor(ignore, dtype=torch.bool))
    return DetSample(meta=meta, gt=gt, annotated_labels=annotated)


SAMPLES = [
    sample(0, [[4, 6, 30, 40], [6, 8, 28, 38], [0, 50, 14, 64], [20, 20, 44, 44]], [0, 0, 1, 2],
           [False, False, False, True], annotated=(0, 1, 2)),   # overlapping cars, a border person, a crowd bike
    sample(1, [[34, 10, 60, 28], [34, 10, 60, 28]], [0, 1], [False, False], annotated=(0, 1)),  # bike unlabeled
    sample(2, [], [], []),                                      # an empty image
]


def heatmap_loss_and_grad(net: CenterNet, mode: str):
    net.eval()
    head = net.heads['h']
    head.heatmap_loss = mode
    x = torch.randn(len(SAMPLES), 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    feat = net.extract_feat(x)
    grid = net._grid(x, feat, SAMPLES)
    outputs = head(feat)
    outputs['heatmap'].retain_grad()
    gt = concat_instances([s.gt for s in SAMPLES], net.label_map('h'), [s.annotated_labels for s in SAMPLES])
    losses = head.loss(outputs, gt, grid)
    loss = losses[LossGroup('h')]['heatmap']
    loss.backward()
    return float(loss.detach()), outputs['heatmap'].grad, {g.label: {k: float(v.detach()) for k, v in t.items()}
                                                           for g, t in losses.items()}


def test_sparse_is_the_default_and_equals_dense() -> None:
    net = model(loss_heatmap_weight=0.5)
    assert net.heads['h'].heatmap_loss == 'sparse'
    sparse, grad_s, all_s = heatmap_loss_and_grad(net, 'sparse')
    dense, grad_d, all_d = heatmap_loss_and_grad(net, 'dense')
    assert sparse == pytest.approx(dense, rel=1e-6)
    assert float((grad_s - grad_d).abs().max()) <= 1e-6 * float(grad_d.abs().max())
    assert bool((grad_s[1, 2] == 0).all()) and bool((grad_s[2] != 0).any())   # unlabeled bike; empty image trains
    for group, terms in all_d.items():
        assert all_s[group] == pytest.approx(terms, rel=1e-6)


def test_a_dense_head_from_config_and_bad_values() -> None:
    assert model(heatmap_loss='dense').heads['h'].heatmap_loss == 'dense'
    with pytest.raises(ValueError, match=r"head 'h': heatmap_loss must be one of \('sparse', 'dense'\), got 'fast'"):
        model(heatmap_loss='fast')
