"""Property-based: every registered task's encoder and loss on hostile ground truth.

Where bad input is refused: at the dataset (its reader names the file and record, or skips and
counts under ``on_invalid``; see docs/reliability.md). Encoders are total functions of whatever
reaches them, because legitimate batches carry rows no reader would accept: NaN fillers for an
image that lacks a field, boxes that augmentation pushed off the image or shrank to nothing.
So the property here: ground truth whose values are NaN, +-inf, huge, negative, zero-size,
off-image or duplicated gives finite losses and finite gradients; every object the center task
keeps (``valid``) has a finite center, a finite extent and a sound kernel; objects it
does not keep place no peak. (The reference behaviour on valid input, the round trip of perfect
maps, is tested per task in tests/test_task_registry.py; here it is checked on drawn scenes.)
"""
from __future__ import annotations

from typing import Dict, List, Tuple

import pytest
import torch
from hypothesis import given, strategies as st
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401  (registers the built-in tasks)
from centerx.models import CenterNet
from centerx.registry import TASKS
from centerx.structures import DetSample, ImageMeta
from centerx.task import Task, concat_instances

SHAPE = (64, 96)  # (H, W) of the network input: a 16 x 24 grid
NAMES = ('car', 'pedestrian')
TYPES = sorted(TASKS.module_dict)
HOSTILE = [float('nan'), float('inf'), float('-inf'), 1e30, -1e30, 3e38, -3e38, 0.0, -5.0, 1e-30, 1e6]
#: row transforms: zero-size / collapse, mirror to negative, far off-image, huge, tiny
ROW_SCALES = [0.0, -1.0, 1e4, 1e12, 1e-6]


def tiny_model(task_type: str) -> Tuple[CenterNet, List[Task]]:
    cls = TASKS.get(task_type)
    cfgs = [dict(type=task_type)] if cls.companion is None else [dict(type=cls.companion), dict(type=task_type)]
    torch.manual_seed(0)
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(4, 4, 8, 8)),
                      neck=dict(type='DeconvNeck', out_channels=4),
                      heads=[dict(name='h', tasks=cfgs, head_conv=4)], classes=NAMES, test_cfg=dict(topk=16))
    return model, list(model.heads['h'].tasks.values())


MODELS = {t: tiny_model(t) for t in TYPES}


def meta_kwargs(tasks: List[Task]) -> Dict:
    out: Dict = {'task_metas': ()}
    for task in tasks:
        out['task_metas'] += tuple(task.example_meta(SHAPE).get('task_metas', ()))
    return out


def base_gt(tasks: List[Task], n: int, seed: int) -> InstanceData:
    gen = torch.Generator().manual_seed(seed)
    gt = InstanceData()
    for task in tasks:
        for key, value in task.example_gt(n, SHAPE, gen).items():
            gt.set_field(value.to(torch.float32), key)
    gt.labels = torch.randint(0, len(NAMES), (n,), generator=gen)
    gt.ignore = torch.rand(n, generator=gen) < 0.2
    return gt


@st.composite
def hostile_gt(draw, tasks: List[Task]) -> InstanceData:
    """A valid scene of 0-5 objects, then: rows duplicated, rows scaled, single values replaced."""
    n = draw(st.integers(0, 5))
    gt = base_gt(tasks, n, draw(st.integers(0, 2 ** 16)))
    if n:
        order = draw(st.lists(st.integers(0, n - 1), min_size=n, max_size=3 * n))  # duplicates, reorders
        gt = gt[torch.tensor(order)]
    m = len(gt.labels)
    if not m:
        return gt
    for key in [k for k in gt.keys() if gt.get(k).is_floating_point()]:
        value = gt.get(key).clone()
        flat = value.view(m, -1)
        for row in draw(st.lists(st.integers(0, m - 1), max_size=2)):
            flat[row] *= draw(st.sampled_from(ROW_SCALES))
        for _ in range(draw(st.integers(0, 3))):
            flat[draw(st.integers(0, m - 1)), draw(st.integers(0, flat.shape[1] - 1))] = draw(st.sampled_from(HOSTILE))
        gt.set_field(value, key)
    return gt


def batch_of(tasks: List[Task], gts: List[InstanceData]) -> List[DetSample]:
    return [DetSample(meta=ImageMeta(img_id=i, img_path='', ori_shape=SHAPE, img_shape=SHAPE, pad_shape=SHAPE,
                                     **meta_kwargs(tasks)), gt=gt) for i, gt in enumerate(gts)]


def check_finite_step(model: CenterNet, batch: List[DetSample]) -> Dict[str, torch.Tensor]:
    """Losses and gradients of one step are finite; every kept object is sound."""
    model.zero_grad()
    images = torch.zeros(len(batch), 3, *SHAPE)
    losses = model.loss(images, batch)
    bad = {k: float(v) for k, v in losses.items() if not torch.isfinite(v)}
    assert not bad, f'non-finite losses {bad}'
    sum(losses.values()).backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), f'non-finite gradient of {name}'
    head = model.heads['h']
    with torch.no_grad():
        feat = model.extract_feat(images)
    grid = model._grid(images, feat, batch)
    gt = concat_instances([s.gt for s in batch], model.label_map('h'))
    centers = head.place_centers(gt, grid)
    keep = centers.valid | centers.ignore
    assert torch.isfinite(centers.xy[keep]).all() and torch.isfinite(centers.sizes[keep]).all()
    assert (centers.sizes[keep] >= 0).all()
    kernel = head.kernel(centers.sizes, centers.angles)
    assert (kernel.radius >= 0).all() and torch.isfinite(kernel.inv_cov).all()
    heat, _ = head.render(centers, grid)
    assert torch.isfinite(heat).all() and ((heat >= 0) & (heat <= 1)).all()
    return losses


@pytest.mark.parametrize('task_type', TYPES)
@given(data=st.data())
def test_hostile_ground_truth_gives_finite_losses_and_gradients(task_type, data) -> None:
    model, tasks = MODELS[task_type]
    model.train()
    gts = [data.draw(hostile_gt(tasks)) for _ in range(2)]
    check_finite_step(model, batch_of(tasks, gts))


@pytest.mark.parametrize('task_type', TYPES)
@pytest.mark.parametrize('count', [0, 10_000])
def test_zero_and_ten_thousand_objects(task_type, count) -> None:
    """10,000 objects: the 6 of a valid scene repeated, jittered and (every third) ignored."""
    model, tasks = MODELS[task_type]
    model.train()
    gt = base_gt(tasks, 6 if count else 0, seed=1)
    if count:
        gt = gt[torch.arange(count) % 6]
        gt.ignore = torch.arange(count) % 3 == 0
    losses = check_finite_step(model, batch_of(tasks, [gt]))
    regression = {k: float(v.detach()) for k, v in losses.items() if 'heatmap' not in k}
    assert all(v == 0.0 for v in regression.values()) if not count else any(v > 0 for v in regression.values())


# ------------------------------------------------------------- examples kept as regular tests


@pytest.mark.parametrize('dim', [3e38, 1e38])
def test_box3d_size_whose_dims_target_overflows_places_no_peak(dim) -> None:
    """Found by the property: a finite, positive 3D size over the class mean's float32 range made
    ``log(dims / mean)`` infinite, and ``loss_box3d_dims`` inf."""
    model, tasks = MODELS['Box3DTask']
    model.train()
    gt = base_gt(tasks, 4, seed=0)
    gt.labels[:] = NAMES.index('pedestrian')  # the smallest mean size: the largest ratio
    gt.ignore[:] = False
    boxes = gt.boxes3d.clone()
    boxes[0, 3] = dim
    gt.boxes3d = boxes
    losses = check_finite_step(model, batch_of(tasks, [gt]))
    assert float(losses['loss_box3d_dims']) > 0  # the other three still train
    images = torch.zeros(1, 3, *SHAPE)
    grid = model._grid(images, model.extract_feat(images), batch_of(tasks, [gt]))
    valid = model.heads['h'].place_centers(concat_instances([gt], model.label_map('h')), grid).valid
    assert valid.tolist() == [dim < 2e38, True, True, True]


def test_kernel_of_rows_without_a_peak_is_sound() -> None:
    """Found by the property: the head computes kernels of every row, also the NaN fillers and
    the boxes off the image; a negative size (a box with x2 < x1) gave a NaN radius, -2^63 as
    int64."""
    model, tasks = MODELS['Box2DTask']
    gt = base_gt(tasks, 3, seed=0)
    gt.bboxes = torch.tensor([[float("nan"), 0, 10, 10], [20, 0, 0, 40], [50, 8, -1e30, 20]])
    images = torch.zeros(1, 3, *SHAPE)
    grid = model._grid(images, model.extract_feat(images), batch_of(tasks, [gt]))
    centers = model.heads['h'].place_centers(concat_instances([gt], model.label_map('h')), grid)
    kernel = model.heads['h'].kernel(centers.sizes, centers.angles)
    assert (kernel.radius >= 0).all() and torch.isfinite(kernel.inv_cov).all()
