"""CocoBboxMetric through mmengine's Evaluator, with hand-computed expectations."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData
from pycocotools.coco import COCO

import centerx_tasks.box2d  # noqa: F401  (registers the metric)
from centerx.evaluation import MissingPredictionsError
from centerx.registry import METRICS
from centerx.structures import DetSample, ImageMeta
from centerx_tasks.box2d.coco_dataset import CocoDetDataset
from centerx_tasks.box2d.coco_metric import METRIC_NAMES, CocoBboxMetric

# Widths are multiples of 13 so that a shift of 3/13 of the width gives IoU 0.625 exactly.
# Areas: 26x26 small (< 32^2), 52x52 medium, 130x100 large. No 'info'/'licenses' keys.
GT = dict(
    images=[dict(id=1, file_name='1.png', height=300, width=400),
            dict(id=2, file_name='2.png', height=300, width=400),
            dict(id=3, file_name='3.png', height=300, width=400)],
    annotations=[
        dict(id=1, image_id=1, category_id=5, bbox=[10, 10, 26, 26], area=676, iscrowd=0),
        dict(id=2, image_id=1, category_id=9, bbox=[100, 100, 52, 52], area=2704, iscrowd=0),
        dict(id=3, image_id=2, category_id=9, bbox=[200, 150, 130, 100], area=13000, iscrowd=0),
        dict(id=4, image_id=2, category_id=5, bbox=[20, 200, 52, 52], area=2704, iscrowd=0),
        dict(id=5, image_id=3, category_id=2, bbox=[20, 20, 130, 100], area=13000, iscrowd=0),
    ],
    categories=[dict(id=9, name='b'), dict(id=5, name='a'), dict(id=2, name='c')])


@pytest.fixture
def dataset(tmp_path: Path) -> CocoDetDataset:
    ann = tmp_path / 'gt.json'
    ann.write_text(json.dumps(GT))
    return CocoDetDataset(ann_file=str(ann), test_mode=True)


def sample(img_id: int, boxes, labels, scores: Optional[List[float]] = None) -> DetSample:
    boxes = torch.as_tensor(np.asarray(boxes, np.float32).reshape(-1, 4))
    pred = InstanceData(bboxes=boxes, labels=torch.as_tensor(labels, dtype=torch.long).reshape(-1),
                        scores=torch.ones(len(boxes)) if scores is None else torch.tensor(scores))
    return DetSample(meta=ImageMeta(img_id=img_id, img_path='', ori_shape=(300, 400)), preds={'head': pred})


def gt_samples(dataset: CocoDetDataset, dx: float = 0.0, image_ids=(1, 2, 3)) -> List[DetSample]:
    """GT boxes as detections, each shifted right by ``dx`` times its width."""
    out = []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if info['img_id'] not in image_ids:
            continue
        boxes = info['instances']['bboxes'].copy()
        shift = dx * (boxes[:, 2] - boxes[:, 0])
        boxes[:, 0] += shift
        boxes[:, 2] += shift
        out.append(sample(info['img_id'], boxes, info['instances']['labels']))
    return out


def evaluate(dataset: CocoDetDataset, samples: List[DetSample], **kwargs) -> dict:
    evaluator = Evaluator(METRICS.build(dict(type='CocoBboxMetric', **kwargs)))
    evaluator.dataset_meta = dataset.metainfo
    evaluator.process(data_samples=samples, data_batch=None)
    return evaluator.evaluate(len(samples))


def test_gt_as_detections_is_perfect(dataset: CocoDetDataset) -> None:
    metrics = evaluate(dataset, gt_samples(dataset), classwise=True)
    assert {f'coco/{n}' for n in METRIC_NAMES} <= set(metrics)
    assert all(metrics[f'coco/{n}'] == 1.0 for n in METRIC_NAMES)
    assert metrics['coco/bbox_a_AP'] == metrics['coco/bbox_c_AP'] == 1.0


def test_known_iou(dataset: CocoDetDataset) -> None:
    """IoU 0.625 for every box: matched at thresholds 0.50, 0.55, 0.60 only -> mAP 3/10."""
    metrics = evaluate(dataset, gt_samples(dataset, dx=3 / 13))
    assert metrics['coco/bbox_mAP_50'] == 1.0
    assert metrics['coco/bbox_mAP_75'] == 0.0
    for name in ('bbox_mAP', 'bbox_mAP_s', 'bbox_mAP_m', 'bbox_mAP_l'):
        assert metrics[f'coco/{name}'] == 0.3


def test_half_the_boxes_missed(dataset: CocoDetDataset) -> None:
    """Class 'b' (cat 9) found, 'a' and 'c' get only low-score false positives elsewhere."""
    samples = gt_samples(dataset)
    for s in samples:
        head = s.preds['head']
        keep = head.labels == 0
        far_away = torch.tensor([[390., 290, 399, 299]])
        s.preds['head'] = InstanceData(bboxes=torch.cat([head.bboxes[keep], far_away]),
                                       labels=torch.cat([head.labels[keep], torch.tensor([1])]),
                                       scores=torch.cat([head.scores[keep], torch.tensor([0.1])]))
    metrics = evaluate(dataset, samples)
    assert metrics['coco/bbox_mAP'] == round(1 / 3, 4)  # mean over the 3 classes: 1, 0, 0
    assert metrics['coco/bbox_mAP_s'] == 0.0  # the only small box is class 'a'


def test_only_evaluated_images_count(dataset: CocoDetDataset) -> None:
    metrics = evaluate(dataset, gt_samples(dataset, image_ids=(2,)))
    assert metrics['coco/bbox_mAP'] == 1.0
    assert metrics['coco/bbox_mAP_s'] == -1.0  # no small GT in image 2


def test_class_subset_restricts_categories(tmp_path: Path) -> None:
    ann = tmp_path / 'gt.json'
    ann.write_text(json.dumps(GT))
    sub = CocoDetDataset(ann_file=str(ann), metainfo=dict(classes=('a',)), test_mode=True)
    metrics = evaluate(sub, gt_samples(sub))
    assert metrics['coco/bbox_mAP'] == 1.0 and metrics['coco/bbox_mAP_l'] == -1.0


def test_no_detections(dataset: CocoDetDataset) -> None:
    empty = [sample(i, np.zeros((0, 4)), []) for i in (1, 2, 3)]
    metrics = evaluate(dataset, empty)
    assert all(metrics[f'coco/{n}'] == 0.0 for n in METRIC_NAMES)


def test_predictions_without_boxes_raise_instead_of_ap_zero(dataset: CocoDetDataset) -> None:
    """A model with no box task (or results that lost the field) is an error, not AP 0."""
    metric = CocoBboxMetric()
    metric.dataset_meta = dataset.metainfo
    no_heads = DetSample(meta=ImageMeta(img_id=1, img_path='', ori_shape=(300, 400)))
    polygons_only = DetSample(meta=no_heads.meta, preds={'rot': InstanceData(
        polygons=torch.zeros(1, 8), scores=torch.ones(1), labels=torch.zeros(1, dtype=torch.long))})
    for bad in (no_heads, polygons_only):
        with pytest.raises(MissingPredictionsError, match=r"CocoBboxMetric: image 1 has no predictions of 'bboxes'"):
            metric.process(None, [bad])
    assert metric.results == []


def test_unknown_label_raises(dataset: CocoDetDataset) -> None:
    metric = CocoBboxMetric()
    metric.dataset_meta = dataset.metainfo
    with pytest.raises(ValueError, match=r'image 1: predicted label\(s\) \[3\]'):
        metric.process(None, [sample(1, [[0, 0, 5, 5], [1, 1, 4, 4]], [0, 3])])
    with pytest.raises(ValueError, match='label'):
        metric.process(None, [sample(1, [[0, 0, 5, 5]], [-1])])


def test_results_file(dataset: CocoDetDataset, tmp_path: Path) -> None:
    prefix = tmp_path / 'out' / 'preds'
    metric = CocoBboxMetric(ann_file=dataset.metainfo['ann_file'], outfile_prefix=str(prefix))
    metric.dataset_meta = dict(cat_ids=dataset.metainfo['cat_ids'])  # ann_file given explicitly
    metric.process(None, gt_samples(dataset, dx=3 / 13, image_ids=(1,)))
    metrics = metric.evaluate(1)
    assert metrics['coco/bbox_mAP_50'] == 1.0
    out = f'{prefix}.bbox.json'
    assert os.path.isfile(out)
    dets = json.loads(Path(out).read_text())
    assert sorted((d['image_id'], d['category_id']) for d in dets) == [(1, 5), (1, 9)]
    by_cat = {d['category_id']: d for d in dets}
    np.testing.assert_allclose(by_cat[5]['bbox'], [16, 10, 26, 26])  # xywh, shifted by 6
    assert by_cat[9]['score'] == 1.0
    gt = COCO(dataset.metainfo['ann_file'])
    res = gt.loadRes(out)
    assert len(res.getAnnIds()) == 2


def test_synthetic_end_to_end(tmp_path: Path) -> None:
    """Synthetic data -> dataset (ann_file in metainfo) -> metric: GT as detections is perfect."""
    ds = CocoDetDataset(data_root=str(tmp_path / 'syn'), ann_file='annotations/val.json',
                        data_prefix=dict(img='val/'), test_mode=True,
                        generate_if_missing=dict(num_train=0, num_val=6, image_size=(64, 80)))
    metrics = evaluate(ds, gt_samples(ds, image_ids=range(1, 7)))
    assert metrics['coco/bbox_mAP'] == 1.0 and metrics['coco/bbox_mAP_50'] == 1.0
