"""GradNorm and Dynamic Weight Average: the weights move as the papers' formulas say."""
from __future__ import annotations

import math

import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401
from centerx.models import CenterNet, DynamicWeightAverage, GradNormLossBalancing
from centerx.models.loss_groups import LossGroup, log_names
from centerx.structures import DetSample, ImageMeta

A, B = LossGroup('h'), LossGroup('h', 'box2d')


def grouped(a, b):
    return {A: {'heatmap': torch.as_tensor(float(a))}, B: {'size': torch.as_tensor(float(b)), 'offset': torch.tensor(0.0)}}


def test_dwa_weights_follow_the_loss_ratios_of_the_last_two_periods():
    dwa = DynamicWeightAverage([A, B], temperature=2.0, period=2)
    dwa.train()
    for a, b in [(4, 2), (4, 2), (2, 2)]:  # period 1: means (4, 2); period 2 not complete
        out = dwa(grouped(a, b))
        assert [float(w) for w in out.weights.values()] == [1.0, 1.0]
    out = dwa(grouped(2, 2))  # period 2 complete: means (2, 2), ratios (0.5, 1)
    e = [math.exp(0.5 / 2), math.exp(1.0 / 2)]
    expected = [2 * x / sum(e) for x in e]
    next_out = dwa(grouped(3, 5))  # the new weights hold through the next period
    assert [float(w) for w in next_out.weights.values()] == pytest.approx(expected, rel=1e-6)
    assert float(next_out.groups[A]['heatmap']) == pytest.approx(3 * expected[0], rel=1e-6)
    assert float(next_out.groups[B]['size']) == pytest.approx(5 * expected[1], rel=1e-6)
    assert expected[1] > 1 > expected[0]  # the group whose loss fell less gains weight
    assert set(log_names(next_out.groups, False, next_out.regularizers, next_out.weights)) == {
        'loss_heatmap', 'loss_box2d_size', 'loss_box2d_offset', 'weight_h__heatmap', 'weight_h__box2d'}
    dwa.eval()
    before = dwa.sums.clone()
    dwa(grouped(100, 100))
    assert torch.equal(dwa.sums, before), 'evaluation must not feed the averages'
    with pytest.raises(ValueError, match='period'):
        DynamicWeightAverage([A], period=0)


def linear_losses(feat, sa, sb):
    """L_a = sa * feat[0], L_b = sb * feat[1] with feat = 1: value and gradient norm are sa, sb."""
    return {A: {'heatmap': sa * feat[0]}, B: {'size': sb * feat[1]}}


def test_gradnorm_regularizer_by_hand():
    gn = GradNormLossBalancing([A, B], alpha=1.5)
    gn.train()
    feat = torch.ones(4, requires_grad=True)
    out = gn(linear_losses(feat, 2.0, 1.0), shared=feat)  # G = (2, 1), mean 1.5, r = (1, 1)
    assert [float(r.detach()) for r in out.regularizers.values()] == pytest.approx([0.5, 0.5])
    assert gn.initial_losses.tolist() == [2.0, 1.0]
    out = gn(linear_losses(feat, 2.0, 0.5), shared=feat)  # L/L0 = (1, 0.5), r = (4/3, 2/3), mean G 1.25
    t = [1.25 * (4 / 3) ** 1.5, 1.25 * (2 / 3) ** 1.5]
    assert [float(r.detach()) for r in out.regularizers.values()] == pytest.approx([abs(2 - t[0]), abs(0.5 - t[1])], rel=1e-5)
    logged = log_names(out.groups, False, out.regularizers, out.weights, out.regularizer_name)
    assert {'loss_gradnorm_h__heatmap', 'loss_gradnorm_h__box2d', 'weight_h__heatmap'} <= set(logged)
    # the regularizer moves only the weights: no gradient reaches the shared feature from it
    feat.grad = None
    sum(out.regularizers.values()).backward()
    assert feat.grad is None and gn.weight(A).grad is not None


def test_gradnorm_equalises_gradient_norms_with_alpha_zero():
    """alpha = 0: the weights move until w_a * 2 = w_b * 1, renormalised to sum 2: (2/3, 4/3)."""
    gn = GradNormLossBalancing([A, B], alpha=0.0)
    gn.train()
    opt = torch.optim.SGD(gn.parameters(), lr=0.05)
    for _ in range(200):
        feat = torch.ones(4, requires_grad=True)
        out = gn(linear_losses(feat, 2.0, 1.0), shared=feat)
        opt.zero_grad()
        sum(out.regularizers.values()).backward()
        opt.step()
    gn.renormalize()
    assert float(gn.weight(A).detach()) == pytest.approx(2 / 3, abs=0.03)
    assert float(gn.weight(B).detach()) == pytest.approx(4 / 3, abs=0.03)


def tiny(balancing: dict) -> CenterNet:
    torch.manual_seed(0)
    return CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 8, 8)), neck=dict(type='DeconvNeck', out_channels=8),
                     heads=[dict(name='h', tasks=[dict(type='Box2DTask')], head_conv=8)], classes=('a',),
                     loss_balancing=balancing)


def sample() -> DetSample:
    gt = InstanceData(bboxes=torch.tensor([[4.0, 4.0, 30.0, 40.0]]), labels=torch.tensor([0]),
                      ignore=torch.zeros(1, dtype=torch.bool))
    return DetSample(meta=ImageMeta(img_id=0, img_path='', ori_shape=(64, 64), img_shape=(64, 64)), gt=gt)


def test_gradnorm_in_a_model_leaves_the_network_gradient_alone():
    """At init (weights 1) the network's gradient is the unbalanced one; only the weights get
    the GradNorm gradient."""
    x = torch.randn(1, 3, 64, 64)
    plain, balanced = tiny(None), tiny(dict(type='GradNormLossBalancing'))
    balanced.load_state_dict(plain.state_dict(), strict=False)
    for model in (plain, balanced):
        model.train()
        losses = model.loss(x, [sample()])
        sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert {'loss_gradnorm_h__heatmap', 'loss_gradnorm_h__box2d', 'weight_h__box2d'} <= set(losses)
    for (name, p), q in zip(plain.named_parameters(), [p for n, p in balanced.named_parameters()
                                                       if not n.startswith('loss_balancing')]):
        torch.testing.assert_close(p.grad, q.grad, msg=name)
    assert all(float(w.grad.abs()) > 0 for w in balanced.loss_balancing.task_weights.values())


def test_gradnorm_under_ddp_without_find_unused_parameters(tmp_path):
    """The per-group gradients on the shared feature (autograd.grad inside the forward) leave
    DDP's reducer alone, and the weights are in every step's graph."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    model = tiny(dict(type='GradNormLossBalancing'))
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1)
    try:
        ddp = DistributedDataParallel(model, find_unused_parameters=False)
        for _ in range(2):
            losses = ddp(torch.randn(1, 3, 64, 64), [sample()], mode='loss')
            sum(v for k, v in losses.items() if 'loss' in k).backward()
        assert all(w.grad is not None for w in model.loss_balancing.task_weights.values())
    finally:
        dist.destroy_process_group()


def test_a_non_finite_step_neither_blanks_dwa_nor_becomes_gradnorms_initial_loss():
    dwa = DynamicWeightAverage([A, B], temperature=2.0, period=1)
    dwa.train()
    for a, b in [(4, 2), (float('nan'), 2), (float('inf'), 2), (2, 2)]:
        out = dwa(grouped(a, b))
    assert all(torch.isfinite(w) for w in out.weights.values())
    assert int(dwa.count) == 0 and torch.isfinite(dwa.last_means).all()
    gn = GradNormLossBalancing([A, B], alpha=1.5)
    gn.train()
    feat = torch.ones(4, requires_grad=True)
    gn({A: {'heatmap': float('inf') * feat[0]}, B: {'size': 1.0 * feat[1]}}, shared=feat)  # e.g. an AMP overflow
    assert torch.isnan(gn.initial_losses[0]) and gn.initial_losses[1] == 1.0
    gn(linear_losses(feat, 2.0, 1.0), shared=feat)
    assert gn.initial_losses.tolist() == [2.0, 1.0]  # the first finite loss is L_i(0)
