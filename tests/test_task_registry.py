"""Registry-wide tests: every registered task (built in, and the tutorial's plugin) gets
forward/backward, empty-GT, all-ignored, NaN-free and round-trip tests for free.

A task takes part by implementing ``example_gt`` (random valid ground truth) and
``roundtrip_error``; a task that does not place centers names a ``companion`` center task.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Tuple

import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401  (registers the built-in tasks)
from centerx.decode import extract_peaks
from centerx.models import CenterNet
from centerx.registry import TASKS
from centerx.structures import DetSample, ImageMeta
from centerx.task import concat_instances

REPO = Path(__file__).resolve().parents[1]
TUTORIAL = REPO / 'docs' / 'examples' / 'circles'
if (TUTORIAL / 'centerx_circles').is_dir():
    sys.path.insert(0, str(TUTORIAL))
    import centerx_circles  # noqa: F401,E402  (the tutorial's plugin registers itself)

IMAGE = (128, 160)  # (H, W) of the network input
CLASSES = ('car', 'pedestrian')  # names with statistics in every built-in task (Box3DTask's mean sizes)
TASK_TYPES = sorted(TASKS.module_dict)
#: (task type, extra task arguments, neck type): every registered task with its defaults, plus the
#: options the demos ship (log sizes, the skip neck), so they get the same tests
VARIANTS = [(t, {}, 'DeconvNeck') for t in TASK_TYPES] + [
    ('Box2DTask', dict(size_encoding='log'), 'SkipUpNeck'),
    ('RotatedBoxTask', dict(size_encoding='log'), 'SkipUpNeck'),
]
VARIANT_IDS = [t + ''.join(f'-{k}={v}' for k, v in kw.items()) + ('' if n == 'DeconvNeck' else f'-{n}')
               for t, kw, n in VARIANTS]


def build(task_type: str, task_kwargs: Optional[dict] = None, neck: str = 'DeconvNeck') -> Tuple[CenterNet, str]:
    """A tiny model with one head: the task (after its companion center task, if it needs one)."""
    task_cls = TASKS.get(task_type)
    tasks_cfg = [dict(type=task_type, **(task_kwargs or {}))]
    if task_cls.companion is not None:
        tasks_cfg.insert(0, dict(type=task_cls.companion))
    torch.manual_seed(0)
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                      neck=dict(type=neck, out_channels=8),
                      heads=[dict(name='h', tasks=tasks_cfg, head_conv=8)], classes=CLASSES,
                      test_cfg=dict(topk=64))
    task_name = [t for t in model.heads['h'].tasks.values() if type(t).__name__ == task_type][0].name
    return model, task_name


def samples(model: CenterNet, task_name: str, counts: List[int], ignore: bool = False,
            seed: int = 0) -> List[DetSample]:
    task = model.heads['h'].tasks[task_name]
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i, n in enumerate(counts):
        gt = InstanceData()
        for key, value in task.example_gt(n, IMAGE, gen).items():
            gt.set_field(value.to(torch.float32), key)
        gt.labels = torch.randint(0, len(CLASSES), (n,), generator=gen)
        gt.ignore = torch.full((n,), ignore, dtype=torch.bool)
        meta = ImageMeta(img_id=i, img_path='', ori_shape=IMAGE, img_shape=IMAGE, pad_shape=IMAGE,
                         **task.example_meta(IMAGE))
        out.append(DetSample(meta=meta, gt=gt))
    return out


def inputs(batch: int) -> torch.Tensor:
    return torch.randn(batch, 3, *IMAGE, generator=torch.Generator().manual_seed(1))


def check_step(model: CenterNet, batch: List[DetSample]) -> dict:
    model.train()
    losses = model.loss(inputs(len(batch)), batch)
    assert losses and all(k.startswith('loss_') for k in losses)
    total = sum(losses.values())
    assert torch.isfinite(total), losses
    total.backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name
    return losses


@pytest.mark.parametrize('task_type', TASK_TYPES)
def test_every_task_takes_part(task_type):
    task = TASKS.get(task_type)
    assert task.maps, f'{task_type} declares no output maps'
    assert task.requires, f'{task_type} declares no ground-truth fields'
    model, name = build(task_type)
    assert model.heads['h'].tasks[name].example_gt(2, IMAGE, torch.Generator()).keys() >= set(task.requires)


@pytest.mark.parametrize('task_type,task_kwargs,neck', VARIANTS, ids=VARIANT_IDS)
def test_forward_backward_is_finite(task_type, task_kwargs, neck):
    model, name = build(task_type, task_kwargs, neck)
    losses = check_step(model, samples(model, name, [5, 3]))
    assert all(float(v.detach()) > 0 for k, v in losses.items() if 'heatmap' in k)


@pytest.mark.parametrize('task_type,task_kwargs,neck', VARIANTS, ids=VARIANT_IDS)
def test_empty_ground_truth(task_type, task_kwargs, neck):
    model, name = build(task_type, task_kwargs, neck)
    losses = check_step(model, samples(model, name, [0, 0]))
    regression = {k: float(v.detach()) for k, v in losses.items() if 'heatmap' not in k}
    assert all(v == 0.0 for v in regression.values()), regression


@pytest.mark.parametrize('task_type,task_kwargs,neck', VARIANTS, ids=VARIANT_IDS)
def test_all_ignored(task_type, task_kwargs, neck):
    model, name = build(task_type, task_kwargs, neck)
    losses = check_step(model, samples(model, name, [4, 2], ignore=True))
    regression = {k: float(v.detach()) for k, v in losses.items() if 'heatmap' not in k}
    assert all(v == 0.0 for v in regression.values()), regression


@pytest.mark.parametrize('task_type,task_kwargs,neck', VARIANTS, ids=VARIANT_IDS)
def test_predict_is_finite(task_type, task_kwargs, neck):
    model, name = build(task_type, task_kwargs, neck)
    model.eval()
    batch = samples(model, name, [3, 0])
    with torch.no_grad():
        out = model.predict(inputs(2), batch)
    for sample in out:
        pred = sample.preds['h']
        for key in pred.keys():
            assert torch.isfinite(pred.get(key).float()).all(), key


@pytest.mark.parametrize('task_type,task_kwargs,neck', VARIANTS, ids=VARIANT_IDS)
def test_roundtrip(task_type, task_kwargs, neck):
    """encode -> perfect maps -> decode gives every non-colliding object back."""
    model, name = build(task_type, task_kwargs, neck)
    model.eval()
    head = model.heads['h']
    batch = samples(model, name, [6, 4], seed=3)
    with torch.no_grad():
        feat = model.extract_feat(inputs(2))
    grid = model._grid(inputs(2), feat, batch)
    gt = concat_instances([s.gt for s in batch], model.label_map('h'))
    outputs, centers = head.perfect_outputs(gt, grid)
    ctx = CenterNet.decode_context(grid, batch, torch.device('cpu'))
    decoded = model.decode_outputs({'h': outputs}, ctx)['h']
    peaks = extract_peaks(torch.sigmoid(outputs['heatmap']), model.test_cfg['topk'])
    # match each valid, non-colliding object to the peak at its cell
    key = centers.batch_idx * grid.shape[0] * grid.shape[1] + centers.cell_index(grid)
    unique = torch.tensor([int((key[centers.valid] == k).sum()) == 1 for k in key])
    rows, picks = [], []
    for r in torch.nonzero(centers.valid & unique).flatten().tolist():
        b = int(centers.batch_idx[r])
        x, y = centers.xy_int[r].tolist()
        hit = (peaks.xs[b] == x) & (peaks.ys[b] == y) & (peaks.labels[b] == centers.labels[r])
        assert bool(hit.any()), f'object {r} has no peak'
        rows.append(r)
        picks.append((b, int(torch.nonzero(hit)[0])))
    assert len(rows) >= 6, 'too few objects to test'
    task = head.tasks[name]
    fields = {k: torch.stack([decoded[k][b, k_] for b, k_ in picks]) for k in task.provides}
    errors = task.roundtrip_error(fields, gt[torch.tensor(rows)])
    assert float(errors.max()) <= task.roundtrip_tolerance, (task_type, errors)
