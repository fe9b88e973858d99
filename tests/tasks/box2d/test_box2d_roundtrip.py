"""The box2d round trip: dataset -> pipeline -> targets -> perfect maps -> decode -> COCO AP 1.0.

Heatmap logits are the logit of the rendered target and the task maps are the task's
``perfect_maps``, so everything between the annotation file and the metric (loading,
warping, clipping, center placement, rendering, encoding, peak extraction, decoding and
mapping back through ``meta.affine``) must be lossless for AP to be 1.0.
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks.box2d  # noqa: F401  (registers the task, dataset and metric)
from centerx.data.transforms import CenterAffine, LoadImage, PackDetInputs, RandomFlip
from centerx.models import CenterNet
from centerx.structures import DetSample, ImageMeta
from centerx.task import Grid, concat_instances
from centerx_tasks.box2d.coco_dataset import CocoDetDataset
from centerx_tasks.box2d.coco_metric import CocoBboxMetric
from centerx_tasks.box2d.synthetic import ensure_synthetic_coco

BATCH = 5


def build_model(classes, size_encoding: str = 'linear') -> CenterNet:
    """A seeded CPU CenterNet: TinyBackbone + DeconvNeck, one 'objects' head with Box2DTask."""
    torch.manual_seed(0)
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                      neck=dict(type='DeconvNeck', out_channels=(8, 8, 8)),
                      heads=[dict(name='objects', tasks=[dict(type='Box2DTask', size_encoding=size_encoding)],
                                  head_conv=8)],
                      classes=tuple(classes))
    return model.eval()


@pytest.fixture(scope='module')
def synthetic(tmp_path_factory) -> Dict[str, str]:
    root = tmp_path_factory.mktemp('box2d_roundtrip') / 'synthetic'
    return ensure_synthetic_coco(str(root), num_train=0, num_val=20, image_size=(256, 256), seed=0)


@pytest.fixture(scope='module')
def synthetic_wide(tmp_path_factory) -> Dict[str, str]:
    """Non-square originals (160 high, 256 wide) so that every square input letterboxes."""
    root = tmp_path_factory.mktemp('box2d_roundtrip_wide') / 'synthetic'
    return ensure_synthetic_coco(str(root), num_train=0, num_val=8, image_size=(160, 256), seed=1,
                                 max_objects=15)


def perfect_outputs(model: CenterNet, samples: List[DetSample], grid: Grid):
    """Perfect network outputs for a batch, and the batch's Centers."""
    head = model.heads['objects']
    task = head.tasks['box2d']
    gt = concat_instances([s.gt for s in samples], model.label_map('objects'))
    centers = head.place_centers(gt, grid)
    heat, _ = head.render(centers, grid)
    maps = task.perfect_maps(task.encode(gt, centers, grid), centers, grid)
    logits = torch.logit(heat.clamp(1e-6, 1 - 1e-6))
    return {'objects': {'heatmap': logits, 'box2d': maps}}, centers


def decode_perfect(model: CenterNet, samples: List[DetSample], inputs: torch.Tensor):
    with torch.no_grad():
        feat = model.extract_feat(inputs)
    grid = model._grid(inputs, feat)
    outputs, centers = perfect_outputs(model, samples, grid)
    # the perfect maps have the shapes the real head produces
    real = model.heads['objects'](feat)
    assert outputs['objects']['heatmap'].shape == real['heatmap'].shape
    for name, value in outputs['objects']['box2d'].items():
        assert value.shape == real['box2d'][name].shape
    ctx = CenterNet.decode_context(grid, samples, inputs.device)
    model.attach_predictions(model.decode_outputs(outputs, ctx), samples)
    return centers, grid


def match_misses(pred: InstanceData, gt_boxes: np.ndarray, gt_labels: np.ndarray, tol: float = 1e-2) -> int:
    """GT objects without a confident (score > 0.5) detection of the same label and box (+-tol px)."""
    keep = pred.scores > 0.5
    boxes, labels = pred.bboxes[keep].numpy(), pred.labels[keep].numpy()
    misses = 0
    for box, label in zip(gt_boxes, gt_labels):
        ok = (labels == label) & (np.abs(boxes - box).max(axis=1) <= tol)
        misses += int(not ok.any())
    return misses


def run_roundtrip(synthetic: Dict[str, str], pipeline, model_factory):
    ds = CocoDetDataset(ann_file=synthetic['val_ann_file'], data_prefix=dict(img=synthetic['val_img_dir'] + '/'),
                        test_mode=True, pipeline=pipeline)
    model = model_factory(ds.metainfo['classes'])
    metric = CocoBboxMetric()
    metric.dataset_meta = ds.metainfo
    collisions = misses = num_gt = extra = 0
    for start in range(0, len(ds), BATCH):
        idx = list(range(start, min(start + BATCH, len(ds))))
        items = [ds[i] for i in idx]
        data = model.data_preprocessor(dict(inputs=[it['inputs'] for it in items],
                                            data_samples=[it['data_samples'] for it in items]))
        centers, grid = decode_perfect(model, data['data_samples'], data['inputs'])
        collisions += centers.count_collisions(grid)
        for i, sample in zip(idx, data['data_samples']):
            info = ds.get_data_info(i)['instances']
            pred = sample.preds['objects']
            num_gt += len(info['bboxes'])
            misses += match_misses(pred, info['bboxes'], info['labels'])
            extra += int((pred.scores > 0.5).sum()) - len(info['bboxes'])
        metric.process(None, data['data_samples'])
    metrics = metric.compute_metrics(metric.results)
    print(f'round trip: {num_gt} objects, {collisions} center collisions, {misses} missed, metrics {metrics}')
    return metrics, collisions, misses, num_gt, extra


def check(metrics, collisions: int, misses: int, num_gt: int, extra: int, min_gt: int = 50) -> None:
    assert num_gt > min_gt  # the set is not trivially small
    # misses can only come from objects sharing a peak cell with another one
    assert misses <= collisions
    if collisions == 0:
        assert misses == 0 and extra == 0
        assert metrics['bbox_mAP'] == 1.0
        assert metrics['bbox_mAP_50'] == 1.0
        assert metrics['bbox_mAP_75'] == 1.0
    else:  # the shortfall is bounded by the collisions
        assert metrics['bbox_mAP_50'] >= 1.0 - collisions / num_gt - 1e-3


def test_roundtrip_identity_input(synthetic) -> None:
    pipeline = [LoadImage(), CenterAffine(input_size=(256, 256)), PackDetInputs()]
    check(*run_roundtrip(synthetic, pipeline, build_model))


def test_roundtrip_log_size_flipped_letterbox(synthetic) -> None:
    """size_encoding='log' round-trips exactly too (the map holds log w, log h)."""
    pipeline = [LoadImage(), RandomFlip(prob=1.0), CenterAffine(input_size=(224, 288)), PackDetInputs()]
    check(*run_roundtrip(synthetic, pipeline, lambda classes: build_model(classes, 'log')))


def test_roundtrip_letterbox(synthetic) -> None:
    # 256x256 -> 192 wide, 320 high: scale 0.75 and 64 px bands above and below
    pipeline = [LoadImage(), CenterAffine(input_size=(192, 320)), PackDetInputs()]
    check(*run_roundtrip(synthetic, pipeline, build_model))


def test_roundtrip_flipped_letterbox(synthetic) -> None:
    pipeline = [LoadImage(), RandomFlip(prob=1.0), CenterAffine(input_size=(224, 288)), PackDetInputs()]
    check(*run_roundtrip(synthetic, pipeline, build_model))


def test_roundtrip_non_square_originals(synthetic_wide) -> None:
    # 160x256 originals into a 256x256 input: 48 px bands above and below
    pipeline = [LoadImage(), CenterAffine(input_size=(256, 256)), PackDetInputs()]
    check(*run_roundtrip(synthetic_wide, pipeline, build_model), min_gt=30)
    pipeline = [LoadImage(), RandomFlip(prob=1.0), CenterAffine(input_size=(192, 192)), PackDetInputs()]
    check(*run_roundtrip(synthetic_wide, pipeline, build_model), min_gt=30)


def test_roundtrip_wide_input_keeps_whole_image(synthetic) -> None:
    pipeline = [LoadImage(), CenterAffine(input_size=(320, 224)), PackDetInputs()]
    check(*run_roundtrip(synthetic, pipeline, build_model))


# ---------------------------------------------------------------- hand-built collisions
def _sample(boxes, labels, shape=(64, 64), img_id=1) -> DetSample:
    gt = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32),
                      labels=torch.tensor(labels, dtype=torch.int64),
                      ignore=torch.zeros(len(labels), dtype=torch.bool))
    return DetSample(meta=ImageMeta(img_id=img_id, img_path='', ori_shape=shape, img_shape=shape, pad_shape=shape),
                     gt=gt)


def test_same_class_collision_counted_and_one_decoded() -> None:
    model = build_model(('a', 'b'))
    # centers (16, 16) and (16, 17) px -> grid (4, 4) and (4, 4.25): one cell; a third object elsewhere
    boxes = [[8.0, 8.0, 24.0, 24.0], [9.0, 9.0, 23.0, 25.0], [40.0, 40.0, 56.0, 52.0]]
    sample = _sample(boxes, [0, 0, 0])
    centers, grid = decode_perfect(model, [sample], torch.zeros(1, 3, 64, 64))
    assert grid.shape == (16, 16)
    assert centers.count_collisions(grid) == 2
    pred = sample.preds['objects']
    keep = pred.scores > 0.5
    decoded = pred.bboxes[keep]
    assert len(decoded) == 2  # one of the colliding pair plus the third object
    hits = [int((decoded - torch.tensor(b)).abs().max(dim=1).values.min() < 1e-4) for b in boxes]
    assert hits[2] == 1
    assert hits[0] + hits[1] == 1  # exactly one of the colliding pair survives


def test_different_class_collision_counted_both_peaks_decoded() -> None:
    model = build_model(('a', 'b'))
    boxes = [[8.0, 8.0, 24.0, 24.0], [9.0, 9.0, 23.0, 25.0]]
    sample = _sample(boxes, [0, 1])
    centers, grid = decode_perfect(model, [sample], torch.zeros(1, 3, 64, 64))
    assert centers.count_collisions(grid) == 2
    pred = sample.preds['objects']
    keep = pred.scores > 0.5
    assert sorted(pred.labels[keep].tolist()) == [0, 1]
    # both peaks read the one shared regression cell: one box is right for both labels
    decoded = pred.bboxes[keep]
    assert torch.allclose(decoded[0], decoded[1])
    assert any(torch.allclose(decoded[0], torch.tensor(b), atol=1e-4) for b in boxes)


def test_no_collision_when_cells_differ() -> None:
    model = build_model(('a',))
    boxes = [[8.0, 8.0, 24.0, 24.0], [8.0, 12.0, 24.0, 28.0]]  # centers (4, 4) and (4, 5) on the grid
    sample = _sample(boxes, [0, 0])
    centers, grid = decode_perfect(model, [sample], torch.zeros(1, 3, 64, 64))
    assert centers.count_collisions(grid) == 0
    pred = sample.preds['objects']
    keep = pred.scores > 0.5
    assert keep.sum() == 2
    for b in boxes:
        assert (pred.bboxes[keep] - torch.tensor(b)).abs().max(dim=1).values.min() < 1e-4
