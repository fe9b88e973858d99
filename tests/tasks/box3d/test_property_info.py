"""Property-based: a nuScenes info pickle with hostile values gives valid items or a ValueError
naming the file; truncated and junk pickles are named errors."""
from __future__ import annotations

import os
import pickle
import tempfile

import numpy as np
import pytest
from hypothesis import given, strategies as st

from centerx_tasks.box3d.info_dataset import NuScenesInfoDataset

CAM2IMG = [[500.0, 0.0, 32.0], [0.0, 500.0, 24.0], [0.0, 0.0, 1.0]]
EYE = np.eye(4).tolist()


def info_files(hostile):
    """Info v1.1 dicts (up to two samples, one camera, up to four instances) with hostile fields."""
    sane3d = st.tuples(st.floats(-5, 5), st.floats(-2, 2), st.floats(1, 40), st.floats(0, 5), st.floats(0, 3),
                       st.floats(0, 3), st.floats(-4, 4)).map(list)
    sane2d = st.tuples(st.floats(-10, 30), st.floats(-10, 30), st.floats(30, 60), st.floats(30, 60)).map(list)
    instance = st.fixed_dictionaries(dict(
        bbox=st.one_of(sane2d, hostile.numbers(4)), bbox_3d=st.one_of(sane3d, hostile.numbers(7)),
        bbox_label=hostile.sane_or(st.sampled_from([0, 1])), velocity=hostile.sane_or(st.none()),
        attr_label=hostile.sane_or(st.sampled_from([0, 8])), bbox_3d_isvalid=hostile.sane_or(st.booleans())))
    image = st.fixed_dictionaries(dict(
        img_path=hostile.sane_or(st.just('a.jpg')), cam2img=hostile.sane_or(st.just(CAM2IMG)),
        cam2ego=hostile.sane_or(st.just(EYE)), timestamp=hostile.sane_or(st.floats(0, 2e9))))
    sample = st.fixed_dictionaries(dict(
        token=hostile.sane_or(st.sampled_from(['s0', 's1'])), sample_idx=hostile.sane_or(st.integers(0, 9)),
        timestamp=hostile.sane_or(st.floats(0, 2e9)), ego2global=hostile.sane_or(st.just(EYE)),
        lidar_points=hostile.sane_or(st.just(dict(lidar2ego=EYE))),
        images=st.fixed_dictionaries(dict(CAM_FRONT=image)),
        cam_instances=st.fixed_dictionaries(dict(CAM_FRONT=st.lists(instance, max_size=4)))))
    return st.fixed_dictionaries(dict(metainfo=st.just(dict(categories=dict(car=0, pedestrian=1))),
                                      data_list=st.lists(sample, max_size=2)))


def write_pickle(data, folder: str) -> str:
    path = os.path.join(folder, 'infos.pkl')
    with open(path, 'wb') as f:
        pickle.dump(data, f)
    return path


@given(data=st.data())
def test_hostile_info_pickle_gives_items_or_a_named_error(hostile, data) -> None:
    infos = data.draw(info_files(hostile))
    with tempfile.TemporaryDirectory() as folder:
        ds = hostile.load_or_named_error(NuScenesInfoDataset, write_pickle(infos, folder), cameras='CAM_FRONT')
    if ds is None:
        return
    for i in range(len(ds)):
        d = ds.get_data_info(i)
        assert isinstance(d['sample_idx'], int) and isinstance(d['img_path'], str)
        assert d['sample_timestamp'] is None or isinstance(d['sample_timestamp'], int)
        hostile.check_instances(d['instances'])


def valid_info() -> dict:
    inst = dict(bbox=[1.0, 2.0, 30.0, 40.0], bbox_3d=[0.0, 0.0, 10.0, 4.0, 1.5, 2.0, 0.1], bbox_label=0)
    return dict(metainfo=dict(categories=dict(car=0)), data_list=[dict(
        token='s0', ego2global=EYE, images=dict(CAM_FRONT=dict(img_path='a.jpg', cam2img=CAM2IMG, cam2ego=EYE)),
        cam_instances=dict(CAM_FRONT=[inst]))])


@pytest.mark.parametrize('cut', [1, 10, -1])
def test_truncated_or_junk_pickle_is_a_named_error(tmp_path, cut) -> None:
    path = write_pickle(valid_info(), str(tmp_path))
    data = open(path, 'rb').read()
    with open(path, 'wb') as f:
        f.write(data[:cut] if cut > 0 else b'\x00junk\xff' * 7)
    with pytest.raises(ValueError, match='not a readable pickle') as err:
        NuScenesInfoDataset(ann_file=path, cameras='CAM_FRONT', test_mode=True)
    assert path in str(err.value)


@pytest.mark.parametrize('where, value, message', [
    ('sample', dict(timestamp=float('nan')), 'timestamp'), ('sample', dict(timestamp='soon'), 'timestamp'),
    ('sample', dict(timestamp=float('inf')), 'timestamp'), ('sample', dict(sample_idx='x'), 'sample_idx'),
    ('sample', dict(lidar_points=[1]), 'lidar_points'), ('image', dict(timestamp=[1]), 'timestamp'),
    ('instance', dict(bbox=[1e39, 0, 2e39, 1]), 'float32'), ('instance', dict(velocity=[float('inf'), 0]), 'velocity'),
    ('instance', dict(bbox_3d_isvalid='no'), 'bbox_3d_isvalid'), ('instance', dict(attr_label=True), 'attr_label')])
def test_fields_found_by_the_property_test_are_named_errors(tmp_path, where, value, message) -> None:
    info = valid_info()
    sample = info['data_list'][0]
    target = dict(sample=sample, image=sample['images']['CAM_FRONT'], instance=sample['cam_instances']['CAM_FRONT'][0])
    target[where].update(value)
    path = write_pickle(info, str(tmp_path))
    with pytest.raises(ValueError, match=message) as err:
        NuScenesInfoDataset(ann_file=path, cameras='CAM_FRONT', test_mode=True)
    assert path in str(err.value) and 'data_list[0]' in str(err.value)
