"""NuScenesMetric: perfect predictions, known errors, missing classes, the devkit path on a tiny dataroot."""
from __future__ import annotations

import json
import pickle
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from pyquaternion import Quaternion

from centerx.registry import METRICS
from centerx.structures import DetSample, ImageMeta
from centerx_tasks.box3d import nuscenes_devkit as nd
from centerx_tasks.box3d import nuscenes_metric as nm
from centerx_tasks.box3d.camera_meta import CameraMeta
from centerx_tasks.box3d.nuscenes_metric import NuScenesMetric
from centerx_tasks.box3d.nuscenes_results import (MMDET3D_NUSCENES_CLASSES, NUSCENES_ATTRIBUTES, NUSCENES_CLASSES,
                                          camera_ego2global, global_to_camera_boxes)

FIXTURE = Path(os.environ['CENTERX_FIXTURES']) / 'nuscenes' / 'demo' / 'n015-2018-07-24-11-22-45+0800.pkl'

# camera x -> ego -y, camera y -> ego -z, camera z -> ego x: a level camera looking along ego x
CAM_AXES = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _pose(rot: np.ndarray, trans: Sequence[float]) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rot, trans
    return out


def _rot_z(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]])


def make_sample(img_id: str, cam2ego: np.ndarray, ego2global: np.ndarray, gt: Optional[dict] = None,
                pred: Optional[dict] = None) -> DetSample:
    """A DetSample with ``gt`` / ``pred`` dicts of numpy arrays as tensors."""
    meta = ImageMeta(img_id=img_id, img_path='', ori_shape=(900, 1600),
                     task_metas=[CameraMeta(cam2img=np.eye(3), cam2ego=cam2ego, ego2global=ego2global)])
    sample = DetSample(meta=meta)
    for key, value in (gt or {}).items():
        sample.gt.set_field(torch.as_tensor(value), key)
    if pred is not None:
        inst = InstanceData()
        for key, value in pred.items():
            inst.set_field(torch.as_tensor(value), key)
        sample.preds['nuscenes'] = inst
    return sample


def perfect(gt: dict) -> dict:
    """The ground truth as predictions with score 1."""
    keep = ~gt['ignore']
    return dict(boxes3d=gt['boxes3d'][keep], scores=np.ones(int(keep.sum())), labels=gt['labels'][keep],
                velocities=np.nan_to_num(gt['velocities'][keep]), attr_labels=gt['attr_labels'][keep])


def run(metric: NuScenesMetric, samples: List[DetSample]) -> Dict[str, float]:
    metric.process({}, samples)
    return metric.compute_metrics(metric.results)


# --------------------------------------------------------------------- synthetic set
def synthetic_set() -> List[dict]:
    """Two samples x two level cameras (front, left) of hand-placed objects of 5 classes."""
    c = NUSCENES_CLASSES.index
    a = NUSCENES_ATTRIBUTES.index
    cams = {'CAM_FRONT': _pose(CAM_AXES, [1.5, 0.0, 1.5]),
            'CAM_FRONT_LEFT': _pose(_rot_z(np.pi / 2) @ CAM_AXES, [1.0, 0.5, 1.5])}
    objects = {  # (x, y, z, l, h, w, yaw), (vx, vz), label, attribute
        'CAM_FRONT': [([2.0, 0.8, 12.0, 4.5, 1.6, 1.9, 0.2], [1.0, 3.0], c('car'), a('vehicle.moving')),
                      ([-3.0, 0.9, 20.0, 0.7, 1.8, 0.6, 1.2], [0.5, 0.0], c('pedestrian'), a('pedestrian.moving')),
                      ([5.0, 0.5, 30.0, 10.0, 3.5, 2.8, -0.4], [0.0, 0.0], c('truck'), a('vehicle.parked')),
                      ([-6.0, 1.2, 9.0, 0.4, 1.0, 0.4, 0.0], [0.0, 0.0], c('traffic_cone'), 8)],
        'CAM_FRONT_LEFT': [([1.0, 0.8, 8.0, 2.0, 1.1, 0.5, 2.0], [0.2, 0.1], c('barrier'), 8),
                           ([-2.0, 0.8, 15.0, 4.2, 1.5, 1.8, -2.5], [np.nan, np.nan], c('car'), a('vehicle.parked'))],
    }
    out = []
    for s, (token, ego) in enumerate([('sample_a', _pose(_rot_z(0.7), [600.0, 1600.0, 0.0])),
                                      ('sample_b', _pose(_rot_z(-2.0), [1200.0, 900.0, 0.0]))]):
        for cam, cam2ego in cams.items():
            objs = objects[cam]
            boxes = np.array([o[0] for o in objs], np.float64)
            boxes[:, 0] += s  # the two samples differ
            out.append(dict(img_id=f'{token}/{cam}', cam2ego=cam2ego, ego2global=ego,
                            gt=dict(boxes3d=boxes, velocities=np.array([o[1] for o in objs], np.float64),
                                    labels=np.array([o[2] for o in objs]), attr_labels=np.array([o[3] for o in objs]),
                                    ignore=np.zeros(len(objs), bool))))
    return out


def synthetic_samples(edit=None) -> List[DetSample]:
    samples = []
    for img in synthetic_set():
        pred = perfect(img['gt'])
        if edit is not None:
            pred = edit(pred)
        samples.append(make_sample(img['img_id'], img['cam2ego'], img['ego2global'], img['gt'], pred))
    return samples


def test_registered_and_defaults() -> None:
    metric = METRICS.build(dict(type='NuScenesMetric', use_devkit_eval=False))
    assert isinstance(metric, NuScenesMetric) and metric.default_prefix == 'nuscenes'
    assert (metric.data_root, metric.version, metric.eval_set, metric.eval_config, metric.nms_iou_thr) == (
        None, 'v1.0-mini', 'mini_val', 'detection_cvpr_2019', None)
    samples = synthetic_samples()
    metric.process({}, samples)
    res = metric.evaluate(len(samples))  # mmengine's path: collect, compute, prefix
    assert {'nuscenes/mAP', 'nuscenes/NDS', 'nuscenes/mATE', 'nuscenes/mASE', 'nuscenes/mAOE', 'nuscenes/mAVE',
            'nuscenes/mAAE', 'nuscenes/AP_car'} <= set(res)


def test_synthetic_perfect_predictions() -> None:
    res = run(NuScenesMetric(use_devkit_eval=False, eval_classes='with_gt'), synthetic_samples())
    assert res['mAP'] == 1.0 and res['NDS'] == 1.0
    for name in ('mATE', 'mASE', 'mAOE', 'mAVE', 'mAAE'):
        assert res[name] < 1e-9, (name, res[name])
    assert sorted(k for k in res if k.startswith('AP_')) == sorted(
        f'AP_{c}' for c in ('car', 'pedestrian', 'truck', 'traffic_cone', 'barrier'))


def test_official_class_average_counts_classes_without_gt() -> None:
    """eval_classes='all' (the devkit's rule): the 5 absent classes score AP 0 and TP errors 1."""
    res = run(NuScenesMetric(use_devkit_eval=False), synthetic_samples())
    assert res['mAP'] == pytest.approx(0.5)
    assert res['AP_bus'] == 0.0 and res['AP_car'] == 1.0
    # TP errors: mean over classes with a defined value; absent classes count 1 (values rounded to 1e-4)
    assert res['mATE'] == pytest.approx(5 / 10, abs=1e-4)
    assert res['mAOE'] == pytest.approx(5 / 9, abs=1e-4)  # traffic_cone orientation is undefined
    assert res['mAVE'] == pytest.approx(5 / 8, abs=1e-4)  # ... and barrier / cone velocity


@pytest.mark.parametrize('shift, ap', [(0.3, 1.0), (0.7, 0.75)])
def test_shifted_predictions_give_a_known_ate(shift: float, ap: float) -> None:
    """Level cameras: a shift along camera x is a ground-plane shift of the same length. At 0.7 m
    the 0.5 m matching threshold fails (AP = 3/4 over the thresholds 0.5, 1, 2, 4 m)."""
    def edit(pred):
        pred['boxes3d'] = pred['boxes3d'] + np.array([shift, 0, 0, 0, 0, 0, 0])
        return pred

    res = run(NuScenesMetric(use_devkit_eval=False, eval_classes='with_gt'), synthetic_samples(edit))
    assert res['mATE'] == pytest.approx(shift, abs=1e-9)
    assert res['mAP'] == pytest.approx(ap)
    assert res['mASE'] < 1e-9 and res['mAOE'] < 1e-9


def test_false_positive_after_full_recall_costs_the_last_recall_point() -> None:
    """The devkit's known answer for a trailing false positive: once every car is found, one more
    car detection (score 0.01, 20 m from any car, in range) makes the precision at recall 1 equal 4/5 instead
    of 1 (``accumulate`` interpolates onto the last of the tied recall-1 points). ``calc_ap`` keeps
    the 90 recall points above ``min_recall`` 0.1 and subtracts ``min_precision`` 0.1, so at
    every distance threshold AP_car = (89 * 0.9 + (0.8 - 0.1)) / (90 * 0.9)."""
    car = NUSCENES_CLASSES.index('car')
    samples = []
    for i, img in enumerate(synthetic_set()):
        pred = perfect(img['gt'])
        if i == 0:
            extra = dict(boxes3d=np.array([[-8.0, 0.8, 32.0, 4.5, 1.6, 1.9, 0.2]]), scores=np.array([0.01]),
                         labels=np.array([car]), velocities=np.zeros((1, 2)), attr_labels=np.array([0]))
            pred = {k: np.concatenate([pred[k], extra[k]]) for k in pred}
        samples.append(make_sample(img['img_id'], img['cam2ego'], img['ego2global'], img['gt'], pred))
    res = run(NuScenesMetric(use_devkit_eval=False, eval_classes='with_gt'), samples)
    assert res['AP_car'] == pytest.approx((89 * 0.9 + 0.7) / 81, abs=1e-4)  # 0.99753
    assert res['AP_truck'] == 1.0 and res['mATE'] < 1e-9


def test_missing_class_scores_zero() -> None:
    car = NUSCENES_CLASSES.index('car')

    def edit(pred):
        keep = pred['labels'] != car
        return {k: v[keep] for k, v in pred.items()}

    res = run(NuScenesMetric(use_devkit_eval=False, eval_classes='with_gt'), synthetic_samples(edit))
    assert res['AP_car'] == 0.0 and res['AP_pedestrian'] == 1.0
    assert res['mAP'] == pytest.approx(4 / 5)
    assert res['mATE'] == pytest.approx(1 / 5)  # the car's TP errors are 1 (no match)


def test_wrong_attribute_and_velocity_are_measured() -> None:
    """Distinct scores: with all scores tied, the devkit's interpolation of the TP errors over
    the confidence keeps only the error of the first match (its ``np.interp`` on equal x)."""
    def edit(pred):
        pred['scores'] = 1.0 - 0.01 * np.arange(len(pred['scores']))
        pred['attr_labels'] = np.full_like(pred['attr_labels'], -1)  # defaults: car/truck parked, ped moving
        pred['velocities'] = pred['velocities'] + np.array([0.0, 2.0])  # level camera: +2 m/s on the ground
        return pred

    res = run(NuScenesMetric(use_devkit_eval=False, eval_classes='with_gt'), synthetic_samples(edit))
    assert res['mAP'] == 1.0
    assert res['mAVE'] == pytest.approx(2.0, abs=1e-9)
    # car: 2 of 4 GT attributes are 'vehicle.parked' (the default), truck parked -> 0,
    # pedestrian moving -> 0
    assert 0 < res['mAAE'] < 1


def test_ignored_gt_and_flipped_samples() -> None:
    imgs = synthetic_set()
    imgs[0]['gt']['ignore'][0] = True  # the first car is not evaluated; predicting it is a false positive
    samples = [make_sample(i['img_id'], i['cam2ego'], i['ego2global'], i['gt'], perfect(i['gt'])) for i in imgs]
    res = run(NuScenesMetric(use_devkit_eval=False, eval_classes='with_gt'), samples)
    assert res['AP_car'] == 1.0 and res['mAP'] == 1.0
    flipped = samples[0]
    flipped.meta.flipped = True
    with pytest.raises(ValueError, match='flipped'):
        NuScenesMetric(use_devkit_eval=False).process({}, [flipped])


def test_no_ground_truth_and_no_results() -> None:
    img = synthetic_set()[0]
    sample = make_sample(img['img_id'], img['cam2ego'], img['ego2global'], None, perfect(img['gt']))
    with pytest.raises(ValueError, match='data_root'):
        run(NuScenesMetric(use_devkit_eval=False), [sample])
    assert NuScenesMetric().compute_metrics([])['mAP'] == -1.0
    with pytest.raises(FileNotFoundError):
        run(NuScenesMetric(use_devkit_eval=True, data_root='/nonexistent'), [sample])


def test_poses_come_from_the_camera_meta_and_are_required() -> None:
    img = synthetic_set()[0]
    sample = make_sample(img['img_id'], img['cam2ego'], img['ego2global'], img['gt'], perfect(img['gt']))
    metric = NuScenesMetric(use_devkit_eval=False)
    metric.process({}, [sample])
    (record,) = metric.results
    assert record['camera'] == img['img_id'].split('/')[1]
    np.testing.assert_array_equal(record['cam2ego'], img['cam2ego'])
    np.testing.assert_array_equal(record['ego2global'], img['ego2global'])
    sample.meta.task_metas.clear()
    with pytest.raises(ValueError, match=f"image {img['img_id']} has no cam2ego / ego2global"):
        metric.process({}, [sample])


def test_outfile_is_a_valid_submission(tmp_path: Path) -> None:
    from nuscenes.eval.common.loaders import load_prediction
    from nuscenes.eval.detection.data_classes import DetectionBox

    run(NuScenesMetric(use_devkit_eval=False, outfile_prefix=str(tmp_path / 'out' / 'run')), synthetic_samples())
    boxes, meta = load_prediction(str(tmp_path / 'out' / 'run.results_nusc.json'), 500, DetectionBox)
    assert meta['use_camera'] and not meta['use_lidar']
    assert sorted(boxes.sample_tokens) == ['sample_a', 'sample_b'] and len(boxes.all) == 12


# ---------------------------------------------------------------------------- fixture
@pytest.fixture(scope='module')
def keyframe() -> dict:
    if not FIXTURE.is_file():
        pytest.skip(f'nuScenes fixture not found at {FIXTURE.resolve()}')
    with open(FIXTURE, 'rb') as f:
        return pickle.load(f)['data_list'][0]


def fixture_samples(info: dict, exact_poses: bool = True) -> List[DetSample]:
    """The 6 camera images of the fixture keyframe, ground truth = its cam_instances, with the
    camera-time ego poses (or the sample's LIDAR-time ego2global for every camera)."""
    samples = []
    for cam, insts in info['cam_instances'].items():
        im = info['images'][cam]
        cam2ego = np.array(im['cam2ego'])
        ego2global = camera_ego2global(info['ego2global'], info['lidar_points']['lidar2ego'], im['lidar2cam'],
                                       cam2ego) if exact_poses else np.array(info['ego2global'])
        gt = dict(boxes3d=np.array([i['bbox_3d'] for i in insts], np.float64).reshape(-1, 7),
                  labels=np.array([i['bbox_label_3d'] for i in insts], np.int64),
                  velocities=np.array([i['velocity'] for i in insts], np.float64).reshape(-1, 2),
                  attr_labels=np.array([i['attr_label'] for i in insts], np.int64),
                  ignore=~np.array([i['bbox_3d_isvalid'] for i in insts], bool))
        samples.append(make_sample(f'{info["token"]}/{cam}', cam2ego, ego2global, gt, perfect(gt)))
    return samples


@pytest.fixture(scope='module')
def keyframe_samples(keyframe: dict) -> List[DetSample]:
    return fixture_samples(keyframe)


def _fixture_metric(**kwargs) -> NuScenesMetric:
    metric = NuScenesMetric(use_devkit_eval=False, **kwargs)
    metric.dataset_meta = dict(classes=MMDET3D_NUSCENES_CLASSES)  # the info file's label order
    return metric


def test_fixture_keyframe_perfect_predictions(keyframe_samples: List[DetSample]) -> None:
    """84 camera boxes = 68 objects (16 seen by two cameras); the cross-camera NMS removes the
    duplicate predictions, the ground truth is de-duplicated by the metric. 34 objects of 5 classes
    are within the class ranges (the pedestrians and cones beyond 40 / 30 m are not evaluated)."""
    res = run(_fixture_metric(eval_classes='with_gt', nms_iou_thr=0.5), keyframe_samples)
    assert res['mAP'] == 1.0 and res['NDS'] == pytest.approx(1.0)
    for name in ('mATE', 'mASE', 'mAOE', 'mAVE', 'mAAE'):
        assert res[name] < 1e-9, (name, res[name])
    classes = sorted(k[3:] for k in res if k.startswith('AP_'))
    assert classes == sorted(['car', 'truck', 'pedestrian', 'traffic_cone', 'barrier'])
    # the official average over all 10 classes
    assert run(_fixture_metric(nms_iou_thr=0.5), keyframe_samples)['mAP'] == pytest.approx(0.5)
    # without the NMS each duplicate prediction is a false positive
    assert run(_fixture_metric(eval_classes='with_gt'), keyframe_samples)['mAP'] < 1.0


@pytest.mark.parametrize('exact_poses', [True, False])
def test_fixture_ground_truth_deduplication(keyframe: dict, exact_poses: bool) -> None:
    """16 objects are seen by two cameras; they merge with the camera-time poses (< 1e-6 m apart)
    and with the sample's ego pose for all cameras (7-9 cm apart) alike."""
    metric = _fixture_metric()
    metric.process({}, fixture_samples(keyframe, exact_poses))
    images = metric.results
    ego = {images[0]['sample_token']: images[0]['ego2global'][:3, 3]}
    boxes = nd.camera_gt_eval_boxes(images, MMDET3D_NUSCENES_CLASSES, 0.5, ego)
    n_camera = sum(int((~r['gt']['ignore']).sum()) for r in images)
    assert (n_camera, len(boxes.all)) == (84, 68)
    assert len(nd.camera_gt_eval_boxes(images, MMDET3D_NUSCENES_CLASSES, 1e-3, ego).all) == (
        68 if exact_poses else 84)


# ------------------------------------------------------------------- devkit dataroot
def make_dataroot(root: Path) -> Dict[str, object]:
    """A two-keyframe nuScenes 'v1.0-mini' database (scene-0103 of mini_val, CAM_FRONT and
    LIDAR_TOP) with a moving car, a standing pedestrian and a barrier."""
    def table(name: str, rows: list) -> None:
        (root / 'v1.0-mini' / f'{name}.json').write_text(json.dumps(rows))

    (root / 'v1.0-mini').mkdir(parents=True)
    (root / 'maps').mkdir()
    (root / 'maps' / 'mask.png').write_bytes(b'')
    cats = ['vehicle.car', 'human.pedestrian.adult', 'movable_object.barrier']
    table('category', [dict(token=f'cat{i}', name=n, description='') for i, n in enumerate(cats)])
    table('attribute', [dict(token='attr_moving', name='vehicle.moving', description=''),
                        dict(token='attr_standing', name='pedestrian.standing', description='')])
    table('visibility', [dict(token='4', level='v80-100', description='')])
    table('sensor', [dict(token='sen_lidar', channel='LIDAR_TOP', modality='lidar'),
                     dict(token='sen_cam', channel='CAM_FRONT', modality='camera')])
    cam_rot = Quaternion(matrix=CAM_AXES)
    table('calibrated_sensor', [
        dict(token='cs_lidar', sensor_token='sen_lidar', translation=[0.9, 0.0, 1.8], rotation=[1, 0, 0, 0],
             camera_intrinsic=[]),
        dict(token='cs_cam', sensor_token='sen_cam', translation=[1.7, 0.0, 1.5], rotation=list(cam_rot.elements),
             camera_intrinsic=[[1266.0, 0, 816.0], [0, 1266.0, 491.0], [0, 0, 1]])])
    table('log', [dict(token='log0', logfile='log0', vehicle='v', date_captured='2018-07-24',
                       location='singapore-onenorth')])
    table('map', [dict(token='map0', log_tokens=['log0'], category='semantic_prior', filename='maps/mask.png')])
    times = [1_000_000, 1_500_000]
    ego_poses, sample_data, samples = [], [], []
    for s, t in enumerate(times):
        yaw = 0.3 + 0.05 * s
        for kind, dt in (('lidar', 0), ('cam', -30_000)):  # the camera fires 30 ms before the lidar
            ego_poses.append(dict(token=f'ego_{kind}{s}', timestamp=t + dt,
                                  rotation=list(Quaternion(axis=[0, 0, 1], radians=yaw + dt * 1e-7).elements),
                                  translation=[500.0 + 5.0 * s + dt * 5e-6, 800.0 + 1.0 * s, 0.0]))
            sample_data.append(dict(token=f'sd_{kind}{s}', sample_token=f'sample{s}', ego_pose_token=f'ego_{kind}{s}',
                                    calibrated_sensor_token=f'cs_{kind}', timestamp=t + dt, is_key_frame=True,
                                    fileformat='', height=900, width=1600, filename='', prev='', next=''))
        samples.append(dict(token=f'sample{s}', timestamp=t, scene_token='scene0',
                            prev='sample0' if s else '', next='' if s else 'sample1'))
    table('ego_pose', ego_poses)
    table('sample_data', sample_data)
    table('sample', samples)
    table('scene', [dict(token='scene0', log_token='log0', nbr_samples=2, first_sample_token='sample0',
                         last_sample_token='sample1', name='scene-0103', description='')])
    objects = [  # category, attribute tokens, per-sample translation, size (w, l, h), yaw
        (0, ['attr_moving'], [[515.0, 805.0, 0.8], [519.0, 806.5, 0.8]], [1.9, 4.5, 1.6], 0.35),
        (1, ['attr_standing'], [[512.0, 797.0, 0.9], [512.0, 797.0, 0.9]], [0.6, 0.7, 1.8], -1.0),
        (2, [], [[525.0, 812.0, 0.5], [525.0, 812.0, 0.5]], [2.0, 0.5, 1.0], 1.4)]
    anns, instances = [], []
    for k, (cat, attrs, trans, size, yaw) in enumerate(objects):
        instances.append(dict(token=f'inst{k}', category_token=f'cat{cat}', nbr_annotations=2,
                              first_annotation_token=f'ann{k}_0', last_annotation_token=f'ann{k}_1'))
        for s in range(2):
            anns.append(dict(token=f'ann{k}_{s}', sample_token=f'sample{s}', instance_token=f'inst{k}',
                             visibility_token='4', attribute_tokens=attrs, translation=trans[s], size=size,
                             rotation=list(Quaternion(axis=[0, 0, 1], radians=yaw).elements),
                             prev=f'ann{k}_0' if s else '', next='' if s else f'ann{k}_1',
                             num_lidar_pts=10, num_radar_pts=0))
    table('instance', instances)
    table('sample_annotation', anns)
    return dict(objects=objects, cam2ego=_pose(CAM_AXES, [1.7, 0.0, 1.5]), ego_poses=ego_poses)


def dataroot_samples(info: Dict[str, object], sample_ids: Sequence[int]) -> List[DetSample]:
    """Perfect camera-frame predictions of the database's objects (camera-time ego poses)."""
    cats = [NUSCENES_CLASSES.index(c) for c in ('car', 'pedestrian', 'barrier')]
    attr = [NUSCENES_ATTRIBUTES.index('vehicle.moving'), NUSCENES_ATTRIBUTES.index('pedestrian.standing'), 8]
    out = []
    for s in sample_ids:
        pose = next(p for p in info['ego_poses'] if p['token'] == f'ego_cam{s}')
        ego2global = _pose(Quaternion(pose['rotation']).rotation_matrix, pose['translation'])
        objs = info['objects']
        trans = np.array([o[2][s] for o in objs])
        vel = np.array([(np.array(o[2][1]) - np.array(o[2][0]))[:2] / 0.5 for o in objs])
        rot = np.array([Quaternion(axis=[0, 0, 1], radians=o[4]).elements for o in objs])
        boxes, cam_vel = global_to_camera_boxes(trans, np.array([o[3] for o in objs]), rot, vel,
                                                info['cam2ego'], ego2global)
        pred = dict(boxes3d=boxes, velocities=cam_vel, scores=np.ones(len(objs)), labels=np.array(cats),
                    attr_labels=np.array(attr))
        out.append(make_sample(f'sample{s}/CAM_FRONT', info['cam2ego'], ego2global, None, pred))
    return out


def test_devkit_detection_eval_on_a_tiny_dataroot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    messages: List[str] = []
    monkeypatch.setattr(nm, '_log', lambda msg, level=None: messages.append(msg))
    info = make_dataroot(tmp_path)
    metric = NuScenesMetric(data_root=str(tmp_path), eval_classes='with_gt')  # 'auto' finds the tables
    res = run(metric, dataroot_samples(info, [0, 1]))
    assert any('devkit DetectionEval' in m for m in messages)
    assert res['mAP'] == 1.0 and res['NDS'] == pytest.approx(1.0)
    for name in ('mATE', 'mASE', 'mAOE', 'mAVE', 'mAAE'):
        assert res[name] < 1e-6, (name, res[name])
    # a subset of the split: the devkit ground truth of just those samples
    messages.clear()
    res = run(NuScenesMetric(data_root=str(tmp_path), eval_classes='with_gt'), dataroot_samples(info, [1]))
    assert any('cover 1 of the 2 samples' in m for m in messages)
    assert res['mAP'] == 1.0 and res['mATE'] < 1e-6 and res['mAVE'] < 1e-6
