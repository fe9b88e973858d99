"""Box2D edge cases: empty images, border boxes, degenerate / NaN boxes, crowds, many objects,
and images not annotated with boxes."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import List, Sequence

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks.box2d  # noqa: F401  (registers the task, dataset and metric)
import centerx.data.coco_format as coco_format_module
from centerx.data.transforms import CenterAffine, LoadImage, PackDetInputs
from centerx.losses import penalty_reduced_focal_loss
from centerx.models import CenterNet
from centerx.structures import DetSample, ImageMeta
from centerx.models.loss_groups import LossGroup
from centerx.task import Grid, Task, concat_instances
from centerx_tasks.box2d.coco_dataset import CocoDetDataset


def build_model(classes: Sequence[str], **test_cfg) -> CenterNet:
    """A seeded CPU CenterNet: TinyBackbone + DeconvNeck, one 'objects' head with Box2DTask."""
    torch.manual_seed(0)
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                      neck=dict(type='DeconvNeck', out_channels=(8, 8, 8)),
                      heads=[dict(name='objects', tasks=[dict(type='Box2DTask')], head_conv=8)],
                      classes=tuple(classes), test_cfg=test_cfg or None)
    return model.eval()


def make_sample(boxes, labels, ignore=None, shape=(64, 64), img_id=1) -> DetSample:
    n = len(labels)
    gt = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                      labels=torch.tensor(labels, dtype=torch.int64).reshape(-1),
                      ignore=torch.tensor(ignore if ignore is not None else [False] * n, dtype=torch.bool).reshape(-1))
    return DetSample(meta=ImageMeta(img_id=img_id, img_path='', ori_shape=shape, img_shape=shape, pad_shape=shape),
                     gt=gt)


def grid_of(model: CenterNet, inputs: torch.Tensor) -> Grid:
    with torch.no_grad():
        return model._grid(inputs, model.extract_feat(inputs))


def perfect(model: CenterNet, samples: List[DetSample], grid: Grid):
    head = model.heads['objects']
    task = head.tasks['box2d']
    gt = concat_instances([s.gt for s in samples], model.label_map('objects'))
    centers = head.place_centers(gt, grid)
    heat, ignore = head.render(centers, grid)
    maps = task.perfect_maps(task.encode(gt, centers, grid), centers, grid)
    outputs = {'objects': {'heatmap': torch.logit(heat.clamp(1e-6, 1 - 1e-6)), 'box2d': maps}}
    return outputs, centers, heat, ignore


def all_finite_grads(model: CenterNet) -> bool:
    return all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


# ------------------------------------------------------------------------------ empty image
def test_empty_image_loss_and_predict() -> None:
    model = build_model(('a', 'b'))
    inputs = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    sample = make_sample(np.zeros((0, 4)), [])
    assert len(sample.gt) == 0
    losses = model.loss(inputs, [sample])
    assert set(losses) == {'loss_heatmap', 'loss_box2d_size', 'loss_box2d_offset'}
    assert all(math.isfinite(v.item()) for v in losses.values())
    # heatmap loss: negatives only, target 0 everywhere, normalized by 1
    with torch.no_grad():
        logits = model._forward(inputs)['objects']['heatmap'].double()
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    expected = -(torch.log1p(-p) * p ** 2).sum()
    assert losses['loss_heatmap'].item() == pytest.approx(expected.item(), rel=1e-4)
    assert losses['loss_heatmap'].item() > 0
    # regression losses are zero but still on the graph
    for key in ('loss_box2d_size', 'loss_box2d_offset'):
        assert losses[key].item() == 0.0 and losses[key].requires_grad
    sum(losses.values()).backward()
    size_w = model.heads['objects'].branches['box2d__size'][-1].weight.grad
    assert size_w is not None and torch.count_nonzero(size_w) == 0
    assert all_finite_grads(model)
    # predict works and gives in-image boxes
    out = model.predict(inputs, [make_sample(np.zeros((0, 4)), [])])[0].preds['objects']
    assert 0 < len(out.scores) <= 100 and (out.scores > 0).all()
    assert torch.isfinite(out.bboxes).all()
    assert (out.bboxes >= 0).all() and (out.bboxes <= 64).all()


def test_empty_image_from_the_dataset_pipeline(tmp_path: Path) -> None:
    img_path = tmp_path / 'img.png'
    cv2.imwrite(str(img_path), np.full((48, 64, 3), 127, np.uint8))
    ann = dict(images=[dict(id=1, file_name='img.png', height=48, width=64)], annotations=[],
               categories=[dict(id=1, name='a')])
    (tmp_path / 'ann.json').write_text(json.dumps(ann))
    ds = CocoDetDataset(ann_file=str(tmp_path / 'ann.json'), data_prefix=dict(img=str(tmp_path) + '/'),
                        pipeline=[LoadImage(), CenterAffine(input_size=(64, 64)), PackDetInputs()])
    item = ds[0]
    assert len(item['data_samples'].gt) == 0 and set(item['data_samples'].gt.keys()) == {'bboxes', 'labels', 'ignore'}
    model = build_model(ds.metainfo['classes'])
    data = model.data_preprocessor(dict(inputs=[item['inputs']], data_samples=[item['data_samples']]))
    losses = model.loss(data['inputs'], data['data_samples'])
    assert all(math.isfinite(v.item()) for v in losses.values())
    assert losses['loss_box2d_size'].item() == 0.0


def test_loss_on_samples_without_any_annotation_field() -> None:
    model = build_model(('a',))
    sample = DetSample(meta=ImageMeta(img_id=1, img_path='', ori_shape=(64, 64), img_shape=(64, 64)),
                       gt=InstanceData())
    losses = model.loss(torch.zeros(1, 3, 64, 64), [sample])
    assert losses['loss_box2d_size'].item() == 0.0


# ------------------------------------------------------------------------------ border boxes
def test_border_boxes_use_clipped_visible_part_and_decode_clipped() -> None:
    model = build_model(('a', 'b'))
    inputs = torch.zeros(1, 3, 64, 64)
    grid = grid_of(model, inputs)
    boxes = [[-20.0, 10.0, 30.0, 50.0],   # crosses the left border
             [40.0, -8.0, 80.0, 21.0],    # crosses the top and the right border
             [50.0, 45.0, 90.0, 100.0],   # crosses right and bottom
             [-10.0, -10.0, 74.0, 74.0]]  # covers everything
    clipped = np.array([[0, 10, 30, 50], [40, 0, 64, 21], [50, 45, 64, 64], [0, 0, 64, 64]], np.float32)
    sample = make_sample(boxes, [0, 1, 0, 1])
    outputs, centers, heat, _ = perfect(model, [sample], grid)
    assert centers.valid.all()
    np.testing.assert_allclose(centers.sizes.numpy(), (clipped[:, 2:] - clipped[:, :2]) / 4, atol=1e-6)
    np.testing.assert_allclose(centers.xy.numpy(), (clipped[:, 2:] + clipped[:, :2]) / 8, atol=1e-6)
    # every peak is inside the grid and is exactly 1
    for (x, y), c in zip(centers.xy_int.tolist(), [0, 1, 0, 1]):
        assert 0 <= x < 16 and 0 <= y < 16 and heat[0, c, y, x].item() == 1.0
    ctx = CenterNet.decode_context(grid, [sample], 'cpu')
    model.attach_predictions(model.decode_outputs(outputs, ctx), [sample])
    pred = sample.preds['objects']
    keep = pred.scores > 0.5
    assert int(keep.sum()) == 4
    got = pred.bboxes[keep].numpy()
    for box in clipped:
        assert np.abs(got - box).max(axis=1).min() < 1e-4, box


def test_box_entirely_outside_is_invalid() -> None:
    model = build_model(('a',))
    grid = grid_of(model, torch.zeros(1, 3, 64, 64))
    sample = make_sample([[70.0, 10.0, 90.0, 30.0], [-30.0, -30.0, -1.0, 5.0], [10.0, 10.0, 20.0, 20.0]], [0, 0, 0])
    _, centers, heat, _ = perfect(model, [sample], grid)
    assert centers.valid.tolist() == [False, False, True]
    assert int((heat == 1).sum()) == 1


# ------------------------------------------------------------------------------ invalid boxes
def _coco_with_bad_boxes(tmp_path: Path) -> str:
    ann = dict(
        images=[dict(id=1, file_name='1.png', height=64, width=64), dict(id=2, file_name='2.png', height=64, width=64)],
        annotations=[
            dict(id=11, image_id=1, category_id=1, bbox=[5, 5, 10, 10], area=100, iscrowd=0),
            dict(id=12, image_id=1, category_id=1, bbox=[20, 20, 0, 10], area=0, iscrowd=0),     # zero width
            dict(id=13, image_id=2, category_id=1, bbox=[float('nan'), 3, 4, 5], area=20, iscrowd=0),
            dict(id=14, image_id=2, category_id=1, bbox=[1, 1, 4, -2], area=0, iscrowd=0),       # negative h
            dict(id=15, image_id=2, category_id=1, bbox=[1, 1, 4, float('nan')], area=0, iscrowd=0),
            dict(id=16, image_id=2, category_id=1, bbox=[30, 30, 8, 9], area=72, iscrowd=0),
        ],
        categories=[dict(id=1, name='a')])
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(ann))  # NaN is written as the (Python-readable) NaN token
    return str(path)


def test_dataset_on_invalid_raise_names_the_record(tmp_path: Path) -> None:
    ann_file = _coco_with_bad_boxes(tmp_path)
    with pytest.raises(ValueError) as info:
        CocoDetDataset(ann_file=ann_file, on_invalid='raise')
    msg = str(info.value)
    assert 'annotation id 12' in msg and 'image id 1' in msg and 'bad.json' in msg


def test_dataset_on_invalid_skip_counts(tmp_path: Path, monkeypatch) -> None:
    logs: List[str] = []
    monkeypatch.setattr(coco_format_module, 'print_log', lambda msg, *a, **k: logs.append(msg))
    ds = CocoDetDataset(ann_file=_coco_with_bad_boxes(tmp_path), on_invalid='skip')
    assert ds.num_skipped_boxes == 4
    boxes = [ds.get_data_info(i)['instances']['bboxes'].tolist() for i in range(len(ds))]
    assert boxes == [[[5, 5, 15, 15]], [[30, 30, 38, 39]]]
    assert any('skipped 4' in m and '12' in m and '15' in m for m in logs)


def test_task_marks_degenerate_and_nan_boxes_invalid_without_nan_losses() -> None:
    model = build_model(('a', 'b'))
    model.train()
    inputs = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    good = [[4.0, 4.0, 20.0, 24.0], [30.0, 30.0, 60.0, 50.0], [10.0, 40.0, 26.0, 60.0]]
    bad = [[10.0, 10.0, 10.0, 30.0],                 # zero width
           [10.0, 10.0, 30.0, 10.0],                 # zero height
           [30.0, 10.0, 10.0, 30.0],                 # inverted
           [float('nan'), 10.0, 20.0, 20.0],
           [10.0, 10.0, float('nan'), float('nan')],
           [float('inf'), 1.0, 2.0, 3.0],
           [0.0, 0.0, float('inf'), 30.0]]
    s0 = make_sample(good[:2] + bad[:4], [0, 1, 0, 1, 0, 1])
    s1 = make_sample(bad[4:] + good[2:], [0, 1, 1, 0])
    grid = grid_of(model, inputs)
    gt = concat_instances([s0.gt, s1.gt], model.label_map('objects'))
    centers = model.heads['objects'].place_centers(gt, grid)
    assert len(centers.valid) == 10
    assert centers.valid.tolist() == [True, True] + [False] * 4 + [False] * 3 + [True]
    assert int((~centers.valid).sum()) == len(bad)
    assert not centers.ignore.any()
    for t in (centers.xy, centers.sizes):
        assert torch.isfinite(t).all()
    losses = model.loss(inputs, [s0, s1])
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses['loss_box2d_size'].item() > 0
    sum(losses.values()).backward()
    assert all_finite_grads(model)
    # the invalid rows add nothing: the same losses as with the valid boxes only
    model.zero_grad()
    ref = model.loss(inputs, [make_sample(good[:2], [0, 1]), make_sample(good[2:], [0])])
    for key in losses:
        assert losses[key].item() == pytest.approx(ref[key].item(), rel=1e-5), key


# ------------------------------------------------------------------------------ many objects
def test_600_objects_none_dropped(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 600
    wh = rng.integers(4, 40, (n, 2))
    xy = rng.integers(-3, 250, (n, 2))  # every box keeps >= 1 px inside the 256x256 image
    anns = [dict(id=i + 1, image_id=1, category_id=int(rng.integers(1, 4)), iscrowd=0,
                 bbox=[int(xy[i, 0]), int(xy[i, 1]), int(wh[i, 0]), int(wh[i, 1])], area=int(wh[i].prod()))
            for i in range(n)]
    (tmp_path / 'ann.json').write_text(json.dumps(dict(
        images=[dict(id=1, file_name='img.png', height=256, width=256)], annotations=anns,
        categories=[dict(id=k, name=f'c{k}') for k in (1, 2, 3)])))
    cv2.imwrite(str(tmp_path / 'img.png'), rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    ds = CocoDetDataset(ann_file=str(tmp_path / 'ann.json'), data_prefix=dict(img=str(tmp_path) + '/'),
                        pipeline=[LoadImage(), CenterAffine(input_size=(256, 256)), PackDetInputs()])
    item = ds[0]
    assert len(item['data_samples'].gt) == n
    model = build_model(ds.metainfo['classes'], topk=2000)
    data = model.data_preprocessor(dict(inputs=[item['inputs']], data_samples=[item['data_samples']]))
    inputs, samples = data['inputs'], data['data_samples']
    grid = grid_of(model, inputs)
    outputs, centers, heat, _ = perfect(model, samples, grid)
    assert len(centers.valid) == n and centers.valid.all()  # all intersect the image
    cells = centers.labels * grid.shape[0] * grid.shape[1] + centers.cell_index(grid)
    ys, xs = centers.xy_int[:, 1], centers.xy_int[:, 0]
    assert torch.all(heat[0, centers.labels, ys, xs] == 1.0)
    collisions = centers.count_collisions(grid)
    print(f'600 objects: {collisions} share a peak cell with another object')
    # every distinct (class, cell) is one peak, none capped
    ctx = CenterNet.decode_context(grid, samples, 'cpu')
    model.attach_predictions(model.decode_outputs(outputs, ctx), samples)
    pred = samples[0].preds['objects']
    assert int((pred.scores > 0.5).sum()) == len(torch.unique(cells))
    losses = model.loss(inputs, samples)
    assert all(torch.isfinite(v) for v in losses.values())


# ------------------------------------------------------------------------------ crowd objects
def test_crowd_object_gives_no_positive_and_masks_its_neighbourhood() -> None:
    model = build_model(('a', 'b'))
    inputs = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    grid = grid_of(model, inputs)
    head = model.heads['objects']
    # a valid object and a crowd region of class 0, a crowd of class 1 over the valid object
    boxes = [[4.0, 4.0, 20.0, 20.0], [32.0, 28.0, 64.0, 60.0], [0.0, 0.0, 30.0, 30.0]]
    sample = make_sample(boxes, [0, 0, 1], ignore=[False, True, True])
    outputs, centers, heat, ignore = perfect(model, [sample], grid)
    assert centers.valid.tolist() == [True, False, False]
    assert centers.ignore.tolist() == [False, True, True]
    assert int((heat == 1).sum()) == 1 and heat[0, 0, 3, 3].item() == 1.0
    assert torch.count_nonzero(heat[0, 1]) == 0
    # the mask is exactly the crowd kernels' windows (minus positives)
    k = head.kernel(centers.sizes, centers.angles)
    expected = torch.zeros(1, 2, 16, 16, dtype=torch.bool)
    for i in (1, 2):
        (x, y), (rx, ry), c = centers.xy_int[i].tolist(), k.radius[i].tolist(), centers.labels[i].item()
        expected[0, c, max(0, y - ry):y + ry + 1, max(0, x - rx):x + rx + 1] = True
    assert torch.equal(ignore, expected & (heat < 1))
    assert ignore[0, 0].any() and ignore[0, 1].any() and not ignore[0, 0, 3, 3]
    # the head's heatmap loss uses the mask; regression ignores crowd rows
    logits = model._forward(inputs)['objects']['heatmap']
    gt = concat_instances([sample.gt], model.label_map('objects'))
    losses = head.loss(model._forward(inputs)['objects'], gt, grid)
    masked = penalty_reduced_focal_loss(logits, heat, ignore=ignore)
    unmasked = penalty_reduced_focal_loss(logits, heat)
    assert losses[LossGroup('objects')]['heatmap'].item() == pytest.approx(masked.item(), rel=1e-6)
    assert masked.item() < unmasked.item()
    assert head.tasks['box2d'].encode(gt, centers, grid)['weight'].tolist() == [1.0, 0.0, 0.0]


def test_crowd_overlapping_object_keeps_its_positive() -> None:
    model = build_model(('a',))
    grid = grid_of(model, torch.zeros(1, 3, 64, 64))
    sample = make_sample([[10.0, 10.0, 30.0, 30.0], [8.0, 8.0, 34.0, 34.0]], [0, 0], ignore=[False, True])
    _, centers, heat, ignore = perfect(model, [sample], grid)
    x, y = centers.xy_int[0].tolist()
    assert heat[0, 0, y, x].item() == 1.0 and not ignore[0, 0, y, x]
    assert ignore[0, 0].sum() > 0


# ------------------------------------------------------------------------------ images without bboxes
def test_rows_of_samples_without_bboxes_are_invalid() -> None:
    model = build_model(('a', 'b'))
    inputs = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    with_boxes = make_sample([[4.0, 4.0, 20.0, 20.0], [30.0, 30.0, 50.0, 60.0]], [0, 1])
    no_boxes = DetSample(meta=ImageMeta(img_id=2, img_path='', ori_shape=(64, 64), img_shape=(64, 64)),
                         gt=InstanceData(labels=torch.tensor([1, 0, 1]), ignore=torch.tensor([False, True, False])))
    gt = concat_instances([with_boxes.gt, no_boxes.gt], model.label_map('objects'))
    assert Task.annotated_images(gt, 'bboxes', 2).tolist() == [True, False]
    assert torch.isnan(gt.bboxes[2:]).all()
    grid = grid_of(model, inputs)
    _, centers, heat, ignore = perfect(model, [with_boxes, no_boxes], grid)
    assert centers.valid.tolist() == [True, True, False, False, False]
    assert not centers.ignore.any()
    assert torch.count_nonzero(heat[1]) == 0 and not ignore.any()
    model.train()
    losses = model.loss(inputs, [with_boxes, no_boxes])
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    assert all_finite_grads(model)
