"""Head options of issue 14: center-size attention and the class-agnostic center mode."""
from __future__ import annotations

import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401
from centerx.heatmap import CornerNetGaussian
from centerx.models.center_head import CenterHead
from centerx.models.head_options import CenterAttention, ClassAgnosticCenters, combine_scores
from centerx.task import Grid
from centerx_tasks.box2d.task import Box2DTask


def head(**options) -> CenterHead:
    torch.manual_seed(0)
    return CenterHead(name='h', in_channels=6, classes=('a', 'b', 'c'), tasks=[Box2DTask()],
                      kernel=CornerNetGaussian(), head_conv=8, **options)


def test_attention_is_identity_at_init_then_gates_by_the_formula():
    att = CenterAttention(logit_channels=2)
    feat, logits = torch.randn(2, 5, 7, 9), torch.randn(2, 2, 7, 9)
    torch.testing.assert_close(att(feat, logits), feat)
    with torch.no_grad():
        att.conv.weight.normal_()
        att.conv.bias.fill_(0.3)
    a = torch.nn.functional.conv2d(logits, att.conv.weight, att.conv.bias, padding=1)
    torch.testing.assert_close(att(feat, logits), feat * 2 * torch.sigmoid(a))
    assert att(feat, logits).shape == feat.shape


@pytest.mark.parametrize('detach', [True, False])
def test_attention_detach_stops_regression_gradients_at_the_heatmap(detach):
    h = head(center_attention=dict(detach=detach))
    with torch.no_grad():
        h.center_attention.conv.weight.fill_(0.1)
    out = h(torch.randn(2, 6, 10, 12))
    out['box2d']['size'].sum().backward()
    grad = h.heatmap[0].weight.grad
    assert (grad is None or float(grad.abs().sum()) == 0.0) == detach
    assert float(h.center_attention.conv.weight.grad.abs().sum()) > 0


def test_bad_option_values_are_refused():
    with pytest.raises(ValueError, match="head 'h': center_mode must be one of"):
        head(center_mode='agnostic')
    with pytest.raises(ValueError, match="head 'h': center_attention takes only detach"):
        head(center_attention=dict(gate='tanh'))
    with pytest.raises(ValueError, match="head 'h': center_attention must be"):
        head(center_attention='yes')
    with pytest.raises(ValueError, match="may not be named 'center_class'"):
        CenterHead(name='h', in_channels=6, classes=('a',), tasks=[Box2DTask(name='center_class')],
                   kernel=CornerNetGaussian(), center_mode='class_agnostic')


def test_combined_scores_are_the_product_of_the_sigmoids():
    c, k = torch.randn(2, 1, 4, 5) * 4, torch.randn(2, 3, 4, 5) * 4
    torch.testing.assert_close(torch.sigmoid(combine_scores(c, k)), torch.sigmoid(c) * torch.sigmoid(k))
    big = combine_scores(torch.full((1, 1, 1, 1), 50.0), torch.full((1, 1, 1, 1), 50.0))
    assert torch.isfinite(big).all() and float(big) > 13


def test_overlapping_windows_belong_to_the_class_whose_kernel_is_highest():
    heat = torch.zeros(1, 3, 1, 5)
    heat[0, 0, 0] = torch.tensor([0.2, 0.6, 1.0, 0.6, 0.2])  # class a centered at x = 2
    heat[0, 2, 0] = torch.tensor([0.0, 0.0, 0.5, 0.8, 1.0])  # class c centered at x = 4
    heat[0, 1, 0, 0] = 0.2  # a tie with class a at x = 0: the lower channel wins
    center, center_ignore, classes, weight = ClassAgnosticCenters.targets(heat, torch.zeros_like(heat, dtype=torch.bool))
    assert center[0, 0, 0].tolist() == pytest.approx([0.2, 0.6, 1.0, 0.8, 1.0])
    assert classes[0, :, 0].argmax(0).tolist() == [0, 0, 0, 2, 2]
    assert classes.sum(1).flatten().tolist() == [1.0] * 5  # one class per cell
    assert torch.equal(weight, center) and not center_ignore.any()
    empty = torch.zeros(1, 3, 2, 2)
    assert ClassAgnosticCenters.targets(empty, empty.bool())[2].sum() == 0  # no window, no class target


def test_class_agnostic_loss_by_hand_and_unannotated_classes_add_nothing():
    branch = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 1))
    mode = ClassAgnosticCenters(branch, 2)
    heat = torch.zeros(1, 2, 3, 3)
    heat[0, 1, 1, 1], heat[0, 1, 1, 2] = 1.0, 0.5
    class_logits = torch.zeros(1, 2, 3, 3)
    outputs = {'center_class': {'center': torch.zeros(1, 1, 3, 3), 'classes': class_logits}}
    ignore = torch.zeros_like(heat, dtype=torch.bool)
    losses = mode.loss(outputs, heat, ignore, torch.ones(1, 2, dtype=torch.bool), 2.0, 4.0)
    # logits 0: BCE = log 2 per class; 2 classes, weights 1 and 0.5, divided by 1.5
    assert float(losses['classes']) == pytest.approx(2 * torch.log(torch.tensor(2.0)).item())
    only_b = mode.loss(outputs, heat, ignore, torch.tensor([[False, True]]), 2.0, 4.0)
    assert float(only_b['classes']) == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert float(losses['center']) > 0


def test_class_agnostic_head_outputs_and_perfect_decode():
    h = head(center_mode='class_agnostic')
    out = h(torch.randn(2, 6, 16, 20))
    assert out['heatmap'].shape == (2, 3, 16, 20) and out['center_class']['center'].shape == (2, 1, 16, 20)
    assert h.heatmap[-1].out_channels == 1
    grid = Grid(batch_size=1, shape=(16, 20), stride=4, input_shape=(64, 80), metas=[])
    gt = InstanceData(bboxes=torch.tensor([[8.0, 8.0, 40.0, 40.0], [20.0, 12.0, 60.0, 44.0]]),
                      labels=torch.tensor([0, 2]), ignore=torch.zeros(2, dtype=torch.bool),
                      batch_idx=torch.zeros(2, dtype=torch.int64))
    perfect, centers = h.perfect_outputs(gt, grid)
    probs = torch.sigmoid(perfect['heatmap'])
    for (x, y), label in zip(centers.peak_cells(grid).tolist(), [0, 2]):
        assert float(probs[0, label, y, x]) == pytest.approx(1.0, abs=1e-5)
        assert float(probs[0, :, y, x].sum() - probs[0, label, y, x]) < 1e-5  # no other class there


def test_class_agnostic_model_predicts_with_flip_augmentation():
    from centerx.models import CenterNet
    from centerx.structures import DetSample, ImageMeta

    torch.manual_seed(0)
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 8, 8)), neck=dict(type='DeconvNeck', out_channels=8),
                      heads=[dict(name='h', tasks=[dict(type='Box2DTask')], head_conv=8, center_mode='class_agnostic',
                                  center_attention=True)],
                      classes=('a', 'b'), test_cfg=dict(topk=10, flip=True))
    model.eval()
    sample = DetSample(meta=ImageMeta(img_id=0, img_path='', ori_shape=(64, 64), img_shape=(64, 64)), gt=InstanceData())
    with torch.no_grad():
        pred = model.predict(torch.randn(1, 3, 64, 64), [sample])[0].preds['h']
    assert pred.bboxes.shape == (10, 4) and torch.isfinite(pred.bboxes).all()
    assert bool(((pred.scores > 0) & (pred.scores < 1)).all()) and set(pred.labels.tolist()) <= {0, 1}
