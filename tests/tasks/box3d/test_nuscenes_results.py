"""Camera <-> global conversion and the nuScenes submission format (tasks/box3d/nuscenes_results.py)."""
from __future__ import annotations

import json
import pickle
import os
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest
from nuscenes.eval.common.loaders import load_prediction
from nuscenes.eval.common.utils import quaternion_yaw
from nuscenes.eval.detection.data_classes import DetectionBox
from nuscenes.utils.data_classes import Box
from nuscenes.utils.geometry_utils import view_points
from pyquaternion import Quaternion

from centerx_tasks.box3d import nuscenes_results as nr
from centerx_tasks.box3d import nuscenes_submission as ns
from centerx_tasks.box3d.nuscenes_results import (MMDET3D_NUSCENES_CLASSES, NUSCENES_ATTRIBUTES, NUSCENES_CLASSES,
                                          CameraDetections, camera_boxes_to_devkit_boxes,
                                          camera_boxes_to_global, camera_ego2global, camera_to_global,
                                          global_to_camera_boxes, quaternion_to_yaw, split_img_id)
from centerx_tasks.box3d.nuscenes_submission import from_detection_results, to_detection_results

FIXTURE = Path(os.environ['CENTERX_FIXTURES']) / 'nuscenes' / 'demo' / 'n015-2018-07-24-11-22-45+0800.pkl'

# camera x -> ego -y, camera y -> ego -z, camera z -> ego x (a level front camera)
CAM_AXES = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _rot(axis: str, angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return {'x': np.array([[1, 0, 0], [0, c, -s], [0, s, c]]),
            'y': np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]]),
            'z': np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])}[axis]


def _pose(rot: np.ndarray, trans) -> np.ndarray:
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rot, trans
    return out


def random_poses(rng: np.random.Generator, tilt: float = 0.05) -> Tuple[np.ndarray, np.ndarray]:
    """A camera-like cam2ego (any heading, small tilt) and an ego2global (any yaw, small pitch/roll)."""
    cam_rot = _rot('z', rng.uniform(-np.pi, np.pi)) @ _rot('x', rng.normal(0, tilt)) \
        @ _rot('y', rng.normal(0, tilt)) @ CAM_AXES
    ego_rot = _rot('z', rng.uniform(-np.pi, np.pi)) @ _rot('y', rng.normal(0, tilt)) @ _rot('x', rng.normal(0, tilt))
    return (_pose(cam_rot, rng.uniform([-1, -1, 1], [2, 1, 2])),
            _pose(ego_rot, rng.uniform([-2000, -2000, -5], [2000, 2000, 5])))


def random_camera_boxes(rng: np.random.Generator, n: int) -> Tuple[np.ndarray, np.ndarray]:
    boxes = np.concatenate([rng.uniform([-30, -2, 1], [30, 3, 70], (n, 3)),
                            rng.uniform(0.3, 12.0, (n, 3)), rng.uniform(-np.pi, np.pi, (n, 1))], axis=1)
    return boxes, rng.normal(0, 5, (n, 2))


def wrap(angle: np.ndarray) -> np.ndarray:
    return (angle + np.pi) % (2 * np.pi) - np.pi


# ------------------------------------------------------------------------- geometry
def test_camera_global_camera_roundtrip_is_exact() -> None:
    rng = np.random.default_rng(0)
    worst = np.zeros(3)
    for _ in range(20):
        cam2ego, ego2global = random_poses(rng)
        boxes, vel = random_camera_boxes(rng, 100)
        glob = camera_boxes_to_global(boxes, vel, cam2ego, ego2global)
        back, back_vel = global_to_camera_boxes(*glob, cam2ego, ego2global)
        worst = np.maximum(worst, [np.abs(back[:, :6] - boxes[:, :6]).max(),
                                   np.abs(wrap(back[:, 6] - boxes[:, 6])).max(),
                                   np.abs(back_vel - vel).max()])
    assert worst.max() < 1e-9, worst


def test_global_camera_global_roundtrip_is_exact() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        cam2ego, ego2global = random_poses(rng)
        n = 100
        trans = ego2global[:3, 3] + rng.uniform(-50, 50, (n, 3))
        size = rng.uniform(0.3, 12.0, (n, 3))
        yaw = rng.uniform(-np.pi, np.pi, n)
        rot = np.stack([np.cos(yaw / 2), 0 * yaw, 0 * yaw, np.sin(yaw / 2)], axis=1)
        vel = rng.normal(0, 5, (n, 2))
        boxes, cam_vel = global_to_camera_boxes(trans, size, rot, vel, cam2ego, ego2global)
        glob = camera_boxes_to_global(boxes, cam_vel, cam2ego, ego2global)
        assert np.abs(glob.translation - trans).max() < 1e-9
        assert np.abs(glob.size - size).max() < 1e-12
        sign = np.sign(np.sum(glob.rotation * rot, axis=1, keepdims=True))  # q and -q are one rotation
        assert np.abs(glob.rotation - sign * rot).max() < 1e-9
        assert np.abs(glob.velocity - vel).max() < 1e-9


def test_camera_yaw_convention_is_mmdet3d() -> None:
    """mmdet3d makes a camera box's quaternion as Rx(pi/2) * Rz(-yaw) and reads it back as
    -yaw_pitch_roll[0]; ours is the same rotation, with the heading along (cos yaw, 0, -sin yaw)."""
    for yaw in np.linspace(-3.1, 3.1, 13):
        mmdet3d = Quaternion(axis=[1, 0, 0], radians=np.pi / 2) * Quaternion(axis=[0, 0, 1], radians=-yaw)
        ours = camera_boxes_to_devkit_boxes(np.array([[1.0, 2.0, 10.0, 4.0, 1.5, 2.0, yaw]]))[0]
        assert np.allclose(ours.orientation.rotation_matrix, mmdet3d.rotation_matrix, atol=1e-12)
        assert abs(wrap(-ours.orientation.yaw_pitch_roll[0] - yaw)) < 1e-9
        assert np.allclose(ours.orientation.rotation_matrix[:, 0], [np.cos(yaw), 0, -np.sin(yaw)], atol=1e-12)
        assert np.allclose(ours.wlh, [2.0, 4.0, 1.5])


def test_global_boxes_match_the_devkit_box_transform() -> None:
    """Moving the devkit camera Box to the global frame with Box.rotate/translate (what mmdet3d
    submits) gives our translation, the devkit's quaternion_yaw of ours and our velocity."""
    rng = np.random.default_rng(2)
    cam2ego, ego2global = random_poses(rng)
    boxes, vel = random_camera_boxes(rng, 50)
    glob = camera_boxes_to_global(boxes, vel, cam2ego, ego2global)
    pose = camera_to_global(cam2ego, ego2global)
    for k, box in enumerate(camera_boxes_to_devkit_boxes(boxes, vel)):
        box.rotate(Quaternion(matrix=pose[:3, :3], atol=1e-9, rtol=1e-9))
        box.translate(pose[:3, 3])
        assert np.allclose(box.center, glob.translation[k], atol=1e-9)
        assert abs(wrap(quaternion_yaw(box.orientation) - quaternion_yaw(Quaternion(glob.rotation[k])))) < 1e-9
        assert np.allclose(box.velocity[:2], glob.velocity[k], atol=1e-9)
    assert np.allclose(quaternion_to_yaw(glob.rotation), [quaternion_yaw(Quaternion(q)) for q in glob.rotation])


def test_split_img_id() -> None:
    assert split_img_id('abc/CAM_FRONT') == ('abc', 'CAM_FRONT')
    assert split_img_id('abc') == ('abc', '')


# --------------------------------------------------------------------------- fixture
@pytest.fixture(scope='module')
def keyframe() -> dict:
    if not FIXTURE.is_file():
        pytest.skip(f'nuScenes fixture not found at {FIXTURE.resolve()}')
    with open(FIXTURE, 'rb') as f:
        return pickle.load(f)['data_list'][0]


def fixture_cameras(info: dict, exact: bool = True) -> Dict[str, dict]:
    """Per camera: poses (camera-time ego pose when exact), boxes, labels, sizes."""
    out = {}
    for cam, insts in info['cam_instances'].items():
        im = info['images'][cam]
        cam2ego = np.array(im['cam2ego'])
        ego2global = camera_ego2global(info['ego2global'], info['lidar_points']['lidar2ego'], im['lidar2cam'],
                                       cam2ego) if exact else np.array(info['ego2global'])
        boxes = np.array([i['bbox_3d'] for i in insts], np.float64).reshape(-1, 7)
        out[cam] = dict(cam2ego=cam2ego, ego2global=ego2global, boxes=boxes, insts=insts,
                        labels=np.array([i['bbox_label_3d'] for i in insts]),
                        glob=camera_boxes_to_global(boxes, None, cam2ego, ego2global))
    return out


def cross_camera_pairs(cams: Dict[str, dict], max_dist: float = 0.5) -> List[Tuple[float, float]]:
    """(center distance, yaw difference) of the same object seen by two cameras: same label, same
    size (the same annotation) and centers within max_dist."""
    pairs = []
    names = sorted(cams)
    for a_i, a in enumerate(names):
        for b in names[a_i + 1:]:
            A, B = cams[a], cams[b]
            for i in range(len(A['boxes'])):
                for j in range(len(B['boxes'])):
                    same = A['labels'][i] == B['labels'][j] and np.allclose(A['boxes'][i, 3:6], B['boxes'][j, 3:6])
                    dist = np.linalg.norm(A['glob'].translation[i] - B['glob'].translation[j])
                    if same and dist < max_dist:
                        yaw_a, yaw_b = quaternion_to_yaw(A['glob'].rotation[[i]]), quaternion_to_yaw(
                            B['glob'].rotation[[j]])
                        pairs.append((float(dist), float(abs(wrap(yaw_a - yaw_b))[0])))
    return pairs


def test_fixture_same_object_from_two_cameras_maps_to_one_global_box(keyframe: dict) -> None:
    pairs = cross_camera_pairs(fixture_cameras(keyframe, exact=True))
    # the keyframe holds 16 objects seen by two cameras (14 FRONT/FRONT_RIGHT, 1 FRONT/FRONT_LEFT,
    # 1 BACK/BACK_RIGHT); their global centers agree to < 1e-6 m
    assert len(pairs) == 16
    assert max(d for d, _ in pairs) < 0.01
    # yaw: the info converter read the camera yaw as -yaw_pitch_roll[0] of the tilted box,
    # we project the heading on the ground; they differ by the camera tilt squared (< 3.1e-4 rad)
    assert max(y for _, y in pairs) < 1e-3


def test_fixture_sample_ego_pose_is_off_by_the_ego_motion(keyframe: dict) -> None:
    """With the sample's (LIDAR_TOP-time) ego2global for every camera, the same object from two
    cameras lands 7-9 cm apart on this keyframe: the dataset must give camera-time ego poses."""
    pairs = cross_camera_pairs(fixture_cameras(keyframe, exact=False))
    assert len(pairs) == 16
    assert min(d for d, _ in pairs) > 0.05


def test_fixture_camera_boxes_match_the_lidar_frame_annotations(keyframe: dict) -> None:
    """Each camera box in global = one sample-level (LIDAR frame: x, y, z, l, w, h, yaw) annotation."""
    to_global = np.array(keyframe['ego2global']) @ np.array(keyframe['lidar_points']['lidar2ego'])
    lidar = np.array([i['bbox_3d'] for i in keyframe['instances']])
    centers = lidar[:, :3] @ to_global[:3, :3].T + to_global[:3, 3]
    heading = np.stack([np.cos(lidar[:, 6]), np.sin(lidar[:, 6]), 0 * lidar[:, 6]], 1) @ to_global[:3, :3].T
    yaw = np.arctan2(heading[:, 1], heading[:, 0])
    worst = np.zeros(3)
    for cam in fixture_cameras(keyframe).values():
        glob = cam['glob']
        for k in range(len(cam['boxes'])):
            j = np.argmin(np.linalg.norm(centers - glob.translation[k], axis=1))
            worst = np.maximum(worst, [np.linalg.norm(centers[j] - glob.translation[k]),
                                       np.abs(glob.size[k] - lidar[j, [4, 3, 5]]).max(),
                                       abs(wrap(yaw[j] - quaternion_to_yaw(glob.rotation[[k]])[0]))])
    assert worst[0] < 1e-5 and worst[1] < 1e-9 and worst[2] < 1e-3, worst


def test_fixture_global_boxes_reproduce_the_2d_boxes(keyframe: dict) -> None:
    """The 2D ``bbox`` is the enclosing box of the projected corners of the (gravity-upright)
    annotation box: our global box, moved into the camera and projected, gives it back to
    < 0.5 px (median ~4e-4 px); a flipped yaw sign or swapped l/w would be off by tens of px."""
    def errors(transform) -> List[float]:
        errs = []
        for cam_name, cam in fixture_cameras(keyframe).items():
            K = np.array(keyframe['images'][cam_name]['cam2img'])
            pose = camera_to_global(cam['cam2ego'], cam['ego2global'])
            glob = camera_boxes_to_global(transform(cam['boxes']), None, cam['cam2ego'], cam['ego2global'])
            for k, inst in enumerate(cam['insts']):
                box = Box(glob.translation[k], glob.size[k], Quaternion(glob.rotation[k]))
                box.translate(-pose[:3, 3])
                box.rotate(Quaternion(matrix=pose[:3, :3].T, atol=1e-6, rtol=1e-6))
                corners = box.corners()
                if (corners[2] <= 0.1).any():
                    continue
                uv = view_points(corners, K, normalize=True)[:2]
                bbox = np.array([uv[0].min(), uv[1].min(), uv[0].max(), uv[1].max()])
                if bbox[0] >= 0 and bbox[1] >= 0 and bbox[2] <= 1600 and bbox[3] <= 900:
                    errs.append(float(np.abs(bbox - np.array(inst['bbox'])).max()))
        return errs

    errs = errors(lambda b: b)
    assert len(errs) >= 70
    assert max(errs) < 0.5 and np.median(errs) < 0.01
    assert max(errors(lambda b: np.c_[b[:, :6], -b[:, 6]])) > 10
    assert max(errors(lambda b: b[:, [0, 1, 2, 5, 4, 3, 6]])) > 10


# ----------------------------------------------------------------------- submission
def _detections(rng: np.random.Generator, token: str, cams: int, per_cam: int) -> List[CameraDetections]:
    out = []
    for c in range(cams):
        cam2ego, ego2global = random_poses(rng)
        boxes, vel = random_camera_boxes(rng, per_cam)
        boxes[:, 2] = rng.uniform(1, 25, per_cam)  # within every class range
        boxes[:, 0] = rng.uniform(-10, 10, per_cam)
        out.append(CameraDetections(token, f'CAM_{c}', boxes, rng.uniform(0.01, 1, per_cam),
                                    rng.integers(0, 10, per_cam), cam2ego, ego2global, vel,
                                    rng.integers(-1, 9, per_cam)))
    return out


def test_submission_validates_with_the_devkit_loader(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    dets = _detections(rng, 'tok_a', 6, 20) + _detections(rng, 'tok_b', 2, 5) \
        + [CameraDetections('tok_empty', 'CAM_FRONT', np.zeros((0, 7)), np.zeros(0), np.zeros(0, int),
                            np.eye(4), np.eye(4))]
    sub = to_detection_results(dets)
    assert sub['meta'] == dict(use_camera=True, use_lidar=False, use_radar=False, use_map=False,
                               use_external=False)
    assert {k: len(v) for k, v in sub['results'].items()} == {'tok_a': 120, 'tok_b': 10, 'tok_empty': 0}
    path = tmp_path / 'results_nusc.json'
    path.write_text(json.dumps(sub))
    boxes, meta = load_prediction(str(path), max_boxes_per_sample=500, box_cls=DetectionBox)
    assert meta == sub['meta'] and len(boxes.all) == 130
    scores = [b.detection_score for b in boxes['tok_a']]
    assert scores == sorted(scores, reverse=True)
    for box in boxes.all:
        assert box.detection_name in NUSCENES_CLASSES
        assert box.attribute_name in nr.VALID_ATTRIBUTES[box.detection_name] or box.attribute_name == ''


def test_attribute_names_default_and_valid() -> None:
    names = ['car', 'bus', 'pedestrian', 'pedestrian', 'bicycle', 'barrier', 'traffic_cone', 'truck']
    attrs = np.array([-1, 8, NUSCENES_ATTRIBUTES.index('vehicle.parked'),
                      NUSCENES_ATTRIBUTES.index('pedestrian.standing'), NUSCENES_ATTRIBUTES.index('cycle.with_rider'),
                      NUSCENES_ATTRIBUTES.index('vehicle.moving'), 2, NUSCENES_ATTRIBUTES.index('vehicle.stopped')])
    assert nr.attribute_names(names, attrs) == ['vehicle.parked', 'vehicle.moving', 'pedestrian.moving',
                                                'pedestrian.standing', 'cycle.with_rider', '', '',
                                                'vehicle.stopped']
    assert nr.attribute_names(names, None)[:3] == ['vehicle.parked', 'vehicle.moving', 'pedestrian.moving']


def test_cap_at_500_keeps_the_best_and_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    messages: List[str] = []
    monkeypatch.setattr(ns, '_log', lambda msg, level=None: messages.append(msg))
    rng = np.random.default_rng(4)
    dets = _detections(rng, 'tok', 6, 100)
    all_scores = np.sort(np.concatenate([d.scores for d in dets]))[::-1]
    sub = to_detection_results(dets)
    kept = [d['detection_score'] for d in sub['results']['tok']]
    assert len(kept) == 500 and np.allclose(kept, all_scores[:500])
    assert any('tok: 600 detections, kept the 500 highest' in m and 'cut 100' in m for m in messages)
    assert any('cut 100 lowest-scoring detections in total' in m for m in messages)


def test_merge_cameras_and_optional_cross_camera_nms() -> None:
    rng = np.random.default_rng(5)
    cam2ego_a, ego2global = random_poses(rng)
    cam2ego_b = cam2ego_a.copy()
    cam2ego_b[:3, :3] = cam2ego_a[:3, :3] @ _rot('y', 0.6)  # a second camera turned by 0.6 rad
    glob_box = np.array([[3.0, 0.5, 15.0, 4.5, 1.6, 1.9, 0.3]])
    a = camera_boxes_to_global(glob_box, None, cam2ego_a, ego2global)
    box_b, _ = global_to_camera_boxes(*a, cam2ego_b, ego2global)  # the same object seen by camera b
    other = np.array([[-4.0, 0.5, 12.0, 4.5, 1.6, 1.9, 0.0]])
    dets = [CameraDetections('t', 'CAM_A', glob_box, np.array([0.9]), np.array([0]), cam2ego_a, ego2global),
            CameraDetections('t', 'CAM_B', np.concatenate([box_b, other]), np.array([0.8, 0.7]), np.array([0, 0]),
                             cam2ego_b, ego2global)]
    assert len(to_detection_results(dets)['results']['t']) == 3  # union, duplicates kept by default
    kept = to_detection_results(dets, nms_iou_thr=0.5)['results']['t']
    assert [d['detection_score'] for d in kept] == [0.9, 0.7]


def test_class_range_nonfinite_and_nan_velocity(monkeypatch: pytest.MonkeyPatch) -> None:
    messages: List[str] = []
    monkeypatch.setattr(ns, '_log', lambda msg, level=None: messages.append(msg))
    boxes = np.array([[0, 0, 10, 1, 1, 1, 0], [0, 0, 45, 1, 1, 1, 0], [0, 0, 45, 1, 1, 1, 0],
                      [np.nan, 0, 5, 1, 1, 1, 0], [0, 0, 5, 1, 0, 1, 0]], np.float64)
    labels = np.array([NUSCENES_CLASSES.index('car'), NUSCENES_CLASSES.index('car'),
                       NUSCENES_CLASSES.index('pedestrian'), 0, 0])  # pedestrian range is 40 m
    det = CameraDetections('t', 'CAM_FRONT', boxes, np.array([0.5, 0.4, 0.3, 0.9, 0.8]), labels,
                           _pose(CAM_AXES, [0, 0, 0]), np.eye(4), np.array([[np.nan, 1.0]] * 5))
    res = to_detection_results([det], class_range={c: 40.0 if c == 'pedestrian' else 50.0
                                                   for c in NUSCENES_CLASSES})['results']['t']
    assert [r['detection_score'] for r in res] == [0.5, 0.4]
    assert res[0]['velocity'] == pytest.approx([1.0, 0.0])  # camera vz = 1 -> ego / global x; NaN vx -> 0
    assert any('dropped 2 detections with non-finite' in m for m in messages) and any('beyond their class range' in m for m in messages)
    with pytest.raises(ValueError, match='not indices'):
        to_detection_results([CameraDetections('t', 'C', boxes[:1], np.ones(1), np.array([10]), np.eye(4),
                                               np.eye(4))])


def test_from_detection_results_inverts_to_detection_results() -> None:
    rng = np.random.default_rng(6)
    dets = _detections(rng, 'tok', 1, 30)
    sub = json.loads(json.dumps(to_detection_results(dets, class_names=MMDET3D_NUSCENES_CLASSES)))
    back = from_detection_results(sub, 'tok', dets[0].cam2ego, dets[0].ego2global,
                                  class_names=MMDET3D_NUSCENES_CLASSES)
    order = np.argsort(-dets[0].scores, kind='stable')
    assert np.abs(back['boxes3d'][:, :6] - dets[0].boxes3d[order, :6]).max() < 1e-9
    assert np.abs(wrap(back['boxes3d'][:, 6] - dets[0].boxes3d[order, 6])).max() < 1e-9
    assert np.abs(back['velocities'] - dets[0].velocities[order]).max() < 1e-9
    assert np.array_equal(back['labels'], dets[0].labels[order])
    assert np.allclose(back['scores'], dets[0].scores[order])
    assert from_detection_results(sub, 'missing', np.eye(4), np.eye(4))['boxes3d'].shape == (0, 7)
