"""Registry-wide multi-scale test-time augmentation on perfect maps: for every registered task
(the built-ins and the tutorial's plugin), at each of the paper's scales the perfect outputs of
that scale's grid, decoded and merged by the head's center task, give the ground truth back:
one detection per object (the merge removes the copies of the other scales), each within the
task's round-trip tolerance of the original annotation.

The ground truth is drawn on a small original image and letterboxed (x2.5) into the network
input, so that even at scale 0.5 the objects the examples keep in separate cells stay there.
Each scale's ground truth comes from the data pipeline's own warp (``apply_affine``), and the
model's view of that scale must carry the same affine: the two routes agree.
"""
from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401  (registers the built-in tasks)
from centerx.data.transforms import CenterAffine, PackDetInputs  # noqa: E402
from centerx.data.transforms.geometric import apply_affine  # noqa: E402
from centerx.models import CenterNet  # noqa: E402
from centerx.registry import TASKS  # noqa: E402
from centerx.structures import DetSample, ImageMeta  # noqa: E402
from centerx.task import concat_instances  # noqa: E402
from centerx.testing import TaskCase  # noqa: E402
from centerx.tta import PAPER_SCALES  # noqa: E402

TUTORIAL = Path(__file__).resolve().parents[1] / 'docs' / 'examples' / 'circles'
if (TUTORIAL / 'centerx_circles').is_dir():
    sys.path.insert(0, str(TUTORIAL))
    import centerx_circles  # noqa: F401,E402  (the tutorial's plugin registers itself)
TASK_TYPES = sorted(TASKS.module_dict)
#: left/right pairs given to the tasks that take ``flip_pairs`` (and carried by the metainfo)
FLIP_PAIRS = [[1, 2], [3, 4]]

ORIGINAL = (48, 64)  # (H, W) of the original image: letterboxed x2.5 into INPUT (4 px bars)
INPUT = (128, 160)
COUNTS = [5, 4]
SCORE = 0.5  # a perfect object scores ~1; copies left by soft-NMS are decayed below this


def task_kwargs(task_type: str) -> dict:
    return dict(flip_pairs=FLIP_PAIRS) if 'flip_pairs' in inspect.signature(TASKS.get(task_type)).parameters else {}


def draw_ground_truth(case: TaskCase, seed: int) -> Tuple[List[InstanceData], List[Dict]]:
    """Per image: ground truth on the ORIGINAL image, and the ImageMeta arguments it needs."""
    gen = torch.Generator().manual_seed(seed)
    gts = [case.instances(n, ORIGINAL, gen) for n in COUNTS]
    return gts, [case.meta_kwargs(ORIGINAL) for _ in COUNTS]


def pipeline_sample(gt: InstanceData, meta_kwargs: Dict, img_id: int, scale: float) -> DetSample:
    """The sample the data pipeline makes of ``gt``: letterboxed into INPUT, then resized by ``scale``."""
    meta = ImageMeta(img_id=img_id, img_path='', ori_shape=ORIGINAL, img_shape=ORIGINAL, pad_shape=ORIGINAL,
                     **meta_kwargs)
    results = dict(img=np.zeros((*ORIGINAL, 3), np.uint8), meta=meta, metainfo=dict(flip_pairs=FLIP_PAIRS),
                   instances={k: gt.get(k).numpy() for k in gt.keys()})
    results = CenterAffine(input_size=(INPUT[1], INPUT[0]))(results)
    if scale != 1.0:
        shape = (int(INPUT[0] * scale), int(INPUT[1] * scale))
        apply_affine(results, np.diag([scale, scale, 1.0]), shape)
    return PackDetInputs()(results)['data_samples']


def usable_rows(model: CenterNet, gts: List[InstanceData], metas: List[Dict]) -> List[torch.Tensor]:
    """Per image, the objects the test can expect back: valid and alone in their peak cell at
    every scale, and overlapping no other object of their class by more than 0.3 in the merge's
    own overlap (NMS would rightly merge two such objects)."""
    head = model.heads['h']
    merger = head.tasks[head.center_task]
    fields = {f for t in head.tasks.values() for f in t.provides}
    keep = [torch.ones(len(gt), dtype=torch.bool) for gt in gts]
    for scale in PAPER_SCALES:
        batch = [pipeline_sample(gt, m, i, scale) for i, (gt, m) in enumerate(zip(gts, metas))]
        inputs = torch.zeros(len(batch), 3, *batch[0].meta.pad_shape)
        grid = model._grid(inputs, model.extract_feat(inputs), batch)
        centers = head.place_centers(concat_instances([s.gt for s in batch], model.label_map('h')), grid)
        key = centers.batch_idx * grid.shape[0] * grid.shape[1] + centers.cell_index(grid)
        alone = torch.tensor([int((key[centers.valid] == k).sum()) == 1 for k in key], dtype=torch.bool)
        ok = (centers.valid & alone).split([len(gt) for gt in gts])
        keep = [a & b for a, b in zip(keep, ok)]
    for i, gt in enumerate(gts):
        ref = InstanceData(**{f: gt.get(f) for f in fields if f in gt})
        ref.scores, ref.labels = torch.ones(len(gt)), gt.labels
        overlap = merger.tta_overlap(ref, ImageMeta(img_id=i, img_path='', ori_shape=ORIGINAL, **metas[i]))
        same = gt.labels[:, None] == gt.labels[None, :]
        crowded = ((overlap > 0.3) & same & ~torch.eye(len(gt), dtype=torch.bool)).any(dim=1)
        keep[i] &= ~crowded
    return keep


def perfect_multiscale(model: CenterNet, gts: List[InstanceData], metas: List[Dict]) -> Tuple[List[DetSample], int]:
    """Perfect outputs at every scale, decoded through the model's views and merged by
    ``merge_views``. Returns the samples with their merged predictions, and how many detections
    above SCORE all the scales gave before the merge."""
    base = [pipeline_sample(gt, m, i, 1.0) for i, (gt, m) in enumerate(zip(gts, metas))]
    views = model.tta_views(torch.zeros(len(base), 3, *INPUT), base, PAPER_SCALES)
    decoded, before = [], 0
    for view in views:
        batch = [pipeline_sample(gt, m, i, view.scale) for i, (gt, m) in enumerate(zip(gts, metas))]
        for ours, theirs in zip(view.samples, batch):  # the model's view = the pipeline's warp
            np.testing.assert_allclose(ours.meta.affine, theirs.meta.affine, rtol=0, atol=1e-12)
            assert tuple(view.inputs.shape[-2:]) == ours.meta.pad_shape
        grid = model._grid(view.inputs, model.extract_feat(view.inputs), batch)
        outputs, _ = model.heads['h'].perfect_outputs(
            concat_instances([s.gt for s in batch], model.label_map('h')), grid)
        fields = model.decode_view({'h': outputs}, view)
        decoded.append(fields)
        before += int((fields['h']['scores'] > SCORE).sum())
    return model.merge_views(decoded, [DetSample(meta=s.meta) for s in base]), before


@pytest.mark.parametrize('merge', [dict(type='nms', iou_thr=0.5), dict(type='soft_nms')], ids=['nms', 'soft_nms'])
@pytest.mark.parametrize('task_type', TASK_TYPES)
def test_multiscale_merge_of_perfect_maps_is_the_ground_truth(task_type, merge):
    case = TaskCase(task_type, task_kwargs(task_type))
    model, name = case.model, case.name
    model.test_cfg.update(scales=PAPER_SCALES, tta_merge=merge)
    model.check_tta_config()
    model.eval()
    gts, metas = draw_ground_truth(case, seed=5)
    keep = usable_rows(model, gts, metas)
    gts = [gt[k] for gt, k in zip(gts, keep)]
    expected = sum(len(gt) for gt in gts)
    assert expected >= 3, 'too few objects to test'
    with torch.no_grad():
        merged, before = perfect_multiscale(model, gts, metas)
    assert before == len(PAPER_SCALES) * expected  # every scale finds every object ...
    task = model.heads['h'].tasks[name]
    for sample, gt in zip(merged, gts):
        pred = sample.preds['h']
        strong = pred[pred.scores > SCORE]
        assert len(strong) == len(gt), (len(strong), len(gt))  # ... and the merge leaves one of each
        assert (pred.scores[:len(gt)] > SCORE).all()  # the objects outrank whatever the merge decayed: AP 1
        for r in range(len(gt)):
            same = strong[strong.labels == gt.labels[r]]
            errors = task.roundtrip_error({k: same.get(k) for k in task.provides}, gt[torch.full((len(same),), r)])
            assert float(errors.min()) <= task.roundtrip_tolerance, (type(task).__name__, r, errors)
