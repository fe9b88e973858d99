"""nuScenes -> mono-3D json converter, on a fake nuScenes dataroot with known geometry.

One log, two scenes (scene-0061 of mini_train with 2 samples, scene-0103 of mini_val with
one), one camera (CAM_FRONT). Objects are placed at known boxes in the camera frame of
sample 0; the tables hold their global poses, so the converter must undo ego and camera
poses to find them again.
"""
from __future__ import annotations

import json
import math
import os
import runpy
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from pyquaternion import Quaternion

from centerx_tasks.box3d.mono3d_dataset import NuScenesMono3DDataset
from centerx_tasks.box3d.nuscenes_convert import convert_nuscenes

REPO = Path(__file__).resolve().parents[3]
VERSION = 'v1.0-mini'
W, H = 1600, 900
K = np.array([[1000.0, 0.0, 800.0], [0.0, 1000.0, 450.0], [0.0, 0.0, 1.0]])
# camera axes in the ego frame: x right = -y_ego, y down = -z_ego, z forward = x_ego
CAM_ROT = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CAM_T = np.array([1.5, 0.1, 1.6])
# devkit box frame (x forward, y left, z up) -> our box frame (heading, down, lateral);
# columns: the devkit axes written in our box frame
DEVKIT_TO_OURS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
T0 = 1_532_402_927_000_000  # microseconds
POSES = [  # (yaw about z, translation) of the ego vehicle per sample
    (math.radians(30.0), np.array([100.0, 200.0, 0.0])),
    (math.radians(34.0), np.array([103.0, 201.5, 0.0])),
    (math.radians(-70.0), np.array([500.0, 50.0, 0.0])),
]
TIMES = [T0, T0 + 500_000, T0 + 60_000_000]
V_CAR = np.array([2.0, 1.0, 0.0])  # global velocity of the car (m/s)


def ry(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def rz(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def cam_to_global(sample: int, box: list) -> tuple:
    """Camera-frame box (x, y, z, l, h, w, yaw) of a sample -> devkit (translation, size, rotation)."""
    yaw_e, t_e = POSES[sample]
    e_rot = rz(yaw_e)
    center = e_rot @ (CAM_ROT @ np.asarray(box[:3]) + CAM_T) + t_e
    rot = e_rot @ CAM_ROT @ ry(box[6]) @ DEVKIT_TO_OURS
    l, h, w = box[3:6]
    return center, [w, l, h], Quaternion(matrix=rot).elements.tolist()


def global_to_cam(sample: int, point: np.ndarray) -> np.ndarray:
    yaw_e, t_e = POSES[sample]
    return CAM_ROT.T @ (rz(yaw_e).T @ (point - t_e) - CAM_T)


def expected_corners(box) -> np.ndarray:
    """(8, 3) corners, built the devkit way (independent of box3d_corners)."""
    x, y, z, l, h, w, yaw = box
    signs = np.array([[a, b, c] for a in (-1, 1) for b in (-1, 1) for c in (-1, 1)], float)
    local = signs * np.array([l, w, h]) / 2.0  # devkit order x=l, y=w, z=h
    rot = ry(yaw) @ DEVKIT_TO_OURS
    return local @ rot.T + np.array([x, y, z])


def expected_bbox(box) -> list:
    uvw = expected_corners(box) @ K.T
    uv = uvw[:, :2] / uvw[:, 2:]
    x1, y1 = np.clip(uv.min(0), 0, [W, H])
    x2, y2 = np.clip(uv.max(0), 0, [W, H])
    return [x1, y1, x2 - x1, y2 - y1]


# objects of sample 0, in its camera frame: name -> (category, box, attribute, visibility)
CAR = [2.0, 0.8, 15.0, 4.5, 1.6, 1.9, 0.3]
PED = [-3.0, 0.7, 10.0, 0.7, 1.8, 0.6, -1.2]
BARRIER = [-7.0, 1.0, 7.5, 0.5, 1.0, 2.5, 0.0]  # center left of the image, one corner inside
OBJECTS0 = {
    'car': ('vehicle.car', CAR, 'vehicle.moving', '4'),
    'ped': ('human.pedestrian.adult', PED, None, '3'),
    'barrier': ('movable_object.barrier', BARRIER, None, '2'),
    'behind': ('vehicle.car', [0.0, 0.8, -10.0, 4.0, 1.5, 1.8, 0.0], None, '4'),
    'animal': ('animal', [1.0, 1.2, 20.0, 0.8, 0.6, 0.4, 0.5], None, '4'),
    'stroller': ('human.pedestrian.stroller', [-1.0, 1.0, 12.0, 0.9, 1.0, 0.6, 0.0], None, '4'),
    'off_fov': ('movable_object.trafficcone', [30.0, 1.0, 5.0, 0.4, 1.0, 0.4, 0.0], None, '4'),
}
TRUCK1 = [0.0, 0.5, 30.0, 7.0, 3.0, 2.5, 2.0]  # sample 1 only, in sample 1's camera frame


def write_dataroot(root: Path) -> dict:
    """Write the 13 tables, the images and the map; return tokens of interest."""
    tables = {name: [] for name in ('category', 'attribute', 'visibility', 'instance', 'sensor',
                                    'calibrated_sensor', 'ego_pose', 'log', 'scene', 'sample',
                                    'sample_data', 'sample_annotation', 'map')}
    categories = sorted({spec[0] for spec in OBJECTS0.values()} | {'vehicle.truck'})
    tables['category'] = [dict(token=f'cat-{n}', name=n, description='') for n in categories]
    attributes = ['vehicle.moving', 'vehicle.parked', 'pedestrian.moving']
    tables['attribute'] = [dict(token=f'attr-{n}', name=n, description='') for n in attributes]
    tables['visibility'] = [dict(token=str(k), level=lvl, description='')
                            for k, lvl in enumerate(('v0-40', 'v40-60', 'v60-80', 'v80-100'), 1)]
    tables['sensor'] = [dict(token='sensor-cam-front', channel='CAM_FRONT', modality='camera')]
    tables['calibrated_sensor'] = [dict(token='cs-front', sensor_token='sensor-cam-front',
                                        translation=CAM_T.tolist(),
                                        rotation=Quaternion(matrix=CAM_ROT).elements.tolist(),
                                        camera_intrinsic=K.tolist())]
    tables['log'] = [dict(token='log-0', logfile='fake-log', vehicle='n015', date_captured='2018-07-24',
                          location='singapore-onenorth')]
    os.makedirs(root / 'maps', exist_ok=True)
    cv2.imwrite(str(root / 'maps' / 'fake.png'), np.zeros((8, 8), np.uint8))
    tables['map'] = [dict(token='map-0', log_tokens=['log-0'], category='semantic_prior',
                          filename='maps/fake.png')]
    scenes = [('scene-0061', [0, 1]), ('scene-0103', [2])]
    for name, idx in scenes:
        tables['scene'].append(dict(token=f'tok-{name}', log_token='log-0', nbr_samples=len(idx),
                                    first_sample_token=f'sample-{idx[0]}', last_sample_token=f'sample-{idx[-1]}',
                                    name=name, description=''))
        for k, i in enumerate(idx):
            tables['sample'].append(dict(token=f'sample-{i}', timestamp=TIMES[i], scene_token=f'tok-{name}',
                                         prev=f'sample-{idx[k - 1]}' if k > 0 else '',
                                         next=f'sample-{idx[k + 1]}' if k + 1 < len(idx) else ''))
    img_dir = root / 'samples' / 'CAM_FRONT'
    img_dir.mkdir(parents=True)
    blank = cv2.imencode('.jpg', np.zeros((9, 16, 3), np.uint8))[1].tobytes()
    for i in range(3):
        yaw_e, t_e = POSES[i]
        tables['ego_pose'].append(dict(token=f'pose-{i}', timestamp=TIMES[i], translation=t_e.tolist(),
                                       rotation=Quaternion(matrix=rz(yaw_e)).elements.tolist()))
        file_name = f'samples/CAM_FRONT/fake__CAM_FRONT__{TIMES[i]}.jpg'
        (root / file_name).write_bytes(blank)
        tables['sample_data'].append(dict(token=f'sd-{i}', sample_token=f'sample-{i}', ego_pose_token=f'pose-{i}',
                                          calibrated_sensor_token='cs-front', timestamp=TIMES[i], fileformat='jpg',
                                          is_key_frame=True, height=H, width=W, filename=file_name,
                                          prev='', next=''))

    def add_annotation(token, sample, instance, category, box, attribute, visibility, prev='', nxt=''):
        translation, size, rotation = cam_to_global(sample, box)
        tables['sample_annotation'].append(dict(
            token=token, sample_token=f'sample-{sample}', instance_token=instance, visibility_token=visibility,
            attribute_tokens=[f'attr-{attribute}'] if attribute else [], translation=translation.tolist(),
            size=size, rotation=rotation, prev=prev, next=nxt, num_lidar_pts=5, num_radar_pts=0))

    for name, (category, box, attribute, visibility) in OBJECTS0.items():
        nxt = 'ann-car-1' if name == 'car' else ''
        add_annotation(f'ann-{name}-0', 0, f'inst-{name}', category, box, attribute, visibility, nxt=nxt)
        tables['instance'].append(dict(token=f'inst-{name}', category_token=f'cat-{category}',
                                       nbr_annotations=2 if name == 'car' else 1,
                                       first_annotation_token=f'ann-{name}-0',
                                       last_annotation_token=f'ann-{name}-1' if name == 'car' else f'ann-{name}-0'))
    # the car moves by V_CAR * 0.5 s (same global orientation); a truck appears in sample 1
    car_t, car_size, car_rot = cam_to_global(0, CAR)
    tables['sample_annotation'].append(dict(
        token='ann-car-1', sample_token='sample-1', instance_token='inst-car', visibility_token='4',
        attribute_tokens=['attr-vehicle.moving'], translation=(car_t + 0.5 * V_CAR).tolist(), size=car_size,
        rotation=car_rot, prev='ann-car-0', next='', num_lidar_pts=0, num_radar_pts=0))
    add_annotation('ann-truck-1', 1, 'inst-truck', 'vehicle.truck', TRUCK1, 'vehicle.parked', '4')
    tables['instance'].append(dict(token='inst-truck', category_token='cat-vehicle.truck', nbr_annotations=1,
                                   first_annotation_token='ann-truck-1', last_annotation_token='ann-truck-1'))
    table_dir = root / VERSION
    table_dir.mkdir(parents=True)
    for name, rows in tables.items():
        (table_dir / f'{name}.json').write_text(json.dumps(rows))
    return dict(car_global=car_t, car_rot=car_rot)


@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    root = tmp_path_factory.mktemp('nuscenes')
    extra = write_dataroot(root)
    out = root / 'annotations'
    result = convert_nuscenes(str(root), VERSION, str(out), cameras=['CAM_FRONT'], progress=False)
    data = {split: json.loads((out / f'nus_mono3d_{split}.json').read_text()) for split in result}
    return root, result, data, extra


def anns_by_token(data: dict) -> dict:
    return {a['token']: a for a in data['annotations']}


def test_splits_counts_and_summary(converted) -> None:
    root, result, data, _ = converted
    assert sorted(result) == ['mini_train', 'mini_val']
    train, val = data['mini_train'], data['mini_val']
    assert [img['id'] for img in train['images']] == ['sd-0', 'sd-1']
    assert [img['id'] for img in val['images']] == ['sd-2'] and val['annotations'] == []
    assert [img['scene_name'] for img in train['images']] == ['scene-0061'] * 2
    assert sorted(anns_by_token(train)) == ['ann-barrier-0', 'ann-car-0', 'ann-car-1', 'ann-ped-0', 'ann-truck-1']
    summary = result['mini_train']
    assert (summary['scenes'], summary['samples'], summary['images'], summary['annotations']) == (1, 2, 2, 5)
    assert summary['skipped_no_class'] == {'animal': 1, 'human.pedestrian.stroller': 1}
    assert summary['skipped_no_class_total'] == 2 and summary['skipped_degenerate'] == 0
    assert summary['per_class']['car'] == 2 and summary['per_class']['truck'] == 1
    assert summary['per_class']['pedestrian'] == 1 and summary['per_class']['barrier'] == 1
    assert train['info']['summary'] == {k: v for k, v in summary.items() if k != 'file'}
    assert [c['name'] for c in train['categories']] == list(train['info']['classes'])
    assert [a['id'] for a in train['annotations']] == list(range(5))


def test_images_geometry(converted) -> None:
    _, _, data, _ = converted
    for i, img in enumerate(data['mini_train']['images'] + data['mini_val']['images']):
        assert img['token'] == f'sample-{i}' and img['cam_name'] == 'CAM_FRONT'
        assert img['timestamp'] == TIMES[i] and (img['width'], img['height']) == (W, H)
        assert img['file_name'] == f'samples/CAM_FRONT/fake__CAM_FRONT__{TIMES[i]}.jpg'
        np.testing.assert_allclose(img['cam2img'], K)
        cam2ego = np.eye(4)
        cam2ego[:3, :3], cam2ego[:3, 3] = CAM_ROT, CAM_T
        np.testing.assert_allclose(img['cam2ego'], cam2ego, atol=1e-12)
        ego2global = np.eye(4)
        ego2global[:3, :3], ego2global[:3, 3] = rz(POSES[i][0]), POSES[i][1]
        np.testing.assert_allclose(img['ego2global'], ego2global, atol=1e-12)


def test_boxes_projections_attributes(converted) -> None:
    _, _, data, extra = converted
    anns = anns_by_token(data['mini_train'])
    car1 = global_to_cam(1, extra['car_global'] + 0.5 * V_CAR)
    # the car keeps its global heading; the ego turned by +4 degrees about up = -y_cam,
    # so relative to the camera the car turned by +4 degrees about +y_cam
    car1_box = [*car1, *CAR[3:6], CAR[6] + math.radians(4.0)]
    expected = {'ann-car-0': (CAR, 'car', 'vehicle.moving', 4),
                'ann-ped-0': (PED, 'pedestrian', 'pedestrian.moving', 3),  # no attribute: class default
                'ann-barrier-0': (BARRIER, 'barrier', None, 2),
                'ann-car-1': (car1_box, 'car', 'vehicle.moving', 4),
                'ann-truck-1': (TRUCK1, 'truck', 'vehicle.parked', 4)}
    classes = data['mini_train']['info']['classes']
    attributes = data['mini_train']['info']['attributes']
    for token, (box, name, attribute, visibility) in expected.items():
        ann = anns[token]
        np.testing.assert_allclose(ann['bbox_cam3d'], box, atol=1e-9, err_msg=token)
        np.testing.assert_allclose(ann['bbox'], expected_bbox(box), atol=1e-6, err_msg=token)
        uvw = K @ np.asarray(box[:3])
        np.testing.assert_allclose(ann['center2d'], [uvw[0] / uvw[2], uvw[1] / uvw[2], box[2]], atol=1e-6)
        assert ann['category_name'] == name and classes[ann['category_id']] == name
        assert ann['attribute_name'] == attribute
        assert ann['attribute_id'] == (-1 if attribute is None else attributes.index(attribute))
        assert ann['visibility'] == visibility
        assert ann['image_id'] == ('sd-0' if token.endswith('-0') else 'sd-1')
        assert ann['area'] == pytest.approx(ann['bbox'][2] * ann['bbox'][3])
    assert anns['ann-barrier-0']['bbox'][0] == 0.0  # clipped at the left border
    assert anns['ann-barrier-0']['center2d'][0] < 0  # its center is outside the image
    assert anns['ann-car-1']['num_lidar_pts'] == 0 and anns['ann-car-0']['num_lidar_pts'] == 5


def test_velocities(converted) -> None:
    _, _, data, _ = converted
    anns = anns_by_token(data['mini_train'])
    for token, sample in (('ann-car-0', 0), ('ann-car-1', 1)):
        v_cam = CAM_ROT.T @ rz(POSES[sample][0]).T @ V_CAR
        np.testing.assert_allclose(anns[token]['velo_cam3d'], v_cam[[0, 2]], atol=1e-9)
    for token in ('ann-ped-0', 'ann-barrier-0', 'ann-truck-1'):  # single annotation: unknown
        assert anns[token]['velo_cam3d'] is None


def test_dataset_reads_converted(converted) -> None:
    root, _, data, _ = converted
    ds = NuScenesMono3DDataset(ann_file='annotations/nus_mono3d_mini_train.json', data_root=str(root),
                               data_prefix=dict(img=str(root)))
    assert len(ds) == 2 and ds.metainfo['bbox_cam3d_layout'] == 'centerx'
    first = ds[0]
    assert first['img_id'] == 'sample-0/CAM_FRONT' and first['sample_token'] == 'sample-0'
    assert os.path.isfile(first['img_path']) and first['task_metas'][0].timestamp == TIMES[0]
    inst = first['instances']
    order = [a for a in data['mini_train']['annotations'] if a['image_id'] == 'sd-0']
    np.testing.assert_allclose(inst['boxes3d'], [a['bbox_cam3d'] for a in order], rtol=1e-6, atol=1e-5)
    assert inst['velocities'].shape == (3, 2) and np.isnan(inst['velocities'][1]).all()
    assert [ds.metainfo['classes'][k] for k in inst['labels']] == ['car', 'pedestrian', 'barrier']
    assert inst['attr_labels'][2] == -1 and inst['visibility'].tolist() == [4, 3, 2]
    ignored = NuScenesMono3DDataset(ann_file=str(root / 'annotations/nus_mono3d_mini_train.json'),
                                    ignore_without_points=True)
    assert ignored[1]['instances']['ignore'].tolist() == [True, False]  # car of sample 1 has no points


def test_cli_and_errors(converted, tmp_path, monkeypatch, capsys) -> None:
    root, _, data, _ = converted
    out = tmp_path / 'out'
    monkeypatch.setattr(sys, 'argv', ['nuscenes_convert.py', '--dataroot', str(root), '--version', VERSION,
                                      '--out', str(out), '--cameras', 'CAM_FRONT', '--no-progress'])
    runpy.run_path(str(REPO / 'tools' / 'nuscenes_convert.py'), run_name='__main__')
    printed = capsys.readouterr().out
    assert 'mini_train: 1 scenes, 2 samples, 2 images, 5 objects' in printed
    assert 'skipped (no detection class): 2 (animal 1, human.pedestrian.stroller 1)' in printed
    assert json.loads((out / 'nus_mono3d_mini_train.json').read_text()) == data['mini_train']
    with pytest.raises(ValueError, match='CAM_FRONT_RIGHT keyframe'):
        convert_nuscenes(str(root), VERSION, str(tmp_path / 'all'), progress=False)
    with pytest.raises(ValueError, match='unknown cameras'):
        convert_nuscenes(str(root), VERSION, str(tmp_path / 'x'), cameras=['CAM_TOP'])
    with pytest.raises(FileNotFoundError, match='v1.0-trainval'):
        convert_nuscenes(str(root), 'v1.0-trainval', str(tmp_path / 'x'))
