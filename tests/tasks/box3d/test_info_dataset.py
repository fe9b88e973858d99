"""NuScenesInfoDataset on the real info v1.1 fixture, the box convention, and malformed files."""
from __future__ import annotations

import copy
import pickle
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from centerx_tasks.box3d.camera import box3d_corners
from centerx_tasks.box3d.camera_meta import CameraMeta
from centerx_tasks.box3d.class_stats import INFO_CLASSES
from centerx_tasks.box3d.info_dataset import NUSCENES_CAMERAS, NuScenesInfoDataset

DEMO = Path(os.environ['CENTERX_FIXTURES']) / 'nuscenes' / 'demo'
PKL = DEMO / 'n015-2018-07-24-11-22-45+0800.pkl'
COUNTS = {'CAM_FRONT': 47, 'CAM_FRONT_RIGHT': 18, 'CAM_BACK': 10, 'CAM_BACK_RIGHT': 5, 'CAM_FRONT_LEFT': 2,
          'CAM_BACK_LEFT': 2}
IMAGE_WH = (1600, 900)


@pytest.fixture(scope='module')
def raw() -> dict:
    if not PKL.is_file():
        pytest.skip(f'nuScenes fixture not found at {PKL.resolve()}')
    with open(PKL, 'rb') as f:
        return pickle.load(f)


def build(ann_file=PKL, **kwargs) -> NuScenesInfoDataset:
    kwargs.setdefault('data_prefix', dict(img=str(DEMO) + '/'))
    return NuScenesInfoDataset(ann_file=str(ann_file), test_mode=kwargs.pop('test_mode', True), **kwargs)


def test_counts_ids_and_fields(raw) -> None:
    ds = build()
    assert len(ds) == 6
    assert ds.metainfo['classes'] == INFO_CLASSES  # categories ordered by id
    token = raw['data_list'][0]['token']
    seen = {}
    for i in range(len(ds)):
        d = ds.get_data_info(i)
        cam = d['cam_name']
        assert d['img_id'] == f'{token}/{cam}' and d['sample_token'] == token
        assert Path(d['img_path']).is_file() and f'__{cam}__' in d['img_path']
        # the image timestamp in microseconds is the one in the file name
        (camera,) = d['task_metas']
        assert isinstance(camera, CameraMeta)
        assert str(camera.timestamp) == Path(d['img_path']).stem.split('__')[-1]
        assert camera.cam2img.shape == (3, 3) and camera.cam2ego.shape == (4, 4) and camera.ego2global.shape == (4, 4)
        inst = d['instances']
        n = len(inst['labels'])
        assert inst['bboxes'].shape == (n, 4) and inst['boxes3d'].shape == (n, 7)
        assert inst['velocities'].shape == (n, 2) and inst['attr_labels'].shape == (n,) and inst['ignore'].shape == (n,)
        assert inst['bboxes'].dtype == np.float32 and inst['labels'].dtype == np.int64
        assert ((inst['attr_labels'] >= -1) & (inst['attr_labels'] < 8)).all()
        seen[cam] = n
    assert seen == COUNTS
    assert [ds.get_data_info(i)['cam_name'] for i in range(6)] == list(NUSCENES_CAMERAS)
    front = build(cameras=('CAM_FRONT',))
    assert len(front) == 1 and len(front.get_data_info(0)['instances']['labels']) == 47
    d = ds.get_data_info(3)['instances']  # CAM_BACK holds barriers and cones: attribute 'None' -> -1
    labels, attrs = d['labels'], d['attr_labels']
    static = np.isin(labels, [INFO_CLASSES.index('barrier'), INFO_CLASSES.index('traffic_cone')])
    assert static.any() and (attrs[static] == -1).all()
    assert sum(int(np.isnan(ds.get_data_info(i)['instances']['velocities']).any(axis=1).sum())
               for i in range(6)) == 2  # two objects have unknown velocity


def test_loads_through_pipeline(raw) -> None:
    from centerx.data.transforms import LoadImage, PackDetInputs
    import centerx_tasks.box3d.annotation_kinds  # noqa: F401
    ds = build(cameras=('CAM_BACK_LEFT',), pipeline=[LoadImage(), PackDetInputs()], image_size=IMAGE_WH)
    assert (ds.get_data_info(0)['height'], ds.get_data_info(0)['width']) == (900, 1600)
    out = ds[0]
    meta = out['data_samples'].meta
    assert tuple(out['inputs'].shape) == (3, IMAGE_WH[1], IMAGE_WH[0])
    camera = meta.task_meta(CameraMeta)
    assert camera.cam2ego is not None and camera.ego2global is not None
    assert meta.img_id.endswith('/CAM_BACK_LEFT') and isinstance(camera.timestamp, int)
    assert set(out['data_samples'].gt.keys()) >= {'bboxes', 'boxes3d', 'velocities', 'labels', 'attr_labels'}


def _corners(box, l_axis='x', yaw_sign=1.0, bottom=False) -> np.ndarray:
    """Corners under a hypothesis; the first one is the documented convention."""
    b = torch.tensor(box, dtype=torch.float64)
    if l_axis == 'z':
        b[3], b[5] = box[5], box[3]
    b[6] = yaw_sign * box[6]
    c = box3d_corners(b[None])[0].numpy()
    if bottom:
        c[:, 1] -= box[4] / 2  # (x, y, z) would be the bottom center
    return c


def _hull_bounds(uv: np.ndarray) -> np.ndarray:
    """Bounds of the convex hull of the points clipped to the image (what the converter wrote)."""
    from shapely.geometry import MultiPoint, box
    hull = MultiPoint([tuple(p) for p in uv]).convex_hull.intersection(box(0, 0, *IMAGE_WH))
    return np.array(hull.bounds)


def test_box_convention_on_fixture(raw) -> None:
    """(x, y, z) is the gravity center; corners = center + R_y(yaw) (+-l/2, +-h/2, +-w/2) with
    R_y = [[c, 0, s], [0, 1, 0], [-s, 0, c]]; the 2D bbox is their projection's clipped hull."""
    sample = raw['data_list'][0]
    hypotheses = {'documented': {}, 'l along z': dict(l_axis='z'), 'yaw negated': dict(yaw_sign=-1.0),
                  'bottom center': dict(bottom=True)}
    errors = {name: [] for name in hypotheses}
    n = 0
    for cam, insts in sample['cam_instances'].items():
        K = np.asarray(sample['images'][cam]['cam2img'], dtype=np.float64)
        for inst in insts:
            box = np.asarray(inst['bbox_3d'], dtype=np.float64)
            p = K @ box[:3]
            np.testing.assert_allclose(p[:2] / p[2], inst['center_2d'], atol=1e-3)
            assert abs(box[2] - inst['depth']) < 1e-4
            for name, kw in hypotheses.items():
                c = _corners(box, **kw)
                assert (c[:, 2] > 0).all()
                q = c @ K.T
                errors[name].append(np.abs(_hull_bounds(q[:, :2] / q[:, 2:]) - inst['bbox']).max())
            n += 1
    assert n == 84
    med = {name: float(np.median(e)) for name, e in errors.items()}
    doc = np.asarray(errors['documented'])
    # pitch/roll of the camera, dropped by 7-DoF boxes, leaves ~1 px (13 px on one 10 m bus at 15 m)
    assert med['documented'] < 1.5 and np.percentile(doc, 90) < 3.0 and doc.max() < 15.0
    for name in ('l along z', 'yaw negated', 'bottom center'):
        assert med[name] > 2 * med['documented'], (name, med)
    # the heading (cos yaw, -sin yaw) in (x, z) points along the velocity of moving objects
    for insts in sample['cam_instances'].values():
        for inst in insts:
            v = np.asarray(inst['velocity'], dtype=np.float64)
            if np.isfinite(v).all() and np.linalg.norm(v) > 1.0:
                yaw = inst['bbox_3d'][6]
                assert np.dot([np.cos(yaw), -np.sin(yaw)], v) / np.linalg.norm(v) > 0.9


def test_class_subset_and_filter(raw, tmp_path) -> None:
    ds = build(metainfo=dict(classes=('pedestrian', 'car')))
    assert ds.metainfo['classes'] == ('pedestrian', 'car')
    front = ds.get_data_info(0)['instances']
    all_front = build(cameras=('CAM_FRONT',)).get_data_info(0)['instances']
    ped, car = INFO_CLASSES.index('pedestrian'), INFO_CLASSES.index('car')
    assert (front['labels'] == 0).sum() == (all_front['labels'] == ped).sum()
    assert (front['labels'] == 1).sum() == (all_front['labels'] == car).sum()
    assert len(front['labels']) == int(np.isin(all_front['labels'], [ped, car]).sum())
    data = copy.deepcopy(raw)
    data['data_list'][0]['cam_instances']['CAM_BACK_LEFT'] = []
    path = tmp_path / 'empty_cam.pkl'
    path.write_bytes(pickle.dumps(data))
    assert len(build(path, filter_cfg=dict(filter_empty_gt=True), test_mode=False)) == 5
    assert len(build(path, filter_cfg=dict(filter_empty_gt=True), test_mode=True)) == 6


def _broken(raw, tmp_path, edit) -> Path:
    data = copy.deepcopy(raw)
    edit(data)
    path = tmp_path / 'broken.pkl'
    path.write_bytes(pickle.dumps(data))
    return path


@pytest.mark.parametrize('edit, match', [
    (lambda d: d['data_list'][0]['cam_instances']['CAM_BACK'][1].update(bbox_3d=[1.0, 2.0, 3.0]),
     r'data_list\[0\] \(token ca9a.*CAM_BACK instance 1: bbox_3d must be 7 numbers'),
    (lambda d: d['data_list'][0]['cam_instances']['CAM_FRONT'][2].update(bbox_label=42),
     r'CAM_FRONT instance 2: bbox_label 42 is not a category id'),
    (lambda d: d['data_list'][0]['cam_instances']['CAM_FRONT'][0].pop('bbox'), r'instance 0 lacks \[.bbox.\]'),
    (lambda d: d['data_list'][0]['cam_instances']['CAM_FRONT'][0]['bbox_3d'].__setitem__(4, -1.0),
     'sizes .* must be positive'),
    (lambda d: d['data_list'][0]['cam_instances']['CAM_FRONT'][0].update(attr_label=11), 'attr_label'),
    (lambda d: d['data_list'][0]['images'].pop('CAM_BACK_LEFT'), "no image of camera 'CAM_BACK_LEFT'"),
    (lambda d: d['data_list'][0]['images']['CAM_FRONT'].update(cam2img=[[1.0, 0.0], [0.0, 1.0]]),
     'CAM_FRONT: cam2img must be'),
    (lambda d: d['data_list'][0].pop('token'), r'data_list\[0\] has no "token"'),
    (lambda d: d['metainfo'].pop('categories'), 'categories'),
    (lambda d: d.pop('data_list'), 'data_list'),
])
def test_malformed_entries_name_file_and_record(raw, tmp_path, edit, match) -> None:
    path = _broken(raw, tmp_path, edit)
    with pytest.raises(ValueError, match=match) as info:
        build(path)
    assert str(path) in str(info.value)


def test_missing_and_unreadable_files(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match='does not exist'):
        build(tmp_path / 'nope.pkl')
    bad = tmp_path / 'bad.pkl'
    bad.write_bytes(b'not a pickle')
    with pytest.raises(ValueError, match='not a readable pickle'):
        build(bad)
    with pytest.raises(ValueError, match='distinct'):
        build(cameras=('CAM_FRONT', 'CAM_FRONT'))
    with pytest.raises(ValueError, match='image_size'):
        build(image_size=(1600,))
    if PKL.is_file():  # LoadImage compares the file with the declared size
        from centerx.data.transforms import LoadImage
        wrong = build(cameras=('CAM_FRONT',), image_size=(1280, 720), pipeline=[LoadImage()])
        with pytest.raises(ValueError, match='1600x900 but its annotation says 1280x720'):
            wrong[0]
    if PKL.is_file():
        with pytest.raises(ValueError, match='unicorn'):
            build(metainfo=dict(classes=('car', 'unicorn')))
