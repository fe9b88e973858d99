"""CocoKeypointsMetric through mmengine's Evaluator, with hand-computed OKS and AP."""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import pytest
import torch
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData

from centerx.evaluation import MissingPredictionsError
from centerx.registry import METRICS
from centerx.structures import DetSample, ImageMeta
from centerx_tasks.box2d.coco_metric import METRIC_NAMES
from centerx_tasks.keypoints.coco_keypoints_dataset import CocoKeypointsDataset
from centerx_tasks.keypoints.coco_meta import COCO_PERSON_CATEGORY, COCO_SIGMAS
from centerx_tasks.keypoints.keypoints_metric import KPT_METRIC_NAMES, CocoKeypointsMetric

K = 17
THRESHOLDS = np.linspace(0.5, 0.95, 10)


def kps(labeled: Dict[int, tuple], k: int = K) -> list:
    flat = [0] * (3 * k)
    for j, (x, y, v) in labeled.items():
        flat[3 * j:3 * j + 3] = [x, y, v]
    return flat


# image 1: a medium person (area 4800), image 2: a large one (12000), image 3: nobody.
P1 = {0: (130, 60, 2), 1: (127, 57, 2), 5: (115, 80, 1), 6: (145, 80, 2), 9: (110, 110, 2),
      11: (120, 100, 2), 12: (140, 100, 2), 15: (118, 128, 1)}
P2 = {j: (210 + 3 * j, 40 + 6 * j, 2) for j in range(K)}
GT = dict(
    images=[dict(id=1, file_name='1.png', height=300, width=400),
            dict(id=2, file_name='2.png', height=300, width=400),
            dict(id=3, file_name='3.png', height=300, width=400)],
    annotations=[
        dict(id=1, image_id=1, category_id=1, bbox=[100, 50, 60, 80], area=4800, iscrowd=0,
             keypoints=kps(P1), num_keypoints=len(P1)),
        dict(id=2, image_id=2, category_id=1, bbox=[200, 30, 100, 120], area=12000, iscrowd=0,
             keypoints=kps(P2), num_keypoints=K),
    ],
    categories=[copy.deepcopy(COCO_PERSON_CATEGORY)])


@pytest.fixture
def dataset(tmp_path: Path) -> CocoKeypointsDataset:
    ann = tmp_path / 'gt.json'
    ann.write_text(json.dumps(GT))
    return CocoKeypointsDataset(ann_file=str(ann), test_mode=True)


def sample(img_id, boxes, keypoints, scores: Optional[List[float]] = None, head: str = 'pose',
           labels=None) -> DetSample:
    keypoints = np.asarray(keypoints, np.float32)
    keypoints = torch.as_tensor(keypoints.reshape(len(boxes), -1, 3) if keypoints.size else keypoints)
    boxes = torch.as_tensor(np.asarray(boxes, np.float32).reshape(-1, 4))
    pred = InstanceData(bboxes=boxes, keypoints=keypoints,
                        labels=torch.zeros(len(boxes), dtype=torch.long) if labels is None
                        else torch.as_tensor(labels),
                        scores=torch.ones(len(boxes)) if scores is None else torch.tensor(scores))
    return DetSample(meta=ImageMeta(img_id=img_id, img_path='', ori_shape=(300, 400)), preds={head: pred})


def gt_sample(dataset: CocoKeypointsDataset, index: int, shift=None) -> DetSample:
    """The GT of image ``index`` as detections (per-keypoint score 1); unlabeled keypoints
    are put far away; labeled keypoint k is moved by ``shift[k]`` (K, 2) when given."""
    info = dataset.get_data_info(index)
    kp = info['instances']['keypoints'].copy()
    labeled = kp[..., 2] > 0
    if shift is not None:
        kp[..., :2] += np.asarray(shift, np.float32)
    kp[..., :2][~labeled] = 1000.0
    kp[..., 2] = 1.0
    return sample(info['img_id'], info['instances']['bboxes'], kp)


def evaluate(meta: dict, samples: List[DetSample], **kwargs) -> dict:
    evaluator = Evaluator(METRICS.build(dict(type='CocoKeypointsMetric', **kwargs)))
    evaluator.dataset_meta = meta
    evaluator.process(data_samples=samples, data_batch=None)
    return {k.split('/', 1)[1]: v for k, v in evaluator.evaluate(len(samples)).items()}


def oks(gt: np.ndarray, pred: np.ndarray, area: float, sigmas) -> float:
    """Object keypoint similarity by hand: mean over labeled keypoints of
    exp(-d^2 / (2 s^2 k^2)), s^2 = area, k = 2 sigma."""
    labeled = gt[:, 2] > 0
    d2 = ((gt[:, :2] - pred[:, :2]) ** 2).sum(axis=1)
    k = 2.0 * np.asarray(sigmas)
    return float(np.exp(-d2 / (2.0 * area * k ** 2))[labeled].mean())


def test_gt_as_predictions_is_perfect(dataset: CocoKeypointsDataset, tmp_path: Path) -> None:
    samples = [gt_sample(dataset, i) for i in range(3)]
    # a box-only head is not part of the keypoint results
    samples[2].preds['boxes'] = InstanceData(bboxes=torch.tensor([[0.0, 0.0, 50.0, 50.0]]),
                                             scores=torch.ones(1), labels=torch.zeros(1, dtype=torch.long))
    prefix = tmp_path / 'out' / 'res'
    m = evaluate(dataset.metainfo, samples, outfile_prefix=str(prefix))
    assert set(m) == set(KPT_METRIC_NAMES) | set(METRIC_NAMES)
    assert all(m[n] == 1.0 for n in KPT_METRIC_NAMES), m
    assert m['bbox_mAP'] == m['bbox_mAP_50'] == m['bbox_mAP_m'] == m['bbox_mAP_l'] == 1.0
    assert m['bbox_mAP_s'] == -1.0
    dets = json.loads((tmp_path / 'out' / 'res.keypoints.json').read_text())
    assert len(dets) == 2 and {d['image_id'] for d in dets} == {1, 2}
    assert all(set(d) == {'image_id', 'category_id', 'bbox', 'keypoints', 'score'} for d in dets)
    d1 = next(d for d in dets if d['image_id'] == 1)
    assert d1['bbox'] == [100, 50, 60, 80] and len(d1['keypoints']) == 3 * K and d1['category_id'] == 1


@pytest.mark.parametrize('dx, dy', [(3.0, 4.0), (0.0, 7.5), (12.0, -1.0)])
def test_displaced_keypoints_give_hand_computed_oks_and_ap(dataset: CocoKeypointsDataset,
                                                           dx: float, dy: float) -> None:
    gt = np.asarray(GT['annotations'][0]['keypoints'], float).reshape(K, 3)
    expected_oks = oks(gt, gt + [dx, dy, 0], 4800.0, COCO_SIGMAS)
    assert 0.05 < expected_oks < 0.999 and np.abs(THRESHOLDS - expected_oks).min() > 1e-3
    m = evaluate(dataset.metainfo, [gt_sample(dataset, 0, shift=[dx, dy])])
    ap = float(np.mean(expected_oks >= THRESHOLDS))
    assert m['kpt_AP'] == pytest.approx(ap, abs=1e-4)
    assert m['kpt_AP_50'] == float(expected_oks >= 0.5)
    assert m['kpt_AP_75'] == float(expected_oks >= 0.75)
    assert m['kpt_AP_m'] == pytest.approx(ap, abs=1e-4) and m['kpt_AP_l'] == -1.0
    assert m['bbox_mAP'] == 1.0  # boxes were not moved


def test_exact_oks_per_keypoint_and_custom_sigmas(tmp_path: Path) -> None:
    """Each labeled keypoint displaced so that its term is exactly 0.825: OKS 0.825 -> AP 0.7
    (thresholds .50 ... .80 pass); only holds with the dataset's own sigmas."""
    names = ['head', 'left_hand', 'right_hand', 'tail']
    sigmas = [0.05, 0.1, 0.1, 0.2]
    area = 40.0 * 50.0
    gt = dict(images=[dict(id=7, file_name='7.png', height=100, width=100)],
              annotations=[dict(id=1, image_id=7, category_id=4, bbox=[20, 20, 40, 50], area=area,
                                keypoints=[30, 25, 2, 22, 40, 2, 55, 40, 1, 40, 68, 0])],
              categories=[dict(id=4, name='critter', keypoints=names, skeleton=[])])
    (tmp_path / 'c.json').write_text(json.dumps(gt))
    ds = CocoKeypointsDataset(ann_file=str(tmp_path / 'c.json'), metainfo=dict(sigmas=sigmas),
                              test_mode=True)
    target = 0.825
    d = [math.sqrt(-2.0 * area * (2 * s) ** 2 * math.log(target)) for s in sigmas]
    shift = [[d[0], 0.0], [0.0, d[1]], [-d[2] * 0.6, d[2] * 0.8], [0.0, 0.0]]
    truth = np.asarray(gt['annotations'][0]['keypoints'], float).reshape(4, 3)
    assert oks(truth, truth + np.c_[shift, np.zeros(4)], area, sigmas) == pytest.approx(target)
    m = evaluate(ds.metainfo, [gt_sample(ds, 0, shift=shift)])
    assert m['kpt_AP'] == pytest.approx(0.7, abs=1e-4) and m['kpt_AP_75'] == 1.0
    # the uniform default sigma (0.07) is stricter for the tail -> a different AP
    m_default = evaluate(dict(ds.metainfo, sigmas=None), [gt_sample(ds, 0, shift=shift)], sigmas=[0.07] * 4)
    assert m_default['kpt_AP'] != pytest.approx(0.7, abs=1e-3)


def test_zero_detections(dataset: CocoKeypointsDataset) -> None:
    empty = sample(1, np.zeros((0, 4)), np.zeros((0, K, 3)))
    m = evaluate(dataset.metainfo, [empty] + [sample(i, np.zeros((0, 4)), np.zeros((0, K, 3))) for i in (2, 3)])
    assert m['kpt_AP'] == m['kpt_AP_50'] == m['kpt_AP_m'] == m['kpt_AP_l'] == 0.0
    assert m['bbox_mAP'] == 0.0 and m['bbox_mAP_s'] == -1.0


def test_image_without_keypoint_predictions_raises(dataset: CocoKeypointsDataset) -> None:
    """No head predicting keypoints is a wrong model (or lost results), not AP 0."""
    no_pose_head = DetSample(meta=ImageMeta(img_id=2, img_path='', ori_shape=(300, 400)))
    with pytest.raises(MissingPredictionsError, match="image 2 has no predictions of 'keypoints'"):
        evaluate(dataset.metainfo, [no_pose_head])


def test_images_without_gt(dataset: CocoKeypointsDataset) -> None:
    """A low-score false positive on the empty image comes after every true positive (AP
    stays 1); one that outranks them halves the precision at the first recall."""
    fp_kp = np.tile([[50.0, 50.0, 0.3]], (K, 1))
    low = [gt_sample(dataset, 0), gt_sample(dataset, 1), sample(3, [[40, 40, 60, 60]], fp_kp, scores=[0.2])]
    m = evaluate(dataset.metainfo, low)
    assert m['kpt_AP'] == 1.0 and m['bbox_mAP'] == 1.0
    only_empty = evaluate(dataset.metainfo, [sample(3, [[40, 40, 60, 60]], fp_kp)])
    assert only_empty['kpt_AP'] == -1.0 and only_empty['bbox_mAP'] == -1.0  # no GT at all
    high = [gt_sample(dataset, 0), sample(3, [[40, 40, 60, 60]], fp_kp, scores=[2.0])]
    m = evaluate(dataset.metainfo, high)
    assert m['kpt_AP'] == pytest.approx(0.5, abs=1e-4)  # precision 1/2 at recall 1


def test_repeated_images_and_no_results(dataset: CocoKeypointsDataset) -> None:
    m = evaluate(dataset.metainfo, [gt_sample(dataset, 0), gt_sample(dataset, 0)])  # padded sampler
    assert m['kpt_AP'] == 1.0
    metric = CocoKeypointsMetric()
    metric.dataset_meta = dataset.metainfo
    assert metric.compute_metrics([]) == {n: -1.0 for n in KPT_METRIC_NAMES + METRIC_NAMES}


def test_bad_predictions(dataset: CocoKeypointsDataset) -> None:
    with pytest.raises(ValueError, match='predicted 4 keypoints, the ground truth has 17'):
        evaluate(dataset.metainfo, [sample(1, [[0, 0, 5, 5]], np.ones((1, 4, 3)))])
    with pytest.raises(ValueError, match='not class indices'):
        evaluate(dataset.metainfo, [sample(1, [[0, 0, 5, 5]], np.ones((1, K, 3)), labels=[1])])
    with pytest.raises(ValueError, match=r"head 'pose' keypoints must be \(D, \*, 3\)"):
        s = sample(1, [[0, 0, 5, 5]], np.ones((1, K, 3)))
        s.preds['pose'].keypoints = torch.ones(1, K, 2)
        evaluate(dataset.metainfo, [s])
    with pytest.raises(ValueError, match='not in the ground truth'):
        evaluate(dataset.metainfo, [sample(99, [[0, 0, 5, 5]], np.ones((1, K, 3)))])
    with pytest.raises(ValueError, match='cat_ids'):
        evaluate({}, [sample(1, [[0, 0, 5, 5]], np.ones((1, K, 3)))])


def test_non_finite_dropped_and_box_from_keypoints(dataset: CocoKeypointsDataset) -> None:
    s = gt_sample(dataset, 0)
    nan = sample(1, [[0, 0, 5, 5]], np.full((1, K, 3), np.nan), scores=[5.0])
    s.preds['nan'] = nan.preds['pose']
    m = evaluate(dataset.metainfo, [s])
    assert m['kpt_AP'] == 1.0
    # a head without boxes: the box is the keypoints' extent
    info = dataset.get_data_info(1)
    kp = torch.as_tensor(info['instances']['keypoints'].copy())
    pred = InstanceData(keypoints=kp, scores=torch.ones(1), labels=torch.zeros(1, dtype=torch.long))
    metric = METRICS.build(dict(type='CocoKeypointsMetric'))
    metric.dataset_meta = dataset.metainfo
    metric.process(None, [DetSample(meta=ImageMeta(img_id=2, img_path='', ori_shape=(300, 400)),
                                    preds={'p': pred})])
    xs, ys = kp[0, :, 0].numpy(), kp[0, :, 1].numpy()
    np.testing.assert_allclose(metric.results[0]['bboxes'][0],
                               [xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()], rtol=1e-6)
