"""Registry-wide tests: every registered task (built in, and the tutorial's plugin) gets
forward/backward (a gradient on every branch), empty-GT, all-ignored, NaN-free, round-trip
(also under letterbox + flip), traced-decode and mixing tests for free.

A task takes part by implementing ``example_gt`` (random valid ground truth) and
``roundtrip_error``; a task that does not place centers names a ``companion`` center task.
Mixing: every task sits second behind every center-placing task (its own ground truth is
drawn independently of the first task's, so its targets reach from the first task's peak
cells to its own points) and must train a step and round-trip.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401  (registers the built-in tasks)
from centerx.data.geometry import hflip_matrix
from centerx.data.transforms import CenterAffine, PackDetInputs
from centerx.data.transforms.geometric import apply_affine
from centerx.decode import extract_peaks
from centerx.models import CenterNet
from centerx.registry import TASKS
from centerx.structures import DetSample, ImageMeta
from centerx.task import DecodeContext, Task, concat_instances

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
CENTER_TYPES = [t for t in TASK_TYPES if TASKS.get(t).centers is not Task.centers]
#: (center task, second task): every task behind every other center-placing task
PAIRS = [(first, second) for first in CENTER_TYPES for second in TASK_TYPES if second != first]
#: a non-square original image, letterboxed into IMAGE (scale 1.25, 14 px bars above and below;
#: upscaled, so that objects the examples keep in separate cells stay in separate cells)
ORIGINAL = (80, 128)
#: objects per image of a training step: an odd total, so that the L1 gradient of a branch bias
#: (a sum of +-1 over the objects) cannot cancel to exactly zero
STEP_COUNTS = [5, 4]
#: left/right joint pairs the flip round trip gives tasks that take ``flip_pairs``
FLIP_PAIRS = [[1, 2], [3, 4]]
#: the head options of issue 14 (one config line each), tested with every task
HEAD_OPTIONS = [dict(center_mode='class_agnostic'), dict(center_attention=True),
                dict(center_mode='class_agnostic', center_attention=dict(detach=False)),
                dict(kernel=dict(type='CenternessKernel')), dict(kernel=dict(type='BoxFillingGaussian', beta=1.0))]
HEAD_OPTION_IDS = ['+'.join(f'{k}={v["type"] if k == "kernel" else v}' for k, v in o.items()) for o in HEAD_OPTIONS]
#: the loss balancing methods (model option ``loss_balancing``)
BALANCING = ['UncertaintyLossBalancing', 'GradNormLossBalancing', 'DynamicWeightAverage']
OPTION_CASES = [(t, o) for t in TASK_TYPES for o in HEAD_OPTIONS]
OPTION_CASE_IDS = [f'{t}-{i}' for t in TASK_TYPES for i in HEAD_OPTION_IDS]


def build(task_cfgs: Sequence[dict], neck: str = 'DeconvNeck', head_options: Optional[dict] = None,
          loss_balancing: Optional[dict] = None) -> CenterNet:
    """A tiny model with one head ``h`` holding these tasks (the first that can places the centers)."""
    torch.manual_seed(0)
    return CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                     neck=dict(type=neck, out_channels=8),
                     heads=[dict(name='h', tasks=list(task_cfgs), head_conv=8, **(head_options or {}))],
                     classes=CLASSES, test_cfg=dict(topk=64), loss_balancing=loss_balancing)


def build_one(task_type: str, task_kwargs: Optional[dict] = None, neck: str = 'DeconvNeck',
              head_options: Optional[dict] = None) -> Tuple[CenterNet, str]:
    """One task (after its companion center task, if it needs one); returns the model and the task name."""
    task_cls = TASKS.get(task_type)
    tasks_cfg = [dict(type=task_type, **(task_kwargs or {}))]
    if task_cls.companion is not None:
        tasks_cfg.insert(0, dict(type=task_cls.companion))
    model = build(tasks_cfg, neck, head_options)
    return model, task_of_type(model, task_type)


def task_of_type(model: CenterNet, task_type: str) -> str:
    return [t for t in model.heads['h'].tasks.values() if type(t).__name__ == task_type][0].name


def example_instances(tasks: Sequence[Task], n: int, shape: Tuple[int, int], gen: torch.Generator,
                      ignore: bool = False) -> InstanceData:
    """Ground truth of ``n`` objects for all ``tasks`` (a later task's fields win on shared names)."""
    gt = InstanceData()
    for task in tasks:
        for key, value in task.example_gt(n, shape, gen).items():
            gt.set_field(value.to(torch.float32), key)
    gt.labels = torch.randint(0, len(CLASSES), (n,), generator=gen)
    gt.ignore = torch.full((n,), ignore, dtype=torch.bool)
    return gt


def example_meta(tasks: Sequence[Task], shape: Tuple[int, int]) -> Dict:
    """The ``ImageMeta`` arguments every task's examples need (their ``task_metas`` together)."""
    meta: Dict = {}
    for task in tasks:
        for key, value in task.example_meta(shape).items():
            meta[key] = tuple(meta.get(key, ())) + tuple(value) if key == 'task_metas' else value
    return meta


def samples(model: CenterNet, counts: List[int], ignore: bool = False, seed: int = 0) -> List[DetSample]:
    """Samples whose ground truth is already in network-input pixels (identity geometry)."""
    tasks = list(model.heads['h'].tasks.values())
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i, n in enumerate(counts):
        meta = ImageMeta(img_id=i, img_path='', ori_shape=IMAGE, img_shape=IMAGE, pad_shape=IMAGE,
                         **example_meta(tasks, IMAGE))
        out.append(DetSample(meta=meta, gt=example_instances(tasks, n, IMAGE, gen, ignore)))
    return out


def letterboxed_flipped_samples(model: CenterNet, counts: List[int], seed: int = 0) -> Tuple[List[DetSample], List[InstanceData]]:
    """Ground truth drawn on an ``ORIGINAL`` image, mirrored and letterboxed into ``IMAGE`` by the data
    pipeline's own transforms. Returns the packed samples and the original ground truth."""
    tasks = list(model.heads['h'].tasks.values())
    gen = torch.Generator().manual_seed(seed)
    out, originals = [], []
    for i, n in enumerate(counts):
        gt = example_instances(tasks, n, ORIGINAL, gen)
        meta = ImageMeta(img_id=i, img_path='', ori_shape=ORIGINAL, img_shape=ORIGINAL, pad_shape=ORIGINAL,
                         **example_meta(tasks, ORIGINAL))
        results = dict(img=np.zeros((*ORIGINAL, 3), np.uint8), meta=meta, metainfo=dict(flip_pairs=FLIP_PAIRS),
                       instances={k: gt.get(k).numpy() for k in gt.keys()})
        apply_affine(results, hflip_matrix(ORIGINAL[1]), ORIGINAL, flip=True)
        results = CenterAffine(input_size=(IMAGE[1], IMAGE[0]))(results)
        packed = PackDetInputs()(results)['data_samples']
        assert packed.meta.flipped and packed.meta.img_shape == IMAGE
        out.append(packed)
        originals.append(gt)
    return out, originals


def inputs(batch: int) -> torch.Tensor:
    return torch.randn(batch, 3, *IMAGE, generator=torch.Generator().manual_seed(1))


def check_step(model: CenterNet, batch: List[DetSample], every_branch_learns: bool = False) -> dict:
    """One training step: finite losses; with ``every_branch_learns`` every parameter of the heatmap
    and of every task branch gets a finite, nonzero gradient (else: no NaN gradients)."""
    model.train()
    losses = model.loss(inputs(len(batch)), batch)
    assert losses and all(k.startswith(('loss_', 'weight_')) for k in losses)  # weight_*: balancing, logged
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total), losses
    total.backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), name
    if every_branch_learns:
        head = model.heads['h']
        options = [(n, m) for n, m in (('class_agnostic', head.class_agnostic),
                                       ('center_attention', head.center_attention)) if m is not None]
        for prefix, module in [('heatmap', head.heatmap)] + list(head.branches.items()) + options:
            for name, p in module.named_parameters():
                assert p.grad is not None, f'{prefix}.{name} got no gradient'
                assert torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0, f'{prefix}.{name}: {p.grad}'
    return losses


@pytest.mark.parametrize('task_type', TASK_TYPES)
def test_every_task_takes_part(task_type):
    task = TASKS.get(task_type)
    assert task.maps, f'{task_type} declares no output maps'
    assert task.requires, f'{task_type} declares no ground-truth fields'
    model, name = build_one(task_type)
    assert model.heads['h'].tasks[name].example_gt(2, IMAGE, torch.Generator()).keys() >= set(task.requires)


@pytest.mark.parametrize('task_type', TASK_TYPES)
def test_head_hands_its_classes(task_type):
    model, name = build_one(task_type)
    assert all(t.classes == CLASSES for t in model.heads['h'].tasks.values())


@pytest.mark.parametrize('task_type,task_kwargs,neck', VARIANTS, ids=VARIANT_IDS)
def test_forward_backward_every_branch_learns(task_type, task_kwargs, neck):
    model, name = build_one(task_type, task_kwargs, neck)
    losses = check_step(model, samples(model, STEP_COUNTS), every_branch_learns=True)
    assert all(float(v.detach()) > 0 for k, v in losses.items() if 'heatmap' in k)


@pytest.mark.parametrize('task_type,task_kwargs,neck', VARIANTS, ids=VARIANT_IDS)
def test_empty_ground_truth(task_type, task_kwargs, neck):
    model, name = build_one(task_type, task_kwargs, neck)
    losses = check_step(model, samples(model, [0, 0]))
    regression = {k: float(v.detach()) for k, v in losses.items() if 'heatmap' not in k}
    assert all(v == 0.0 for v in regression.values()), regression


@pytest.mark.parametrize('task_type,task_kwargs,neck', VARIANTS, ids=VARIANT_IDS)
def test_all_ignored(task_type, task_kwargs, neck):
    model, name = build_one(task_type, task_kwargs, neck)
    losses = check_step(model, samples(model, [4, 2], ignore=True))
    regression = {k: float(v.detach()) for k, v in losses.items() if 'heatmap' not in k}
    assert all(v == 0.0 for v in regression.values()), regression


@pytest.mark.parametrize('task_type,task_kwargs,neck', VARIANTS, ids=VARIANT_IDS)
def test_predict_is_finite(task_type, task_kwargs, neck):
    model, name = build_one(task_type, task_kwargs, neck)
    model.eval()
    batch = samples(model, [3, 0])
    with torch.no_grad():
        out = model.predict(inputs(2), batch)
    for sample in out:
        pred = sample.preds['h']
        for key in pred.keys():
            assert torch.isfinite(pred.get(key).float()).all(), key


def perfect_decode(model: CenterNet, batch: List[DetSample]):
    """Perfect outputs of the batch's ground truth, decoded; returns (decoded, centers, grid, gt)."""
    head = model.heads['h']
    with torch.no_grad():
        feat = model.extract_feat(inputs(len(batch)))
    grid = model._grid(inputs(len(batch)), feat, batch)
    gt = concat_instances([s.gt for s in batch], model.label_map('h'))
    outputs, centers = head.perfect_outputs(gt, grid)
    ctx = CenterNet.decode_context(grid, batch, torch.device('cpu'))
    return model.decode_outputs({'h': outputs}, ctx)['h'], outputs, centers, grid


def check_roundtrip(model: CenterNet, task_name: str, batch: List[DetSample],
                    originals: Optional[List[InstanceData]] = None) -> None:
    """encode -> perfect maps -> decode gives every non-colliding object back (compared with
    ``originals``, the ground truth before the pipeline's warps, when given)."""
    model.eval()
    decoded, outputs, centers, grid = perfect_decode(model, batch)
    reference = concat_instances(originals or [s.gt for s in batch], model.label_map('h'))
    peaks = extract_peaks(torch.sigmoid(outputs['heatmap']), model.test_cfg['topk'])
    # match each valid, non-colliding object to the peak at its cell
    key = centers.batch_idx * grid.shape[0] * grid.shape[1] + centers.cell_index(grid)
    unique = torch.tensor([int((key[centers.valid] == k).sum()) == 1 for k in key], dtype=torch.bool)
    rows, picks = [], []
    for r in torch.nonzero(centers.valid & unique).flatten().tolist():
        b = int(centers.batch_idx[r])
        x, y = centers.peak_cells(grid)[r].tolist()
        hit = (peaks.xs[b] == x) & (peaks.ys[b] == y) & (peaks.labels[b] == centers.labels[r])
        assert bool(hit.any()), f'object {r} has no peak'
        rows.append(r)
        picks.append((b, int(torch.nonzero(hit)[0])))
    assert len(rows) >= 6, 'too few objects to test'
    task = model.heads['h'].tasks[task_name]
    fields = {k: torch.stack([decoded[k][b, k_] for b, k_ in picks]) for k in task.provides}
    errors = task.roundtrip_error(fields, reference[torch.tensor(rows)])
    assert float(errors.max()) <= task.roundtrip_tolerance, (type(task).__name__, errors)


@pytest.mark.parametrize('task_type,task_kwargs,neck', VARIANTS, ids=VARIANT_IDS)
def test_roundtrip(task_type, task_kwargs, neck):
    model, name = build_one(task_type, task_kwargs, neck)
    check_roundtrip(model, name, samples(model, [6, 4], seed=3))


@pytest.mark.parametrize('task_type,head_options', OPTION_CASES, ids=OPTION_CASE_IDS)
def test_head_options_train_and_roundtrip(task_type, head_options):
    """Every head option with every task: a training step in which every branch (and the option's
    own modules) learns, zero regression loss without objects, finite predictions, and the
    perfect-maps round trip (the perfect outputs of a class-agnostic head decode to the ground truth)."""
    model, name = build_one(task_type, head_options=head_options)
    check_step(model, samples(model, STEP_COUNTS), every_branch_learns=True)
    model.zero_grad()
    losses = check_step(model, samples(model, [0, 0]))
    assert all(float(v.detach()) == 0.0 for k, v in losses.items() if 'heatmap' not in k)  # also loss_classes
    check_roundtrip(model, name, samples(model, [6, 4], seed=3))
    model.eval()
    with torch.no_grad():
        out = model.predict(inputs(2), samples(model, [3, 0]))
    assert all(torch.isfinite(out[0].preds['h'].get(k).float()).all() for k in out[0].preds['h'].keys())


@pytest.mark.parametrize('balancing', BALANCING)
@pytest.mark.parametrize('task_type', TASK_TYPES)
def test_loss_balancing_trains_every_branch_and_weight(task_type, balancing):
    """Every balancing method with every task: two steps in which every branch learns and every
    group's weight is logged; learned weights get a gradient."""
    task_cls = TASKS.get(task_type)
    cfgs = ([dict(type=task_cls.companion)] if task_cls.companion else []) + [dict(type=task_type)]
    model = build(cfgs, loss_balancing=dict(type=balancing))
    for _ in range(2):
        model.zero_grad()
        losses = check_step(model, samples(model, STEP_COUNTS), every_branch_learns=True)
    assert {f'weight_h__{g.task or "heatmap"}' for g in model.loss_groups()} <= set(losses)
    for p in model.loss_balancing.parameters():
        assert p.grad is not None and float(p.grad.abs()) > 0


@pytest.mark.parametrize('task_type', TASK_TYPES)
def test_roundtrip_letterboxed_and_flipped(task_type):
    """The same law through the data pipeline: a 128x80 original, mirrored and letterboxed into
    160x128; decoders must map back to the original image (and camera, and joint names)."""
    kwargs = dict(flip_pairs=FLIP_PAIRS) if 'flip_pairs' in inspect.signature(TASKS.get(task_type)).parameters else {}
    model, name = build_one(task_type, kwargs)
    batch, originals = letterboxed_flipped_samples(model, [6, 4], seed=3)
    check_roundtrip(model, name, batch, originals)


@pytest.mark.parametrize('first,second', PAIRS, ids=[f'{a}+{b}' for a, b in PAIRS])
def test_any_task_behind_any_center_task(first, second):
    """Second on a head whose peaks another task places: trains a step (every branch learns) and
    decodes its own ground truth back from those peaks."""
    model = build([dict(type=first), dict(type=second)])
    head = model.heads['h']
    assert type(head.tasks[head.center_task]).__name__ == first
    check_step(model, samples(model, STEP_COUNTS), every_branch_learns=True)
    check_roundtrip(model, task_of_type(model, second), samples(model, [6, 4], seed=3))


def flat_outputs(outputs: Dict) -> List[torch.Tensor]:
    return [outputs['heatmap']] + [m for name in sorted(outputs) if name != 'heatmap'
                                    for _, m in sorted(outputs[name].items())]


@pytest.mark.parametrize('task_type', TASK_TYPES)
def test_decode_traces(task_type):
    """Every decoder is plain torch: traced on one batch, the graph decodes another batch exactly as
    eager code does (no Python branching on data, no per-detection loops)."""
    model, _ = build_one(task_type)
    model.eval()
    head = model.heads['h']
    names = sorted(head.tasks)
    maps = {n: sorted(head.tasks[n].maps) for n in names}

    def make_args(seed: int):
        batch = samples(model, [5, 3], seed=seed)
        _, outputs, _, grid = perfect_decode(model, batch)
        ctx = CenterNet.decode_context(grid, batch, torch.device('cpu'))
        task_inputs = {}
        for task in head.tasks.values():
            task_inputs.update(task.decode_inputs(ctx.metas))
        return grid, sorted(task_inputs), (*flat_outputs(outputs), ctx.inverse_affine, ctx.ori_shapes, ctx.flipped,
                                           *(task_inputs[k] for k in sorted(task_inputs)))

    grid, input_keys, args = make_args(seed=3)

    def run(*tensors):
        heatmap, rest = tensors[0], list(tensors[1:])
        outputs = {'heatmap': heatmap}
        for n in names:
            outputs[n] = {m: rest.pop(0) for m in maps[n]}
        inv, shapes, flipped = rest[:3]
        ctx = DecodeContext(grid=grid, inverse_affine=inv, ori_shapes=shapes, flipped=flipped,
                            task_inputs=dict(zip(input_keys, rest[3:])))
        decoded = model.decode_outputs({'h': outputs}, ctx)['h']
        return tuple(decoded[k] for k in sorted(decoded))

    with torch.no_grad():
        traced = torch.jit.trace(run, args, check_trace=False)
        _, _, other = make_args(seed=11)
        eager = run(*other)
        got = traced(*other)
    assert len(got) == len(eager) and eager[0].shape[1] == model.test_cfg['topk']
    for a, b in zip(got, eager):
        torch.testing.assert_close(a, b)
    assert not torch.equal(eager[0], run(*args)[0]), 'the two batches decode alike: the test shows nothing'
