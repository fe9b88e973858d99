"""The non-finite guard: a step whose loss or gradient is not finite never reaches the weights;
'stop' names the iteration, head, task and term; 'skip' drops the step and counts it."""
from __future__ import annotations

import copy

import pytest
import torch
from mmengine.logging import MessageHub
from mmengine.model import BaseModel
from torch import nn

from centerx.engine.non_finite import GUARDED_VERSION, SKIPPED_KEY, NonFiniteLossError
from centerx.models.loss_groups import LossGroup, log_names
from centerx.registry import OPTIM_WRAPPERS


class TwoHeadModel(BaseModel):
    """Shared layers + BatchNorm, heads 'cars' (heatmap loss) and 'people' (task 'box2d', term
    'size'); ``poison`` makes one term non-finite: 'nan_size' (loss nan) or 'nan_grad' (the loss
    is finite, its gradient is not)."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(2, 2)
        self.norm = nn.BatchNorm1d(2)
        self.heads = nn.ModuleDict({'cars': nn.Linear(2, 1), 'people': nn.Linear(2, 1)})
        self.poison = None

    def grouped_losses(self, inputs: torch.Tensor):
        feat = self.norm(self.shared(inputs))
        size = self.heads['people'](feat).abs().mean()
        if self.poison == 'nan_size':
            size = size * float('nan')
        elif self.poison == 'nan_grad':
            size = torch.sqrt(self.heads['people'](feat).abs() * 0).mean()  # 0, with a nan gradient
        return {LossGroup('cars'): {'heatmap': self.heads['cars'](feat).pow(2).mean()},
                LossGroup('people', 'box2d'): {'size': size}}

    def forward(self, inputs, data_samples=None, mode='tensor'):
        return log_names(self.grouped_losses(inputs), several_heads=True)


@pytest.fixture
def hub():
    hub = MessageHub.get_instance('test_non_finite')
    hub.update_info('iter', 6)
    for key in list(hub.log_scalars):
        hub.log_scalars.pop(key)
    return hub


def build(model: nn.Module, policy: str):
    return OPTIM_WRAPPERS.build(dict(type='GuardedOptimWrapper', non_finite=policy,
                                     optimizer=torch.optim.Adam(model.parameters(), lr=0.1)))


def batch():
    return dict(inputs=torch.arange(8.0).reshape(4, 2))


def test_finite_steps_update_the_weights(hub):
    model = TwoHeadModel()
    before = copy.deepcopy(model.state_dict())
    model.train_step(batch(), build(model, 'stop'))
    assert not torch.equal(before['heads.cars.weight'], model.heads['cars'].weight)


@pytest.mark.parametrize('poison, expected', [
    ('nan_size', r"iteration 7: non-finite loss nan: head 'people' task 'box2d' term 'size' = nan "
                 r'\(loss_people_box2d_size\)'),
    ('nan_grad', r"iteration 7: non-finite gradient \(the loss is finite\) in 6 parameter\(s\), "
                 r"head 'people': heads\.people\.weight, heads\.people\.bias; shared layers: shared\.weight"),
])
def test_stop_names_iteration_head_task_and_term_before_the_weights_change(hub, poison, expected):
    model = TwoHeadModel()
    model.poison = poison
    wrapper = build(model, 'stop')
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(NonFiniteLossError, match=expected):
        model.train_step(batch(), wrapper)
    for key, value in model.state_dict().items():
        if not key.startswith('norm.'):  # BatchNorm statistics move in the forward; training stops
            assert torch.equal(value, before[key]), key
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_heatmap_group_is_named_as_heatmap(hub):
    model = TwoHeadModel()
    with pytest.raises(NonFiniteLossError, match=r"head 'cars' heatmap term 'heatmap' = (inf|nan)"):
        model.train_step(dict(inputs=torch.full((4, 2), 1e30)), build(model, 'stop'))


def test_skip_leaves_weights_buffers_and_optimizer_state_and_counts(hub):
    model = TwoHeadModel()
    wrapper = build(model, 'skip')
    model.train_step(batch(), wrapper)  # one good step: Adam has state now
    state, optim_state = copy.deepcopy(model.state_dict()), copy.deepcopy(wrapper.state_dict())
    for count, poison_input in enumerate((torch.full((4, 2), float('nan')), None), 1):
        model.poison = None if poison_input is not None else 'nan_grad'
        model.train_step(dict(inputs=poison_input) if poison_input is not None else batch(), wrapper)
        for key, value in model.state_dict().items():
            assert torch.equal(value, state[key]), key  # BatchNorm statistics restored too
        assert wrapper.state_dict()['state'][0]['step'] == optim_state['state'][0]['step']
        assert hub.get_scalar(f'train/{SKIPPED_KEY}').current() == count
        assert f'train/{SKIPPED_KEY}' in hub.state_dict()['log_scalars']  # saved, so resume carries it
    model.poison = None
    model.train_step(batch(), wrapper)  # finite again: training goes on
    assert not torch.equal(state['heads.cars.weight'], model.heads['cars'].weight)


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="non_finite must be one of.*'ignore'"):
        build(TwoHeadModel(), 'ignore')


def test_every_training_is_guarded_and_the_option_reaches_the_wrapper():
    from centerx.engine.launch import load_config
    from tests.engine.test_training import TINY
    cfg = load_config(str(TINY), ['optim_wrapper.non_finite=skip'])
    assert cfg.optim_wrapper.type == GUARDED_VERSION['OptimWrapper']
    model = TwoHeadModel()
    wrapper = OPTIM_WRAPPERS.build(dict(cfg.optim_wrapper, optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    assert wrapper.non_finite == 'skip'

