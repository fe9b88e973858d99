"""Fused branches (one wide 3x3 conv + one block-diagonal 1x1 conv) are the same model as separate
branches: same outputs (1e-6) and gradients for every registered task and for mixes of heads, the
same parameters (a checkpoint of separate branches loads as is), per-branch initialisation kept."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Sequence

import pytest
import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

import centerx_tasks  # noqa: F401  (registers the built-in tasks)
from centerx.heatmap import CornerNetGaussian
from centerx.models import CenterNet
from centerx.models.center_head import CenterHead, conv_branch
from centerx.models.fused_branches import block_diagonal, run_fused
from centerx.registry import TASKS
from centerx.structures import DetSample, ImageMeta
from centerx_tasks.box2d.task import Box2DTask
from centerx_tasks.keypoints.task import KeypointTask

TUTORIAL = Path(__file__).resolve().parents[2] / 'docs' / 'examples' / 'circles'
if (TUTORIAL / 'centerx_circles').is_dir():  # the tutorial's plugin takes part like a built-in task
    sys.path.insert(0, str(TUTORIAL))
    import centerx_circles  # noqa: F401,E402

CLASSES = ('car', 'pedestrian')
TOL = 1e-6


def _flat(outputs: Dict) -> Dict[str, Tensor]:
    flat = {}
    for head, out in outputs.items():
        for key, value in out.items():
            if isinstance(value, dict):
                flat.update({f'{head}.{key}.{m}': v for m, v in value.items()})
            else:
                flat[f'{head}.{key}'] = value
    return flat


def _model(heads: Sequence[dict], fuse: bool) -> CenterNet:
    torch.manual_seed(0)
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                      neck=dict(type='DeconvNeck', out_channels=8), heads=list(heads), classes=CLASSES,
                      fuse_branches=fuse)
    with torch.no_grad():  # random biases everywhere, so that a misplaced block cannot hide
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    return model


def _tasks_of(task_type: str) -> List[dict]:
    cls = TASKS.get(task_type)
    return ([dict(type=cls.companion)] if cls.companion is not None else []) + [dict(type=task_type)]


def _assert_same(heads: Sequence[dict]) -> None:
    separate, fused = _model(heads, False), _model(heads, True)
    fused.load_state_dict(separate.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    out_s, out_f = _flat(separate(x, mode='tensor')), _flat(fused(x, mode='tensor'))
    assert out_s.keys() == out_f.keys()
    for key in out_s:
        assert out_s[key].shape == out_f[key].shape, key
        assert torch.allclose(out_s[key], out_f[key], atol=TOL, rtol=0), (key, (out_s[key] - out_f[key]).abs().max())
    # the same gradients: the block-diagonal zeros are constants, never trained
    weights = {k: torch.randn_like(v) for k, v in out_s.items()}
    sum((out_s[k] * weights[k]).sum() for k in out_s).backward()
    sum((out_f[k] * weights[k]).sum() for k in out_f).backward()
    grads_f = dict(fused.named_parameters())
    for name, p in separate.named_parameters():
        if p.grad is not None:
            g = grads_f[name].grad
            assert g is not None, name
            scale = float(p.grad.abs().max()) + 1.0
            assert float((p.grad - g).abs().max()) <= 1e-5 * scale, name  # float32 summation order


@pytest.mark.parametrize('head_conv', [6, 0])
@pytest.mark.parametrize('task_type', sorted(TASKS.module_dict))
def test_fused_equals_separate_for_every_task(task_type: str, head_conv: int) -> None:
    _assert_same([dict(name='h', tasks=_tasks_of(task_type), head_conv=head_conv)])


def test_fused_equals_separate_for_mixed_heads() -> None:
    """Three heads across tasks, with different hidden widths and a 1x1-only head, in one pass."""
    heads = [dict(name='boxes', classes=('car',), tasks=[dict(type='Box2DTask')], head_conv=5),
             dict(name='rotated', tasks=[dict(type='RotatedBoxTask')], head_conv=0),
             dict(name='people', classes=('pedestrian',),
                  tasks=[dict(type='Box2DTask'), dict(type='KeypointTask', num_keypoints=3)], head_conv=9)]
    _assert_same(heads)


def test_fused_loss_and_predict_equal_separate() -> None:
    """The training and inference paths (``loss``, ``predict``) read the fused outputs too."""
    heads = [dict(name='cars', classes=('car',), tasks=[dict(type='Box2DTask')], head_conv=5),
             dict(name='all', tasks=[dict(type='Box2DTask')], head_conv=0)]
    separate, fused = _model(heads, False), _model(heads, True)
    fused.load_state_dict(separate.state_dict())
    separate.eval(), fused.eval()

    def samples() -> List[DetSample]:
        gt = InstanceData(bboxes=torch.tensor([[4.0, 6.0, 30.0, 40.0], [34.0, 10.0, 60.0, 28.0]]),
                          labels=torch.tensor([0, 1]), ignore=torch.zeros(2, dtype=torch.bool))
        return [DetSample(meta=ImageMeta(img_id=i, img_path='', ori_shape=(64, 64), img_shape=(64, 64),
                                         pad_shape=(64, 64)), gt=gt) for i in range(2)]

    x = torch.randn(2, 3, 64, 64)
    loss_s, loss_f = separate.loss(x, samples()), fused.loss(x, samples())
    assert loss_s.keys() == loss_f.keys() and len(loss_s) == 6
    for key in loss_s:
        assert torch.allclose(loss_s[key], loss_f[key], rtol=1e-5, atol=1e-6), key
    pred_s, pred_f = separate.predict(x, samples()), fused.predict(x, samples())
    for a, b in zip(pred_s, pred_f):
        for head in ('cars', 'all'):
            assert torch.allclose(a.preds[head].scores, b.preds[head].scores, atol=1e-6)
            assert torch.allclose(a.preds[head].bboxes, b.preds[head].bboxes, atol=1e-4)


def test_checkpoint_keys_are_the_separate_layout() -> None:
    """Fusing changes no parameter: today's keys, and nothing else, are in the state dict."""
    fused = _model([dict(name='h', tasks=[dict(type='Box2DTask')], head_conv=4)], True)
    keys = {k for k in fused.state_dict() if k.startswith('heads.')}
    assert keys == {f'heads.h.{b}.{i}.{p}' for b in ('heatmap', 'branches.box2d__size', 'branches.box2d__offset')
                    for i in (0, 2) for p in ('weight', 'bias')}


def test_head_fused_forward_and_branch_init() -> None:
    """CenterHead(fuse_branches=True) alone, and the per-branch inits: heatmap bias -2.19, the
    keypoint heatmap's own bias, zero elsewhere."""
    torch.manual_seed(0)
    tasks = [Box2DTask(), KeypointTask(num_keypoints=3)]
    head = CenterHead('h', 8, ('a', 'b'), tasks, CornerNetGaussian(), head_conv=4, fuse_branches=True)
    feat = torch.randn(2, 8, 6, 7)
    out = head(feat)
    head.fuse_branches = False
    ref = head(feat)
    assert torch.allclose(out['heatmap'], ref['heatmap'], atol=TOL, rtol=0)
    assert set(out['keypoints']) == {'kps', 'kp_heatmap', 'kp_offset'}
    assert torch.allclose(head.heatmap[-1].bias, torch.full((2,), -2.19))
    assert torch.allclose(head.branches['keypoints__kp_heatmap'][-1].bias, torch.full((3,), -2.19))
    assert head.branches['box2d__size'][-1].bias.abs().sum() == 0


def test_block_diagonal_layout() -> None:
    a, b = torch.ones(2, 3), 2 * torch.ones(1, 2)
    bd = block_diagonal([a, b])
    assert bd.shape == (3, 5)
    assert torch.equal(bd, torch.block_diag(a, b))


def test_a_branch_that_is_not_a_conv_branch_is_refused() -> None:
    odd = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 1), nn.Sigmoid())
    with pytest.raises(ValueError, match=r"(?s)cannot fuse branch 'h.odd'.*Sigmoid.*fuse_branches=False"):
        run_fused([conv_branch(4, 4, 2), odd], torch.zeros(1, 4, 3, 3), names=['h.heatmap', 'h.odd'])
    dilated = nn.Sequential(nn.Conv2d(4, 4, 3, padding=2, dilation=2), nn.ReLU(), nn.Conv2d(4, 2, 1))
    with pytest.raises(ValueError, match='cannot fuse branch'):
        run_fused([dilated], torch.zeros(1, 4, 3, 3))


@pytest.mark.parametrize('option', [dict(center_attention=True), dict(center_mode='class_agnostic')])
def test_fusing_refuses_the_head_options_whose_branches_read_other_inputs(option) -> None:
    head = dict(name='objects', tasks=[dict(type='Box2DTask')], head_conv=6, **option)
    with pytest.raises(ValueError, match='fuse_branches does not combine'):
        _model([head], fuse=True)
    with pytest.raises(ValueError, match='fuse_branches does not combine'):
        CenterHead('objects', 8, CLASSES, [Box2DTask()], CornerNetGaussian(), head_conv=6, fuse_branches=True,
                   **option)
    _model([head], fuse=False)  # the option itself builds
