"""Property-based: every metric (COCO box, COCO keypoints, DOTA, nuScenes/NDS) on hostile predictions.

Drawn per image: no predictions at all, the ground truth as perfect predictions, their duplicates
at lower scores, and extra detections whose scores or coordinates are NaN, +-inf, huge, negative
or zero-size; images without ground truth are evaluated too. Two properties per metric:

- defined results: every returned value is finite and an AP is -1 (nothing to measure) or in
  [0, 1]; no exception;
- no silent zero: when the extras are all non-finite, they are left out (counted in a warning,
  :func:`~centerx.evaluation.gather_predictions`) and the perfect predictions score AP 1.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401  (registers the metrics)
from centerx.structures import DetSample, ImageMeta
from centerx_tasks.box2d.coco_metric import CocoBboxMetric
from centerx_tasks.box3d.camera_meta import CameraMeta
from centerx_tasks.box3d.nuscenes_metric import NuScenesMetric
from centerx_tasks.box3d.nuscenes_results import NUSCENES_ATTRIBUTES, NUSCENES_CLASSES
from centerx_tasks.keypoints.keypoints_metric import CocoKeypointsMetric
from centerx_tasks.rotated.dota_metric import DotaMetric

NON_FINITE = [float('nan'), float('inf'), float('-inf')]
HOSTILE = NON_FINITE + [0.0, -1.0, -1e30, 1e30, 1e300, 1e-30, 5.0, 150.0]
SCORES = NON_FINITE + [0.0, 1e-30, 0.3, 1.0, -1.0, 1e30]

#: per image: (class index, field values) of the ground-truth objects; image 3 has none
COCO_OBJECTS = {1: [(0, [10.0, 10.0, 40.0, 30.0]), (1, [100.0, 100.0, 52.0, 52.0])],
                2: [(1, [200.0, 150.0, 130.0, 100.0])], 3: []}
KEYPOINTS = {1: [[[20, 20, 2], [30, 25, 1], [0, 0, 0]]], 2: [[[220, 160, 2], [250, 200, 2], [300, 240, 2]]], 3: []}


@st.composite
def extras(draw, width: int, only_non_finite: bool) -> List[tuple]:
    """Up to 3 extra detections ``(label, values (width,), score)``; with ``only_non_finite`` each
    has a non-finite score or value (so every one must be left out)."""
    out = []
    for _ in range(draw(st.integers(0, 3))):
        values = [draw(st.sampled_from(HOSTILE)) for _ in range(width)]
        score = draw(st.sampled_from(SCORES))
        if only_non_finite and all(map(math.isfinite, values + [score])):
            score = draw(st.sampled_from(NON_FINITE))
        out.append((draw(st.integers(0, 1)), values, score))
    return out


@st.composite
def predictions(draw, gt: Dict[object, List[tuple]], width: int, only_non_finite: bool,
                duplicates: bool = True) -> Dict[object, List[tuple]]:
    """Per evaluated image (a drawn subset; every image with ``only_non_finite``): the ground truth
    at score 1 (and, sometimes, with ``duplicates``, again at 0.5) plus :func:`extras`; sometimes
    no detection at all."""
    images = list(gt) if only_non_finite else draw(st.lists(st.sampled_from(list(gt)), unique=True))
    out = {}
    for img in images:
        perfect = only_non_finite or draw(st.booleans())
        dets = [(label, list(values), 1.0) for label, values in gt[img]] if perfect else []
        if perfect and duplicates and draw(st.booleans()):
            dets += [(label, list(values), 0.5) for label, values in gt[img]]
        out[img] = dets + draw(extras(width, only_non_finite))
    return out


def check_defined(metrics: Dict[str, float], ap_keys: Sequence[str]) -> None:
    assert metrics and all(isinstance(v, float) and math.isfinite(v) for v in metrics.values()), metrics
    for key in ap_keys:
        assert metrics[key] == -1.0 or 0.0 <= metrics[key] <= 1.0, (key, metrics[key])


def instance_data(dets: List[tuple], field: str, shape: tuple) -> InstanceData:
    with np.errstate(over='ignore'):  # 1e300 becomes inf in float32, as a model's output would
        values = np.array([v for _, v, _ in dets], np.float32).reshape(-1, *shape)
    return InstanceData(**{field: torch.as_tensor(values)}, scores=torch.tensor([s for _, _, s in dets]),
                        labels=torch.tensor([label for label, _, _ in dets], dtype=torch.int64).reshape(-1))


# ---------------------------------------------------------------------------------- COCO box, keypoints


@pytest.fixture(scope='module')
def coco_files(tmp_path_factory) -> Dict[str, str]:
    folder = tmp_path_factory.mktemp('coco')
    images = [dict(id=i, file_name=f'{i}.png', height=300, width=400) for i in COCO_OBJECTS]
    boxes = dict(images=images, categories=[dict(id=1, name='a'), dict(id=2, name='b')], annotations=[
        dict(id=10 * i + k, image_id=i, category_id=label + 1, bbox=box, area=box[2] * box[3], iscrowd=0)
        for i, objs in COCO_OBJECTS.items() for k, (label, box) in enumerate(objs)])
    persons = dict(images=images, categories=[dict(id=1, name='person', keypoints=['a', 'b', 'c'])], annotations=[
        dict(id=10 * i + k, image_id=i, category_id=1, bbox=[0, 0, 400, 300], area=4800.0, iscrowd=0,
             keypoints=[v for p in kp for v in p], num_keypoints=sum(p[2] > 0 for p in kp))
        for i, objs in KEYPOINTS.items() for k, kp in enumerate(objs)])
    paths = {}
    for name, data in (('boxes', boxes), ('keypoints', persons)):
        paths[name] = str(folder / f'{name}.json')
        Path(paths[name]).write_text(json.dumps(data))
    return paths


def coco_box_samples(preds: Dict[object, List[tuple]]) -> List[DetSample]:
    out = []
    for img, dets in preds.items():
        xyxy = [(label, [v[0], v[1], v[0] + v[2], v[1] + v[3]], s) for label, v, s in dets]
        out.append(DetSample(meta=ImageMeta(img_id=img, img_path='', ori_shape=(300, 400)),
                             preds={'h': instance_data(xyxy, 'bboxes', (4,))}))
    return out


@pytest.mark.parametrize('only_non_finite', [False, True])
@given(data=st.data())
def test_coco_box_metric(coco_files, only_non_finite, data) -> None:
    preds = data.draw(predictions(COCO_OBJECTS, 4, only_non_finite))
    metric = CocoBboxMetric(ann_file=coco_files['boxes'])
    metric.dataset_meta = dict(classes=('a', 'b'), cat_ids=(1, 2))
    metric.process(None, coco_box_samples(preds))
    metrics = metric.compute_metrics(metric.results)
    check_defined(metrics, [k for k in metrics if 'mAP' in k])
    if only_non_finite:
        assert metrics['bbox_mAP'] == 1.0 and metrics['bbox_mAP_50'] == 1.0


@pytest.mark.parametrize('only_non_finite', [False, True])
@given(data=st.data())
def test_coco_keypoints_metric(coco_files, only_non_finite, data) -> None:
    gt = {img: [(0, [float(v) for p in kp for v in p])] for img, objs in KEYPOINTS.items() for kp in objs}
    gt.update({img: [] for img, objs in KEYPOINTS.items() if not objs})
    preds = data.draw(predictions(gt, 9, only_non_finite))
    samples = []
    for img, dets in preds.items():
        dets = [(0, v, s) for _, v, s in dets]  # one class
        samples.append(DetSample(meta=ImageMeta(img_id=img, img_path='', ori_shape=(300, 400)),
                                 preds={'h': instance_data(dets, 'keypoints', (3, 3))}))
    metric = CocoKeypointsMetric(ann_file=coco_files['keypoints'], sigmas=[0.05, 0.05, 0.05])
    metric.dataset_meta = dict(classes=('person',), cat_ids=(1,))
    metric.process(None, samples)
    metrics = metric.compute_metrics(metric.results)
    check_defined(metrics, [k for k in metrics if 'AP' in k])
    if only_non_finite:
        assert metrics['kpt_AP'] == 1.0 and metrics['kpt_AP_50'] == 1.0


# ---------------------------------------------------------------------------------- DOTA


def square(x: float, y: float, s: float) -> List[float]:
    return [x, y, x + s, y, x + s, y + s, x, y + s]


DOTA_OBJECTS = {'P1': [(0, square(10, 10, 30)), (1, square(100, 50, 20))], 'P2': [(1, square(5, 5, 60))], 'P3': []}


@pytest.fixture(scope='module')
def dota_labels(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp('labelTxt')
    for img, objs in DOTA_OBJECTS.items():
        lines = [' '.join(map(str, poly)) + f" {('plane', 'ship')[label]} 0\n" for label, poly in objs]
        (folder / f'{img}.txt').write_text('imagesource:x\ngsd:null\n' + ''.join(lines))
    return str(folder)


@pytest.mark.parametrize('only_non_finite', [False, True])
@given(data=st.data())
def test_dota_metric(dota_labels, only_non_finite, data) -> None:
    preds = data.draw(predictions(DOTA_OBJECTS, 8, only_non_finite))
    metric = DotaMetric(ann_dir=dota_labels)
    metric.dataset_meta = dict(classes=('plane', 'ship'))
    metric.process(None, [DetSample(meta=ImageMeta(img_id=img, img_path='', ori_shape=(300, 400)),
                                    preds={'h': instance_data(dets, 'polygons', (8,))}) for img, dets in preds.items()])
    metrics = metric.compute_metrics(metric.results)
    check_defined(metrics, list(metrics))
    if only_non_finite:
        assert metrics == {'mAP': 1.0, 'AP_plane': 1.0, 'AP_ship': 1.0}


# ---------------------------------------------------------------------------------- nuScenes


#: camera x -> ego -y, camera y -> ego -z, camera z -> ego x: a level camera looking along ego x
CAM2EGO = np.array([[0.0, 0.0, 1.0, 1.5], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 1.5], [0, 0, 0, 1.0]])
CAR, PEDESTRIAN = NUSCENES_CLASSES.index('car'), NUSCENES_CLASSES.index('pedestrian')
BOX3D_OBJECTS = {'s1/CAM_FRONT': [(CAR, [2.0, 0.8, 12.0, 4.5, 1.6, 1.9, 0.2]),
                                  (PEDESTRIAN, [-3.0, 0.9, 20.0, 0.7, 1.8, 0.6, 1.2])],
                 's2/CAM_FRONT': [(CAR, [1.0, 0.8, 15.0, 4.2, 1.5, 1.8, -2.5])], 's3/CAM_FRONT': []}
ATTRIBUTES = {CAR: NUSCENES_ATTRIBUTES.index('vehicle.parked'),
              PEDESTRIAN: NUSCENES_ATTRIBUTES.index('pedestrian.standing')}


def box3d_sample(img: str, dets: List[tuple], ego_x: float) -> DetSample:
    ego2global = np.eye(4)
    ego2global[:3, 3] = [ego_x, 100.0, 0.0]
    meta = ImageMeta(img_id=img, img_path='', ori_shape=(900, 1600),
                     task_metas=[CameraMeta(cam2img=np.eye(3), cam2ego=CAM2EGO, ego2global=ego2global)])
    objs = BOX3D_OBJECTS[img]
    labels = [label for label, _ in objs]
    gt = InstanceData(boxes3d=torch.tensor([b for _, b in objs], dtype=torch.float64).reshape(-1, 7),
                      labels=torch.tensor(labels, dtype=torch.int64), velocities=torch.zeros(len(objs), 2),
                      attr_labels=torch.tensor([ATTRIBUTES[c] for c in labels], dtype=torch.int64),
                      ignore=torch.zeros(len(objs), dtype=torch.bool))
    labels = [CAR if label == 0 else PEDESTRIAN if label == 1 else label for label, _, _ in dets]
    dets = [(label, v, s) for label, (_, v, s) in zip(labels, dets)]
    pred = instance_data(dets, 'boxes3d', (7,))
    pred.attr_labels = torch.tensor([ATTRIBUTES[label] for label, _, _ in dets], dtype=torch.int64)
    return DetSample(meta=meta, gt=gt, preds={'h': pred})


@pytest.mark.parametrize('only_non_finite', [False, True])
@given(data=st.data())
def test_nuscenes_metric(only_non_finite, data) -> None:
    # (no duplicates: a false positive after full recall costs nuScenes AP its last recall point,
    # tests/tasks/box3d/test_nuscenes_metric.py)
    preds = data.draw(predictions(BOX3D_OBJECTS, 7, only_non_finite, duplicates=not only_non_finite))
    samples = [box3d_sample(img, dets, 500.0 + 100 * k) for k, (img, dets) in enumerate(preds.items())]
    metric = NuScenesMetric(use_devkit_eval=False, eval_classes='with_gt')
    metric.process(None, samples)
    metrics = metric.compute_metrics(metric.results)
    check_defined(metrics, ['mAP', 'NDS'] + [k for k in metrics if k.startswith('AP_')])
    assert all(v >= -1.0 for v in metrics.values())
    if only_non_finite:
        assert metrics['mAP'] == 1.0 and metrics['NDS'] == pytest.approx(1.0)
