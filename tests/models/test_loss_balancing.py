"""Learned uncertainty loss weighting (Kendall et al. 2018), grouped by (head, task) whatever the names."""
from __future__ import annotations

import math

import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401
from centerx.models import CenterNet, UncertaintyLossBalancing
from centerx.models.loss_groups import LossGroup, log_names
from centerx.structures import DetSample, ImageMeta

HEATMAP, BOX = LossGroup('h'), LossGroup('h', 'box2d')


def test_weighting_formula_and_logged_weights():
    bal = UncertaintyLossBalancing([HEATMAP, BOX], init=0.0)
    with torch.no_grad():
        bal.log_var(HEATMAP).fill_(math.log(2.0))
    out = bal({HEATMAP: {'heatmap': torch.tensor(4.0)},
               BOX: {'size': torch.tensor(1.0), 'offset': torch.tensor(0.0)}})
    assert float(out.groups[HEATMAP]['heatmap'].detach()) == pytest.approx(2.0)  # exp(-log 2) * 4
    assert float(out.groups[BOX]['size'].detach()) == pytest.approx(1.0)
    assert float(out.regularizers[HEATMAP].detach()) == pytest.approx(math.log(2.0))
    assert float(out.weights[HEATMAP]) == pytest.approx(0.5) and float(out.weights[BOX]) == 1.0
    logged = log_names(out.groups, False, out.regularizers, out.weights)
    assert set(logged) == {'loss_heatmap', 'loss_box2d_size', 'loss_box2d_offset', 'loss_uncertainty_h__heatmap',
                           'loss_uncertainty_h__box2d', 'weight_h__heatmap', 'weight_h__box2d'}


def test_group_without_loss_adds_no_regulariser_but_stays_in_the_graph():
    rot = LossGroup('h', 'rot')
    bal = UncertaintyLossBalancing([HEATMAP, rot])
    out = bal({HEATMAP: {'heatmap': torch.tensor(1.0)}, rot: {'size': torch.tensor(0.0)}})
    assert float(out.regularizers[rot].detach()) == 0.0  # no loss
    assert float(out.regularizers[HEATMAP].detach()) == 0.0  # s = 0 at init
    with torch.no_grad():
        bal.log_var(rot).fill_(1.0)
        bal.log_var(HEATMAP).fill_(1.0)
    out = bal({HEATMAP: {'heatmap': torch.tensor(1.0)}, rot: {'size': torch.tensor(0.0)}})
    assert float(out.regularizers[rot].detach()) == 0.0 and float(out.regularizers[HEATMAP].detach()) == 1.0
    total = sum(out.regularizers.values()) + sum(v for terms in out.groups.values() for v in terms.values())
    total.backward()
    assert bal.log_var(rot).grad is not None and float(bal.log_var(rot).grad) == 0.0


def test_groups_must_match_and_names_must_not_say_loss():
    bal = UncertaintyLossBalancing([HEATMAP, BOX])
    with pytest.raises(ValueError, match='configured for'):
        bal({HEATMAP: {'heatmap': torch.tensor(1.0)}})
    with pytest.raises(KeyError, match='h.rot'):
        bal.log_var(LossGroup('h', 'rot'))
    with pytest.raises(ValueError, match="'floss.heatmap'"):
        UncertaintyLossBalancing([LossGroup('floss')])
    with pytest.raises(ValueError, match='duplicate'):
        UncertaintyLossBalancing([HEATMAP, LossGroup('h', None)])


def test_log_variances_are_keyed_by_head_and_task_in_the_state_dict():
    """Checkpoints hold ``log_vars.<head>__<task>`` / ``<head>__heatmap`` (stable under a reordering
    of the groups), not list positions; keys two groups would share are refused at build time."""
    groups = [LossGroup('h'), LossGroup('h', 'box2d'), LossGroup('r', 'rot')]
    bal = UncertaintyLossBalancing(groups, init=0.25)
    assert list(bal.state_dict()) == ['log_vars.h__heatmap', 'log_vars.h__box2d', 'log_vars.r__rot']
    with torch.no_grad():
        bal.log_var(LossGroup('r', 'rot')).fill_(3.0)
    reordered = UncertaintyLossBalancing(groups[::-1])
    reordered.load_state_dict(bal.state_dict())
    assert float(reordered.log_var(LossGroup('r', 'rot')).detach()) == 3.0
    assert float(reordered.log_var(LossGroup('h')).detach()) == 0.25
    model = tiny_model([dict(name='objects', tasks=[dict(type='Box2DTask')], head_conv=8)])
    assert {k for k in model.state_dict() if k.startswith('loss_balancing.')} == {
        'loss_balancing.log_vars.objects__heatmap', 'loss_balancing.log_vars.objects__box2d'}
    with pytest.raises(ValueError, match=r"groups 'a.b__c' and 'a__b.c' would share the parameter key 'a__b__c'"):
        UncertaintyLossBalancing([LossGroup('a', 'b__c'), LossGroup('a__b', 'c')])
    with pytest.raises(ValueError, match="'h.heatmap' and 'h.heatmap' would share"):  # a task named 'heatmap'
        UncertaintyLossBalancing([LossGroup('h'), LossGroup('h', 'heatmap')])


def tiny_model(heads, classes=('a',), init: float = 0.0) -> CenterNet:
    torch.manual_seed(0)
    return CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 8, 8)), neck=dict(type='DeconvNeck', out_channels=8),
                     heads=heads, classes=classes, loss_balancing=dict(type='UncertaintyLossBalancing', init=init))


def box_sample(labels=(0,)) -> DetSample:
    boxes = torch.tensor([[4.0, 4.0, 30.0, 40.0], [34.0, 20.0, 60.0, 50.0]])[:len(labels)]
    gt = InstanceData(bboxes=boxes, labels=torch.tensor(labels), ignore=torch.zeros(len(labels), dtype=torch.bool))
    return DetSample(meta=ImageMeta(img_id=0, img_path='', ori_shape=(64, 64), img_shape=(64, 64)), gt=gt)


def assert_every_log_variance_trains(model: CenterNet, losses) -> None:
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    for group in model.loss_balancing.groups:
        s = model.loss_balancing.log_var(group)
        assert s.grad is not None and torch.isfinite(s.grad) and float(s.grad) != 0, group.label


def test_model_with_balancing_trains_the_log_variances():
    model = tiny_model([dict(name='objects', tasks=[dict(type='Box2DTask')], head_conv=8)])
    losses = model.loss(torch.randn(1, 3, 64, 64), [box_sample()])
    assert {'weight_objects__heatmap', 'weight_objects__box2d', 'loss_uncertainty_objects__heatmap',
            'loss_heatmap', 'loss_box2d_size'} <= set(losses)
    assert_every_log_variance_trains(model, losses)


def test_tasks_whose_names_share_a_prefix_get_their_own_groups():
    """Tasks ``b`` and ``b_2`` on one head: each group holds exactly its task's terms, and
    each log-variance gets a gradient (a name-prefix rule put b_2's terms into b's group)."""
    model = tiny_model([dict(name='h', tasks=[dict(type='Box2DTask', name='b'), dict(type='Box2DTask', name='b_2')],
                             head_conv=8)])
    x, samples = torch.randn(1, 3, 64, 64), [box_sample()]
    grouped = model.grouped_losses(x, samples)
    assert list(grouped) == [LossGroup('h'), LossGroup('h', 'b'), LossGroup('h', 'b_2')]
    assert [set(terms) for terms in grouped.values()] == [{'heatmap'}, {'size', 'offset'}, {'size', 'offset'}]
    with torch.no_grad():  # halve b_2's weight only
        model.loss_balancing.log_var(LossGroup('h', 'b_2')).fill_(math.log(2.0))
    losses = model.loss(x, samples)
    unbalanced = {g.task: float(terms['size'].detach()) for g, terms in grouped.items() if g.task}
    assert float(losses['loss_b_2_size'].detach()) == pytest.approx(unbalanced['b_2'] / 2, rel=1e-5)
    assert float(losses['loss_b_size'].detach()) == pytest.approx(unbalanced['b'], rel=1e-5)
    assert_every_log_variance_trains(model, losses)


def test_a_head_named_like_a_task_prefix_keeps_every_loss():
    """Heads ``h`` (task ``b_x``) and ``h_b`` (task ``x``): today's names would both be
    ``loss_h_b_x_size``; both are kept under their structural names, none is overwritten."""
    model = tiny_model([dict(name='h', classes=['a'], tasks=[dict(type='Box2DTask', name='b_x')], head_conv=8),
                        dict(name='h_b', classes=['c'], tasks=[dict(type='Box2DTask', name='x')], head_conv=8)],
                       classes=('a', 'c'))
    x, samples = torch.randn(1, 3, 64, 64), [box_sample((0, 1))]
    grouped = model.grouped_losses(x, samples)
    losses = model.loss(x, samples)
    assert {'loss_h.b_x.size', 'loss_h_b.x.size', 'loss_h.b_x.offset', 'loss_h_b.x.offset',
            'loss_h_heatmap', 'loss_h_b_heatmap'} <= set(losses)
    assert 'loss_h_b_x_size' not in losses
    terms = sum(len(t) for t in grouped.values())
    assert len([k for k in losses if 'loss' in k and 'uncertainty' not in k]) == terms
    assert_every_log_variance_trains(model, losses)


def test_names_that_collide_even_structurally_are_an_error():
    """Dots in names can make the structural names collide too: an error, never an overwrite."""
    one = torch.tensor(1.0)
    grouped = {LossGroup('a.b', 'c'): {'t': one}, LossGroup('a.b'): {'c_t': one},  # both 'loss_a.b_c_t'
               LossGroup('a', 'b.c'): {'t': one}, LossGroup('a'): {'b.c_t': one}}   # both 'loss_a_b.c_t'
    with pytest.raises(ValueError, match="'loss_a.b.c"):
        log_names(grouped, several_heads=True)
    del grouped[LossGroup('a')], grouped[LossGroup('a', 'b.c')]
    assert set(log_names(grouped, several_heads=True)) == {'loss_a.b.c.t', 'loss_a.b.c_t'}


def test_ddp_without_find_unused_parameters_trains_every_group(tmp_path):
    """Every log-variance and every branch is in every step's graph, also for a head that no
    image of the batch is annotated for (its groups' losses are zero): DDP with
    ``find_unused_parameters=False`` raises on the second step otherwise."""
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    model = tiny_model([dict(name='h', classes=['a'], head_conv=8,
                             tasks=[dict(type='Box2DTask', name='b'), dict(type='Box2DTask', name='b_2')]),
                        dict(name='r', classes=['c'], tasks=[dict(type='RotatedBoxTask')], head_conv=8)],
                       classes=('a', 'c'), init=0.5)
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1)
    try:
        ddp = DistributedDataParallel(model, find_unused_parameters=False)
        for _ in range(2):  # an unused parameter of step 1 raises in step 2
            losses = ddp(torch.randn(1, 3, 64, 64), [box_sample()], mode='loss')
            assert float(losses['loss_uncertainty_r__rotated'].detach()) == 0.0  # no polygons: no data
            assert float(losses['loss_uncertainty_h__b_2'].detach()) != 0.0
            sum(v for k, v in losses.items() if 'loss' in k).backward()
    finally:
        dist.destroy_process_group()
