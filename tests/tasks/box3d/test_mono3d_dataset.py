"""NuScenesMono3DDataset on the shared nuScenes fixtures; the box convention checked on real data."""
from __future__ import annotations

import copy
import json
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from nuscenes.utils.data_classes import Box
from pyquaternion import Quaternion

from centerx.data.transforms.loading import LoadImage
from centerx.registry import DATASETS
from centerx_tasks.box3d.camera_meta import CameraMeta
from centerx_tasks.box3d.mono3d_dataset import NUSCENES_ATTRIBUTES, NUSCENES_CLASSES, NuScenesMono3DDataset
from centerx_tasks.box3d.mono3d_geometry import box3d_corners, corners_enclosing_boxes, pose_matrix, project_points

FIXTURES = Path(os.environ['CENTERX_FIXTURES']) / 'nuscenes'
COCO_DIR = FIXTURES / 'mono3d_coco'
COCO_JSON = COCO_DIR / 'nus_infos_mono3d.coco.json'
PICKLE = FIXTURES / 'demo' / 'n015-2018-07-24-11-22-45+0800.pkl'
PER_CAMERA = {'CAM_BACK_LEFT': 5, 'CAM_FRONT': 1, 'CAM_FRONT_RIGHT': 0, 'CAM_FRONT_LEFT': 3, 'CAM_BACK': 1,
              'CAM_BACK_RIGHT': 1}


@pytest.fixture(scope='module')
def coco_json() -> dict:
    if not COCO_JSON.is_file():
        pytest.skip(f'nuScenes fixtures not found at {FIXTURES.resolve()}')
    return json.loads(COCO_JSON.read_text())


@pytest.fixture(scope='module')
def dataset(coco_json) -> NuScenesMono3DDataset:
    return NuScenesMono3DDataset(ann_file='nus_infos_mono3d.coco.json', data_root=str(COCO_DIR))


def camera(item: dict) -> CameraMeta:
    """The one per-task meta of a data item: its camera."""
    (cam,) = item['task_metas']
    assert isinstance(cam, CameraMeta)
    return cam


def not_clipped(box, w, h, margin=1.0) -> bool:
    return box[0] > margin and box[1] > margin and box[2] < w - margin and box[3] < h - margin


def test_counts_and_metainfo(dataset, coco_json) -> None:
    assert len(dataset) == 6 and dataset.metainfo['bbox_cam3d_layout'] == 'mmdet3d_v0'
    assert dataset.metainfo['classes'] == NUSCENES_CLASSES and len(NUSCENES_CLASSES) == 10
    assert dataset.metainfo['attributes'] == NUSCENES_ATTRIBUTES
    assert dataset.metainfo['ann_file'] == os.path.abspath(COCO_JSON)  # abspath: symlinks kept
    counts = {}
    for i in range(len(dataset)):
        item = dataset[i]
        sample, cam = item['img_id'].split('/')
        assert sample == item['sample_token'] == 'e93e98b63d3b40209056d129dc53ceee' and cam == item['cam_name']
        counts[cam] = len(item['instances']['labels'])
        inst = item['instances']
        assert inst['bboxes'].dtype == np.float32 and inst['boxes3d'].shape == (counts[cam], 7)
        assert inst['labels'].dtype == np.int64 and inst['ignore'].dtype == bool
        assert inst['velocities'].shape == (counts[cam], 2) and inst['visibility'].tolist() == [-1] * counts[cam]
        cam = camera(item)
        assert cam.cam2img.shape == (3, 3) and cam.cam2ego.shape == cam.ego2global.shape == (4, 4)
        assert str(camera(item).timestamp) in item['img_path']  # from the nuScenes file name
    assert counts == PER_CAMERA and sum(counts.values()) == len(coco_json['annotations']) == 11
    labels = [NUSCENES_CLASSES[k] for i in range(6) for k in dataset[i]['instances']['labels']]
    assert sorted(labels) == sorted(a['category_name'] for a in coco_json['annotations'])
    attrs = dataset[0]['instances']['attr_labels'].tolist()  # CAM_BACK_LEFT: 3 cones, 2 sitting pedestrians
    sitting = NUSCENES_ATTRIBUTES.index('pedestrian.sitting_lying_down')
    assert attrs == [-1, -1, sitting, sitting, -1]  # the file's 'None' is no attribute
    assert DATASETS.get('NuScenesMono3DDataset') is NuScenesMono3DDataset


def test_geometry_matches_image_records(dataset, coco_json) -> None:
    for img, i in zip(coco_json['images'], range(6)):
        item = dataset[i]
        np.testing.assert_allclose(camera(item).cam2img, img['cam_intrinsic'])
        pose = camera(item).cam2ego
        q = Quaternion(img['cam2ego_rotation'])
        np.testing.assert_allclose(pose[:3, :3], q.rotation_matrix, atol=1e-12)
        np.testing.assert_allclose(pose[:3, 3], img['cam2ego_translation'])
        np.testing.assert_allclose(camera(item).ego2global[:3, :3],
                                   Quaternion(img['ego2global_rotation']).rotation_matrix, atol=1e-12)
        assert (item['height'], item['width']) == (900, 1600)


def test_corner_projection_and_center(dataset, coco_json) -> None:
    by_image = {}
    for ann in coco_json['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    checked = 0
    for img, i in zip(coco_json['images'], range(6)):
        item = dataset[i]
        inst = item['instances']
        anns = by_image.get(img['id'], [])
        fit = corners_enclosing_boxes(inst['boxes3d'], camera(item).cam2img, (item['height'], item['width']))
        for box2d, box_fit, box3d, ann in zip(inst['bboxes'], fit, inst['boxes3d'], anns):
            # center2d of the file = projection of the 3D (gravity) center; its depth = z
            np.testing.assert_allclose(project_points(box3d[:3], camera(item).cam2img), ann['center2d'][:2],
                                       atol=1e-2)
            assert ann['center2d'][2] == pytest.approx(float(box3d[2]), rel=1e-6)
            if not_clipped(box2d, item['width'], item['height']):
                size = np.r_[box2d[2:] - box2d[:2], box2d[2:] - box2d[:2]]
                # true boxes also pitch and roll a little: a few pixels of slack
                assert np.all(np.abs(box_fit - box2d) <= 2.0 + 0.03 * size), (ann['id'], box_fit, box2d)
                checked += 1
    assert checked >= 6


def test_heading_follows_velocity(dataset) -> None:
    """yaw is not off by pi: moving cars head where they go (both in the json and the pickle)."""
    moving = 0
    for i in range(len(dataset)):
        inst = dataset[i]['instances']
        for box3d, velo in zip(inst['boxes3d'], inst['velocities']):
            speed = float(np.linalg.norm(velo))
            if speed > 1.0:
                heading = np.array([math.cos(box3d[6]), -math.sin(box3d[6])])
                assert heading @ velo / speed > 0.98
                moving += 1
    assert moving == 2


def test_convention_on_info_pickle() -> None:
    """The info v1.1 cam_instances (the contract's convention) fit box3d_corners and the velocity."""
    if not PICKLE.is_file():
        pytest.skip(f'nuScenes fixtures not found at {FIXTURES.resolve()}')
    info = pickle.loads(PICKLE.read_bytes())['data_list'][0]
    checked = moving = 0
    for cam, instances in info['cam_instances'].items():
        k = np.asarray(info['images'][cam]['cam2img'])
        boxes3d = np.array([o['bbox_3d'] for o in instances])
        fit = corners_enclosing_boxes(boxes3d, k, (900, 1600))
        for obj, box_fit in zip(instances, fit):
            np.testing.assert_allclose(project_points(obj['bbox_3d'][:3], k), obj['center_2d'], atol=1e-3)
            if not_clipped(obj['bbox'], 1600, 900):
                size = np.r_[np.subtract(obj['bbox'][2:], obj['bbox'][:2])] * np.ones(2)
                assert np.all(np.abs(box_fit - obj['bbox']) <= 2.0 + 0.03 * np.r_[size, size])
                checked += 1
            velo = np.asarray(obj['velocity'])
            if np.linalg.norm(velo) > 1.0:
                yaw = obj['bbox_3d'][6]
                assert np.array([math.cos(yaw), -math.sin(yaw)]) @ velo / np.linalg.norm(velo) > 0.9
                moving += 1
    assert checked > 50 and moving > 20


def test_corners_match_devkit_box() -> None:
    """box3d_corners of [*center, wlh[1], wlh[2], wlh[0], -yaw_pitch_roll[0]] == the devkit corners."""
    rng = np.random.default_rng(0)
    # devkit box axes (x forward, y left, z up) in our box frame (heading, down, lateral)
    devkit_to_ours = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
    for _ in range(20):
        yaw = rng.uniform(-math.pi, math.pi)
        c, s = math.cos(yaw), math.sin(yaw)
        rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]) @ devkit_to_ours
        box = Box(rng.uniform(-10, 10, 3), rng.uniform(0.5, 5, 3), Quaternion(matrix=rot))
        ours = [*box.center, box.wlh[1], box.wlh[2], box.wlh[0], -box.orientation.yaw_pitch_roll[0]]
        corners = box3d_corners(ours)[0]
        devkit = box.corners().T
        assert np.abs(corners[:, None] - devkit[None]).sum(-1).min(1).max() < 1e-9  # same 8 points
        np.testing.assert_allclose(corners[4:].mean(0), devkit[:4].mean(0), atol=1e-9)  # same front face
    np.testing.assert_allclose(pose_matrix([1, 0, 0, 0], [1, 2, 3])[:3, 3], [1, 2, 3])


def test_cameras_filter_and_loading(coco_json) -> None:
    ds = NuScenesMono3DDataset(ann_file=str(COCO_JSON), data_prefix=dict(img=str(COCO_DIR)),
                               cameras=['CAM_BACK_LEFT'])
    assert len(ds) == 1 and ds.metainfo['cameras'] == ('CAM_BACK_LEFT',)
    item = ds[0]
    loaded = LoadImage()(copy.deepcopy(item))
    assert loaded['img'].shape == (900, 1600, 3)
    np.testing.assert_allclose(loaded['meta'].task_meta(CameraMeta).cam2ego, camera(item).cam2ego)
    assert loaded['meta'].task_meta(CameraMeta).timestamp == camera(item).timestamp == 1531883530447423
    front = NuScenesMono3DDataset(ann_file=str(COCO_JSON), cameras=['CAM_FRONT', 'CAM_FRONT_LEFT'])
    assert [d['cam_name'] for d in (front[0], front[1])] == ['CAM_FRONT', 'CAM_FRONT_LEFT']


def test_class_subset_layout_and_filters(coco_json) -> None:
    ds = NuScenesMono3DDataset(ann_file=str(COCO_JSON), metainfo=dict(classes=('pedestrian', 'traffic_cone')))
    assert ds.metainfo['classes'] == ('pedestrian', 'traffic_cone') and ds.num_dropped_objects == 6
    assert sorted(ds[0]['instances']['labels'].tolist()) == [0, 0, 1, 1, 1]
    explicit = NuScenesMono3DDataset(ann_file=str(COCO_JSON), bbox_cam3d_layout='mmdet3d_v0')
    auto = NuScenesMono3DDataset(ann_file=str(COCO_JSON))
    np.testing.assert_array_equal(explicit[1]['instances']['boxes3d'], auto[1]['instances']['boxes3d'])
    raw = coco_json['annotations'][0]['bbox_cam3d']  # (x, y, z, w, l, h, yaw_pitch_roll[0]) of a truck
    np.testing.assert_allclose(auto[1]['instances']['boxes3d'][0], [*raw[:3], raw[4], raw[5], raw[3], -raw[6]],
                               rtol=1e-6)
    v1 = NuScenesMono3DDataset(ann_file=str(COCO_JSON), bbox_cam3d_layout='mmdet3d_v1')
    np.testing.assert_allclose(v1[1]['instances']['boxes3d'][0], raw, rtol=1e-6)
    filtered = NuScenesMono3DDataset(ann_file=str(COCO_JSON), filter_cfg=dict(filter_empty_gt=True))
    assert len(filtered) == 5
    assert auto.get_cat_ids(0) == sorted({NUSCENES_CLASSES.index('pedestrian'),
                                          NUSCENES_CLASSES.index('traffic_cone')})


@pytest.mark.parametrize('mutate, message', [
    (lambda d: d['annotations'][3].update(bbox_cam3d=[1, 2, 3]), r'annotation id 3 .*bbox_cam3d must be 7'),
    (lambda d: d['annotations'][2].update(image_id='nope'), r"annotation id 2 .*not among the images"),
    (lambda d: d['annotations'][0].update(category_name='tree'), r"annotation id 0 .*'tree' is not a nuScenes"),
    (lambda d: d['annotations'][4].update(attribute_name='vehicle.flying'), r'annotation id 4 .*vehicle.flying'),
    (lambda d: d['annotations'][5].update(bbox=[0, 0, 0, 5]), r'annotation id 5 .*degenerate'),
    (lambda d: d['images'][1].pop('cam_intrinsic'), r"image id '020d7b4f858147558106c504f7f31bef' lacks"),
    (lambda d: d['images'][2].update(cam_intrinsic=[[1, 0], [0, 1]]), r'cam2img must be a finite'),
    (lambda d: d['categories'].append(dict(id=10, name='tree')), r'not a nuScenes detection class'),
])
def test_malformed_records(coco_json, tmp_path, mutate, message) -> None:
    data = copy.deepcopy(coco_json)
    mutate(data)
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=message) as info:
        NuScenesMono3DDataset(ann_file=str(path))
    assert str(path) in str(info.value)


def test_missing_file_and_bad_arguments(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match='tools/nuscenes_convert.py'):
        NuScenesMono3DDataset(ann_file=str(tmp_path / 'none.json'))
    with pytest.raises(ValueError, match='bbox_cam3d_layout'):
        NuScenesMono3DDataset(ann_file=str(tmp_path / 'none.json'), bbox_cam3d_layout='kitti')


def test_classes_outside_nuscenes_refused(coco_json) -> None:
    with pytest.raises(ValueError, match='nuScenes detection classes'):
        NuScenesMono3DDataset(ann_file=str(COCO_JSON), metainfo=dict(classes=('person',)))


def test_constants_agree_with_the_package() -> None:
    """One class order and one attribute order across the box3d modules."""
    from centerx_tasks.box3d import class_stats
    from centerx_tasks.box3d.mono3d_dataset import DEFAULT_ATTRIBUTE
    assert NUSCENES_CLASSES == class_stats.NUSCENES_CLASSES
    assert NUSCENES_ATTRIBUTES == class_stats.NUSCENES_ATTRIBUTES
    assert {k: v or '' for k, v in DEFAULT_ATTRIBUTE.items()} == class_stats.DEFAULT_ATTRIBUTES


def test_on_invalid_skip_drops_degenerate_boxes_and_the_old_keyword_warns(coco_json, tmp_path) -> None:
    data = copy.deepcopy(coco_json)
    data['annotations'][5].update(bbox=[0, 0, 0, 5])
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(data))
    ds = NuScenesMono3DDataset(ann_file=str(path), on_invalid='skip', lazy_init=True)
    assert not ds._fully_initialized  # BaseDataset options pass through
    ds.full_init()
    assert ds.num_skipped_boxes == 1
    with pytest.warns(DeprecationWarning, match=r"NuScenesMono3DDataset\(invalid_box='skip'\) is deprecated"):
        assert NuScenesMono3DDataset(ann_file=str(path), invalid_box='skip').num_skipped_boxes == 1
