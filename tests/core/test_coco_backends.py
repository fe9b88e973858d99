"""faster-coco-eval gives pycocotools' AP (to 1e-6): box and keypoint AP on the synthetic sets,
and box AP on a hand-made results file with tied scores, crowd regions and empty images."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

from centerx.evaluation.coco_backends import COCO_BACKENDS, check_backend, coco_api
from centerx.evaluation.coco_eval import run_cocoeval

pytest.importorskip('faster_coco_eval')  # the dev extra installs it; the backend is optional

TOL = 1e-6


def _load(backend: str, ann_file: str):
    coco_cls, _ = coco_api(backend)
    return coco_cls(ann_file)


def _compare(ann_file: str, dets: List[dict], iou_type: str = 'bbox', sigmas=None) -> np.ndarray:
    """Run both backends; assert equal stats and precision arrays; return the stats."""
    runs = {}
    for backend in COCO_BACKENDS:
        gt = _load(backend, ann_file)
        cat_ids = sorted(gt.getCatIds())
        ev = run_cocoeval(backend, gt, dets, sorted(gt.getImgIds()), cat_ids, iou_type, sigmas)
        ev.summarize()
        runs[backend] = (np.asarray(ev.stats, np.float64), np.asarray(ev.eval['precision'], np.float64))
    (s_ref, p_ref), (s_fast, p_fast) = runs['pycocotools'], runs['faster_coco_eval']
    assert s_ref.shape == s_fast.shape and p_ref.shape == p_fast.shape
    assert np.abs(s_ref - s_fast).max() <= TOL, (s_ref, s_fast)
    assert np.abs(p_ref - p_fast).max() <= TOL
    return s_ref


def _jittered(gt: Dict, seed: int, keypoints: bool = False) -> List[dict]:
    """Detections from the GT: 0-2 jittered copies per object (IoUs around the thresholds,
    duplicates), scores rounded to 0.1 (many ties), plus random boxes."""
    rng = np.random.default_rng(seed)
    dets = []
    for ann in gt['annotations']:
        for _ in range(int(rng.integers(0, 3))):
            x, y, w, h = ann['bbox']
            box = [x + rng.normal(0, 0.1) * w, y + rng.normal(0, 0.1) * h, w * rng.uniform(0.8, 1.2),
                   h * rng.uniform(0.8, 1.2)]
            det = dict(image_id=ann['image_id'], category_id=ann['category_id'], bbox=box,
                       score=round(float(rng.uniform(0.1, 1.0)), 1))
            if keypoints:
                kp = np.asarray(ann['keypoints'], np.float64).reshape(-1, 3)
                kp[:, :2] += rng.normal(0, 0.05 * max(w, h), (len(kp), 2))
                kp[:, 2] = 1.0
                det['keypoints'] = kp.reshape(-1).tolist()
            dets.append(det)
    cat_ids = [c['id'] for c in gt['categories']]
    for img in gt['images']:
        for _ in range(3):
            w, h = rng.uniform(4, 40, 2)
            det = dict(image_id=img['id'], category_id=int(rng.choice(cat_ids)),
                       bbox=[float(rng.uniform(0, img['width'] - w)), float(rng.uniform(0, img['height'] - h)), w, h],
                       score=round(float(rng.uniform(0.0, 0.6)), 1))
            if keypoints:
                k = len(gt['categories'][0]['keypoints'])
                det['keypoints'] = np.concatenate([rng.uniform(0, 96, (k, 2)), np.ones((k, 1))], 1).reshape(-1).tolist()
            dets.append(det)
    return dets


def test_box_ap_on_the_synthetic_shapes(tmp_path: Path) -> None:
    from centerx_tasks.box2d.synthetic import ensure_synthetic_coco
    ann_file = ensure_synthetic_coco(str(tmp_path), num_train=1, num_val=16, image_size=(96, 96))['val_ann_file']
    stats = _compare(ann_file, _jittered(json.loads(Path(ann_file).read_text()), seed=0))
    assert 0.05 < stats[0] < 0.95  # a real mix of hits and misses, not a degenerate AP


def test_keypoint_ap_on_the_synthetic_poses(tmp_path: Path) -> None:
    from centerx_tasks.keypoints.synthetic import ensure_synthetic_poses
    ann_file = ensure_synthetic_poses(str(tmp_path), num_train=1, num_val=16, image_size=(96, 96))['val_ann_file']
    gt = json.loads(Path(ann_file).read_text())
    k = len(gt['categories'][0]['keypoints'])
    stats = _compare(ann_file, _jittered(gt, seed=1, keypoints=True), 'keypoints', sigmas=np.full(k, 0.07))
    assert 0.05 < stats[0] < 0.95


def test_box_ap_with_ties_crowds_and_empty_images(tmp_path: Path) -> None:
    gt = dict(
        images=[dict(id=i, file_name=f'{i}.png', height=200, width=200) for i in (1, 2, 3, 4)],
        categories=[dict(id=1, name='a'), dict(id=7, name='b')],
        annotations=[
            dict(id=1, image_id=1, category_id=1, bbox=[10, 10, 40, 40], area=1600, iscrowd=0),
            dict(id=2, image_id=1, category_id=1, bbox=[60, 10, 40, 40], area=1600, iscrowd=0),
            # a crowd region: detections inside it are ignored, not false positives
            dict(id=3, image_id=1, category_id=1, bbox=[100, 100, 90, 90], area=8100, iscrowd=1),
            dict(id=4, image_id=2, category_id=7, bbox=[20, 20, 120, 100], area=12000, iscrowd=0),
            dict(id=5, image_id=2, category_id=7, bbox=[0, 150, 200, 50], area=10000, iscrowd=1),
            dict(id=6, image_id=3, category_id=1, bbox=[5, 5, 20, 20], area=400, iscrowd=0),
        ])  # image 4: no ground truth
    ann_file = tmp_path / 'gt.json'
    ann_file.write_text(json.dumps(gt))
    dets = [  # equal scores across images and classes, duplicates, hits in crowd regions
        dict(image_id=1, category_id=1, bbox=[10, 10, 40, 40], score=0.9),
        dict(image_id=1, category_id=1, bbox=[12, 12, 40, 40], score=0.9),
        dict(image_id=1, category_id=1, bbox=[60, 12, 38, 40], score=0.5),
        dict(image_id=1, category_id=1, bbox=[110, 110, 30, 30], score=0.9),
        dict(image_id=1, category_id=1, bbox=[150, 150, 30, 30], score=0.5),
        dict(image_id=2, category_id=7, bbox=[25, 20, 110, 100], score=0.9),
        dict(image_id=2, category_id=7, bbox=[10, 155, 60, 40], score=0.9),
        dict(image_id=2, category_id=1, bbox=[20, 20, 120, 100], score=0.5),
        dict(image_id=3, category_id=1, bbox=[40, 40, 20, 20], score=0.9),
        dict(image_id=3, category_id=1, bbox=[6, 6, 20, 20], score=0.5),
        dict(image_id=4, category_id=7, bbox=[0, 0, 50, 50], score=0.5),
    ]
    stats = _compare(str(ann_file), dets)
    assert 0.3 < stats[0] < 1.0


def test_metric_backend_argument(tmp_path: Path) -> None:
    from centerx_tasks.box2d.coco_metric import CocoBboxMetric
    from centerx_tasks.keypoints.keypoints_metric import CocoKeypointsMetric
    assert CocoBboxMetric(backend='faster_coco_eval').backend == 'faster_coco_eval'
    assert CocoKeypointsMetric().backend == 'pycocotools'
    with pytest.raises(ValueError, match="CocoBboxMetric: unknown COCO backend 'fast'"):
        CocoBboxMetric(backend='fast')
    with pytest.raises(ValueError, match='expected one of'):
        check_backend('pycoco', 'x')


def test_metric_results_equal_without_area_and_iscrowd(tmp_path: Path) -> None:
    """Through CocoBboxMetric.compute_metrics, on a ground truth whose annotations lack ``area``
    and ``iscrowd`` (the metric fills them in for either backend's index)."""
    from centerx_tasks.box2d.coco_metric import CocoBboxMetric
    gt = dict(images=[dict(id=i, file_name=f'{i}.png', height=100, width=100) for i in (1, 2)],
              categories=[dict(id=3, name='a'), dict(id=4, name='b')],
              annotations=[dict(id=1, image_id=1, category_id=3, bbox=[10, 10, 20, 20]),
                           dict(id=2, image_id=1, category_id=4, bbox=[50, 50, 40, 30]),
                           dict(id=3, image_id=2, category_id=3, bbox=[0, 0, 60, 60])])
    ann_file = tmp_path / 'gt.json'
    ann_file.write_text(json.dumps(gt))
    results = [dict(img_id=1, bboxes=np.array([[10, 10, 20, 20], [52, 50, 40, 30], [0, 0, 5, 5.]]),
                    scores=np.array([0.8, 0.8, 0.9]), category_ids=np.array([3, 4, 3])),
               dict(img_id=2, bboxes=np.array([[5, 5, 60, 60.]]), scores=np.array([0.8]), category_ids=np.array([3]))]
    out = {}
    for backend in COCO_BACKENDS:
        metric = CocoBboxMetric(ann_file=str(ann_file), backend=backend, classwise=True)
        metric.dataset_meta = dict(cat_ids=[3, 4], classes=['a', 'b'])
        out[backend] = metric.compute_metrics(results)
    assert out['pycocotools'] == out['faster_coco_eval']
    assert 0 < out['pycocotools']['bbox_mAP'] < 1
