"""The checks every task must pass, one function each, on a :class:`~centerx.testing.cases.TaskCase`.

Each check raises ``AssertionError`` naming the task and what failed; :data:`CHECKS` maps their
names to them, in the order :func:`~centerx.testing.check_task` runs them.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Tuple

import torch
from mmengine.structures import InstanceData

from centerx.decode import extract_peaks
from centerx.models import CenterNet
from centerx.structures import DetSample
from centerx.task import DecodeContext, concat_instances

from .cases import IMAGE, TaskCase

#: objects per image of a training step: an odd total, so that the L1 gradient of a branch bias
#: (a sum of +-1 over the objects) cannot cancel to exactly zero
STEP_COUNTS = [5, 4]
#: objects per image of the round trips (and at least how many must round-trip)
ROUNDTRIP_COUNTS, MIN_ROUNDTRIP_OBJECTS = [6, 4], 6


def _who(case: TaskCase) -> str:
    return f'{type(case.under_test).__name__} (head tasks {[type(t).__name__ for t in case.tasks]})'


def train_step(case: TaskCase, batch: List[DetSample], every_branch_learns: bool = False) -> Dict[str, torch.Tensor]:
    """One training step: 'loss_*' names, a finite total and finite gradients; with
    ``every_branch_learns`` every parameter of the head (heatmap, every task branch, the modules of
    a head option) gets a finite, nonzero gradient. Returns the losses."""
    model = case.model
    model.train()
    model.zero_grad(set_to_none=True)
    losses = model.loss(case.inputs(len(batch)), batch)
    summed = {k: v for k, v in losses.items() if 'loss' in k}  # mmengine sums these; others are logged only
    assert summed and all(k.startswith('loss_') for k in summed), f'{_who(case)}: loss names {sorted(losses)}'
    total = sum(summed.values())
    assert torch.isfinite(total), f'{_who(case)}: non-finite losses {losses}'
    total.backward()
    for name, p in model.named_parameters():
        assert p.grad is None or torch.isfinite(p.grad).all(), f'{_who(case)}: non-finite gradient of {name}'
    if every_branch_learns:  # every parameter of the head: heatmap, branches, a head option's modules
        for name, p in case.head.named_parameters():
            assert p.grad is not None, f'{_who(case)}: {name} got no gradient'
            assert torch.isfinite(p.grad).all() and float(p.grad.abs().sum()) > 0, \
                f'{_who(case)}: {name} has a zero or non-finite gradient'
    return losses


def _regression(losses: Dict[str, torch.Tensor]) -> Dict[str, float]:
    return {k: float(v.detach()) for k, v in losses.items() if 'loss' in k and 'heatmap' not in k
            and not k.startswith('loss_uncertainty')}


# ---------------------------------------------------------------------------- the checks
def check_contract(case: TaskCase) -> None:
    """The class declares maps and required fields, its examples hold them, the head bound its classes."""
    task = case.under_test
    assert task.maps, f'{_who(case)} declares no output maps'
    assert task.requires, f'{_who(case)} declares no ground-truth fields'
    gt = case.instances(2, IMAGE, torch.Generator().manual_seed(0))
    missing = set(task.requires) - set(gt.keys())
    assert not missing, f'{_who(case)}: the examples lack required fields {sorted(missing)}'
    assert all(tuple(t.classes) == tuple(case.classes) for t in case.tasks), f'{_who(case)}: classes not bound'


def check_forward_backward(case: TaskCase) -> None:
    """Finite losses, a positive heatmap loss and a nonzero gradient on every branch parameter."""
    losses = train_step(case, case.samples(STEP_COUNTS), every_branch_learns=True)
    heat = float(losses['loss_heatmap'].detach())  # the one head's focal loss
    assert heat > 0, f'{_who(case)}: heatmap loss {heat}'


def check_empty(case: TaskCase) -> None:
    """No object in the batch: a finite step and regression losses of exactly 0."""
    regression = _regression(train_step(case, case.samples([0, 0])))
    assert all(v == 0.0 for v in regression.values()), f'{_who(case)}: empty batch gives {regression}'


def check_all_ignored(case: TaskCase) -> None:
    """Every object ignored: a finite step and regression losses of exactly 0."""
    regression = _regression(train_step(case, case.samples([4, 2], ignore=True)))
    assert all(v == 0.0 for v in regression.values()), f'{_who(case)}: all-ignored batch gives {regression}'


def check_predict_finite(case: TaskCase) -> None:
    """``predict`` of an untrained model (one image without objects) gives only finite fields."""
    model = case.model.eval()
    with torch.no_grad():
        out = model.predict(case.inputs(2), case.samples([3, 0]))
    for sample in out:
        pred = sample.preds['h']
        for key in pred.keys():
            assert torch.isfinite(pred.get(key).float()).all(), f'{_who(case)}: non-finite predicted {key!r}'


def perfect_decode(case: TaskCase, batch: List[DetSample]):
    """The batch's perfect outputs, decoded; returns (decoded fields, outputs, centers, grid)."""
    model = case.model
    inputs = case.inputs(len(batch))
    with torch.no_grad():
        feat = model.extract_feat(inputs)
    grid = model._grid(inputs, feat, batch)
    gt = concat_instances([s.gt for s in batch], model.label_map('h'))
    outputs, centers = case.head.perfect_outputs(gt, grid)
    ctx = CenterNet.decode_context(grid, batch, torch.device('cpu'))
    return model.decode_outputs({'h': outputs}, ctx)['h'], outputs, centers, grid


def roundtrip(case: TaskCase, batch: List[DetSample], originals: Optional[List[InstanceData]] = None) -> None:
    """encode -> perfect maps -> decode gives every non-colliding object back, within the task's
    ``roundtrip_tolerance`` (compared with ``originals``, the ground truth before the pipeline's
    warps, when given)."""
    model = case.model.eval()
    decoded, outputs, centers, grid = perfect_decode(case, batch)
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
        assert bool(hit.any()), f'{_who(case)}: object {r} has no peak'
        rows.append(r)
        picks.append((b, int(torch.nonzero(hit)[0])))
    assert len(rows) >= MIN_ROUNDTRIP_OBJECTS, \
        f'{_who(case)}: only {len(rows)} objects with a peak of their own, too few to test (examples too small?)'
    task = case.under_test
    fields = {k: torch.stack([decoded[k][b, k_] for b, k_ in picks]) for k in task.provides}
    errors = task.roundtrip_error(fields, reference[torch.tensor(rows)])
    assert float(errors.max()) <= task.roundtrip_tolerance, \
        f'{_who(case)}: round-trip errors {errors.tolist()} above the tolerance {task.roundtrip_tolerance}'


def check_roundtrip(case: TaskCase) -> None:
    """The round-trip law on samples already in input pixels."""
    roundtrip(case, case.samples(ROUNDTRIP_COUNTS, seed=3))


def check_roundtrip_through_pipeline(case: TaskCase) -> None:
    """The round-trip law through the data pipeline: a 128x80 original, mirrored and letterboxed
    into 160x128; decoders must map back to the original image (and camera, and left/right names)."""
    batch, originals = case.pipeline_samples(ROUNDTRIP_COUNTS, seed=3)
    roundtrip(case, batch, originals)


def _flat_outputs(outputs: Dict) -> List[torch.Tensor]:
    return [outputs['heatmap']] + [m for name in sorted(outputs) if name != 'heatmap'
                                    for _, m in sorted(outputs[name].items())]


def check_decode_traces(case: TaskCase) -> None:
    """Every decoder is plain torch: traced on one batch, the graph decodes another batch exactly as
    eager code does (no Python branching on data, no per-detection loops)."""
    model = case.model.eval()
    head = case.head
    names = sorted(head.tasks)
    maps = {n: sorted(head.tasks[n].maps) for n in names}

    def make_args(seed: int) -> Tuple:
        batch = case.samples([5, 3], seed=seed)
        _, outputs, _, grid = perfect_decode(case, batch)
        ctx = CenterNet.decode_context(grid, batch, torch.device('cpu'))
        task_inputs: Dict[str, torch.Tensor] = {}
        for task in head.tasks.values():
            task_inputs.update(task.decode_inputs(ctx.metas))
        return grid, sorted(task_inputs), (*_flat_outputs(outputs), ctx.inverse_affine, ctx.ori_shapes, ctx.flipped,
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
    assert len(got) == len(eager) and eager[0].shape[1] == model.test_cfg['topk'], _who(case)
    for a, b in zip(got, eager):
        torch.testing.assert_close(a, b, msg=lambda m: f'{_who(case)}: traced decode differs: {m}')
    assert not torch.equal(eager[0], run(*args)[0]), f'{_who(case)}: the two batches decode alike: the check shows nothing'


def check_behind(case: TaskCase) -> None:
    """Second on a head whose peaks another task places: trains a step (every branch learns) and
    decodes its own ground truth back from those peaks (use a case with ``first`` set)."""
    assert case.head.tasks[case.head.center_task] is not case.under_test, \
        f'{_who(case)}: the task under test places the peaks itself; give the case a first task'
    train_step(case, case.samples(STEP_COUNTS), every_branch_learns=True)
    check_roundtrip(case)


#: name -> check, in the order :func:`~centerx.testing.check_task` runs them
CHECKS: Dict[str, Callable[[TaskCase], None]] = {
    'contract': check_contract,
    'forward_backward': check_forward_backward,
    'empty': check_empty,
    'all_ignored': check_all_ignored,
    'predict_finite': check_predict_finite,
    'roundtrip': check_roundtrip,
    'roundtrip_through_pipeline': check_roundtrip_through_pipeline,
    'decode_traces': check_decode_traces,
}
