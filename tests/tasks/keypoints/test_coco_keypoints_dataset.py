"""CocoKeypointsDataset: parsing, keypoint metainfo (names, skeleton, flip pairs, sigmas),
custom keypoint sets, generation of the synthetic set, and errors on bad input."""
from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

import centerx_tasks.keypoints.coco_keypoints_dataset as dataset_module
from centerx.registry import DATASETS
from centerx_tasks.keypoints.coco_keypoints_dataset import CocoKeypointsDataset
from centerx_tasks.keypoints.coco_meta import (COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, COCO_PERSON_CATEGORY,
                                       COCO_SIGMAS, COCO_SKELETON, DEFAULT_SIGMA, derive_flip_pairs)

K = 17


def kps(*labeled, k: int = K) -> list:
    """Flat COCO keypoints: ``labeled`` = (index, x, y, v) tuples, the others 0, 0, 0."""
    flat = [0] * (3 * k)
    for j, x, y, v in labeled:
        flat[3 * j:3 * j + 3] = [x, y, v]
    return flat


GT = dict(
    images=[dict(id=1, file_name='a.jpg', height=200, width=300),
            dict(id=2, file_name='b.jpg', height=100, width=100),  # no annotations
            dict(id=3, file_name='c.jpg', height=120, width=160)],
    annotations=[
        dict(id=11, image_id=1, category_id=1, bbox=[10, 20, 50, 100], area=5000, iscrowd=0,
             num_keypoints=3, keypoints=kps((0, 30.5, 25, 2), (5, 20, 50, 1), (16, 40.25, 118, 2))),
        dict(id=12, image_id=1, category_id=1, bbox=[100, 50, 20, 30], area=600, iscrowd=0,
             num_keypoints=7, keypoints=kps()),  # zero labeled: kept; num_keypoints inconsistent: fine
        dict(id=13, image_id=3, category_id=1, bbox=[0, 0, 80, 60], area=4800, iscrowd=1),  # crowd, no kps
        dict(id=14, image_id=3, category_id=1, bbox=[5, 5, 10, 10], area=100, iscrowd=0,
             keypoints=kps((3, 6.0, 7.0, 2))),  # no num_keypoints at all
    ],
    categories=[copy.deepcopy(COCO_PERSON_CATEGORY)])

CUSTOM_NAMES = ['head', 'left_hand', 'right_hand', 'tail']
CUSTOM = dict(
    images=[dict(id=5, file_name='x.png', height=64, width=64)],
    annotations=[dict(id=1, image_id=5, category_id=3, bbox=[1, 2, 30, 40], area=1200,
                      keypoints=[10, 5, 2, 3, 20, 1, 25, 21, 2, 0, 0, 0])],
    categories=[dict(id=3, name='critter', keypoints=CUSTOM_NAMES, skeleton=[[1, 2], [1, 3], [1, 4]])])


def write(path: Path, data) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def build(path: str, **kwargs) -> CocoKeypointsDataset:
    return DATASETS.build(dict(type='CocoKeypointsDataset', ann_file=path, **kwargs))


def test_coco_meta_tables() -> None:
    assert len(COCO_KEYPOINT_NAMES) == len(COCO_SIGMAS) == 17
    assert np.allclose(COCO_SIGMAS, np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62,
                                              1.07, 1.07, .87, .87, .89, .89]) / 10.0)
    assert [list(p) for p in COCO_FLIP_PAIRS] == derive_flip_pairs(COCO_KEYPOINT_NAMES)
    for i, j in COCO_FLIP_PAIRS:
        assert COCO_KEYPOINT_NAMES[i].replace('left_', 'right_') == COCO_KEYPOINT_NAMES[j]
    assert len(COCO_SKELETON) == 19 and all(0 <= v < 17 for e in COCO_SKELETON for v in e)
    assert COCO_PERSON_CATEGORY['skeleton'][0] == [16, 14]  # the json form is 1-based


def test_derive_flip_pairs_variants() -> None:
    names = ['eye_left', 'Left-Paw', 'nose', 'eye_right', 'Right-Paw', 'left_only', 'leftover', 'right_x_left',
             'left_right', 'LEFT.Hand', 'RIGHT.Hand']
    assert derive_flip_pairs(names) == [[0, 3], [1, 4], [9, 10]]
    assert derive_flip_pairs(['a', 'b']) == []


def test_parse_coco_person_keypoints(tmp_path: Path) -> None:
    ann = write(tmp_path / 'ann' / 'kp.json', GT)
    ds = build('ann/kp.json', data_root=str(tmp_path), data_prefix=dict(img='imgs/'))
    meta = ds.metainfo
    assert meta['classes'] == ('person',) and meta['cat_ids'] == (1,)
    assert meta['ann_file'] == os.path.abspath(ann)
    assert meta['keypoint_names'] == COCO_KEYPOINT_NAMES
    assert meta['skeleton'] == [list(e) for e in COCO_SKELETON]
    assert meta['flip_pairs'] == [list(p) for p in COCO_FLIP_PAIRS]
    assert meta['sigmas'] == list(COCO_SIGMAS)
    assert len(ds) == 3

    a = ds.get_data_info(0)
    assert a['img_path'] == os.path.join(str(tmp_path), 'imgs', 'a.jpg')
    inst = a['instances']
    assert inst['keypoints'].shape == (2, K, 3) and inst['keypoints'].dtype == np.float32
    np.testing.assert_array_equal(inst['bboxes'], [[10, 20, 60, 120], [100, 50, 120, 80]])
    first = inst['keypoints'][0]
    np.testing.assert_array_equal(first[[0, 5, 16]], [[30.5, 25, 2], [20, 50, 1], [40.25, 118, 2]])
    assert (np.delete(first, [0, 5, 16], axis=0) == 0).all()
    assert (inst['keypoints'][1] == 0).all()  # person without labeled keypoints is kept
    assert inst['labels'].tolist() == [0, 0] and inst['ignore'].tolist() == [False, False]

    b = ds.get_data_info(1)['instances']
    assert b['keypoints'].shape == (0, K, 3) and b['bboxes'].shape == (0, 4)

    c = ds.get_data_info(2)['instances']
    assert c['ignore'].tolist() == [True, False]
    assert (c['keypoints'][0] == 0).all()  # crowd without keypoints -> unlabeled
    assert c['keypoints'][1, 3].tolist() == [6.0, 7.0, 2.0]


def test_samples_carry_metainfo(tmp_path: Path) -> None:
    ds = build(write(tmp_path / 'kp.json', GT), pipeline=[lambda d: d])
    item = ds[0]
    assert item['metainfo']['flip_pairs'] == [list(p) for p in COCO_FLIP_PAIRS]
    assert item['metainfo']['sigmas'] == list(COCO_SIGMAS)
    item['metainfo']['flip_pairs'].clear()  # a copy: the dataset is not affected
    assert ds.metainfo['flip_pairs'] and ds[0]['metainfo']['flip_pairs']
    assert item['instances']['keypoints'].shape == (2, K, 3)


def test_filter_and_on_invalid_skip_keep_keypoints_aligned(tmp_path: Path) -> None:
    data = copy.deepcopy(GT)
    data['annotations'][1]['bbox'] = [100, 50, 0, 30]  # degenerate
    ds = build(write(tmp_path / 'kp.json', data), on_invalid='skip', filter_cfg=dict(filter_empty_gt=True))
    assert ds.num_skipped_boxes == 1 and len(ds) == 2
    inst = ds.get_data_info(0)['instances']
    assert inst['keypoints'].shape == (1, K, 3) and inst['keypoints'][0, 0, 0] == 30.5


def test_custom_keypoint_set(tmp_path: Path) -> None:
    path = write(tmp_path / 'custom.json', CUSTOM)
    ds = build(path)
    meta = ds.metainfo
    assert meta['classes'] == ('critter',) and meta['keypoint_names'] == tuple(CUSTOM_NAMES)
    assert meta['skeleton'] == [[0, 1], [0, 2], [0, 3]]
    assert meta['flip_pairs'] == [[1, 2]]
    assert meta['sigmas'] == [DEFAULT_SIGMA] * 4
    kp = ds.get_data_info(0)['instances']['keypoints']
    np.testing.assert_array_equal(kp, [[[10, 5, 2], [3, 20, 1], [25, 21, 2], [0, 0, 0]]])

    ds = build(path, metainfo=dict(flip_pairs=[[0, 3]], sigmas=(0.1, 0.2, 0.2, 0.3), skeleton=[[2, 1]],
                                   keypoint_names=CUSTOM_NAMES))
    assert ds.metainfo['flip_pairs'] == [[0, 3]]
    assert ds.metainfo['sigmas'] == [0.1, 0.2, 0.2, 0.3]
    assert ds.metainfo['skeleton'] == [[2, 1]]


def test_unpaired_side_names_are_reported(tmp_path: Path, monkeypatch) -> None:
    messages = []
    monkeypatch.setattr(dataset_module, 'print_log', lambda msg, *a, **k: messages.append(msg))
    data = copy.deepcopy(CUSTOM)
    data['categories'][0]['keypoints'] = ['head', 'left_hand', 'right_hand', 'left_ear']
    ds = build(write(tmp_path / 'c.json', data))
    assert ds.metainfo['flip_pairs'] == [[1, 2]]
    assert any("['left_ear'] name a side but have no partner" in m for m in messages)
    ds = build(write(tmp_path / 'c.json', data), metainfo=dict(flip_pairs=[]))
    assert ds.metainfo['flip_pairs'] == []


def test_categories_without_keypoints(tmp_path: Path) -> None:
    data = copy.deepcopy(GT)
    data['categories'].append(dict(id=2, name='ball'))
    data['annotations'].append(dict(id=99, image_id=2, category_id=2, bbox=[1, 1, 5, 5], iscrowd=0))
    path = write(tmp_path / 'kp.json', data)
    ds = build(path)
    assert ds.metainfo['classes'] == ('person', 'ball')
    inst = ds.get_data_info(1)['instances']
    assert inst['labels'].tolist() == [1] and (inst['keypoints'] == 0).all()
    with pytest.raises(ValueError, match="none of the selected categories \\['ball'\\] defines"):
        build(path, metainfo=dict(classes=('ball',)))
    data['categories'][1]['keypoints'] = ['a', 'b']
    with pytest.raises(ValueError, match='different keypoint lists'):
        build(write(tmp_path / 'two.json', data))


def _ann(**changes) -> dict:
    data = copy.deepcopy(GT)
    data['annotations'][0].update(changes)
    return data


def _cat(**changes) -> dict:
    data = copy.deepcopy(GT)
    data['categories'][0].update(changes)
    return data


@pytest.mark.parametrize('data, pattern', [
    (_ann(keypoints=[1, 2, 2] * 16), r'annotation id 11 \(image id 1\): "keypoints" must be a list of '
                                     r'3 \* 17 = 51 numbers .*got length 48'),
    (_ann(keypoints='none'), r'annotation id 11 .* got \'none\''),
    (_ann(keypoints=kps((2, 'a', 3, 2))), r'annotation id 11 .*value \'a\' at position 6 is not a finite'),
    (_ann(keypoints=kps((2, 1, 3, True))), r'annotation id 11 .*value True at position 8'),
    (_ann(keypoints=kps((2, float('nan'), 3, 2))), r'annotation id 11 .*nan at position 6'),
    (_ann(keypoints=kps((4, 1, 3, 3))), r"annotation id 11 .*visibility of keypoint 4 \('right_ear'\) is 3"),
    (_ann(keypoints=kps((4, 1, 3, 1.5))), r'visibility of keypoint 4 .* is 1.5'),
    (_ann(keypoints=None), r'annotation id 11 \(image id 1\) of category \'person\' has no "keypoints"'),
    (_cat(keypoints='nose'), r'category id 1 \(\'person\'\): "keypoints" must be a non-empty list'),
    (_cat(keypoints=['a', 'a']), r'non-empty list of distinct names'),
    (_cat(skeleton=[[0, 1]]), r'skeleton: \[0, 1\] is not a pair of 1-based keypoint indices in \[1, 17\]'),
    (_cat(skeleton=[[1, 18]]), r'skeleton: \[1, 18\]'),
    (_cat(skeleton=[[1, 2, 3]]), r'skeleton: \[1, 2, 3\]'),
])
def test_bad_input_names_file_and_record(tmp_path: Path, data: dict, pattern: str) -> None:
    if data['annotations'][0].get('keypoints', 0) is None:
        del data['annotations'][0]['keypoints']
    path = write(tmp_path / 'bad.json', data)
    with pytest.raises(ValueError, match=pattern) as info:
        build(path)
    assert str(info.value).startswith(path)


@pytest.mark.parametrize('metainfo, pattern', [
    (dict(flip_pairs=[[1, 2], [2, 3]]), 'metainfo flip_pairs: pair \\[2, 3\\] .* reuses an index'),
    (dict(flip_pairs=[[1, 1]]), 'metainfo flip_pairs: pair \\[1, 1\\]'),
    (dict(flip_pairs=[[0, 17]]), 'metainfo flip_pairs: \\[0, 17\\] is not a pair of 0-based'),
    (dict(flip_pairs='x'), 'metainfo flip_pairs must be a list'),
    (dict(skeleton=[[0, 17]]), 'metainfo skeleton: \\[0, 17\\]'),
    (dict(sigmas=[0.1] * 16), 'metainfo sigmas must be 17 positive numbers'),
    (dict(sigmas=[0.1] * 16 + [0.0]), 'metainfo sigmas must be 17 positive numbers'),
    (dict(sigmas=['a'] * 17), 'metainfo sigmas must be 17 positive numbers'),
    (dict(sigmas=0.1), 'metainfo sigmas must be 17 positive numbers'),
    (dict(keypoint_names=('nose',)), "metainfo keypoint_names \\('nose',\\) differ"),
])
def test_bad_metainfo(tmp_path: Path, metainfo: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        build(write(tmp_path / 'kp.json', GT), metainfo=metainfo)


def test_crowd_may_lack_keypoints_but_not_wrong_ones(tmp_path: Path) -> None:
    data = copy.deepcopy(GT)
    data['annotations'][2]['keypoints'] = [1, 2]
    with pytest.raises(ValueError, match='annotation id 13'):
        build(write(tmp_path / 'kp.json', data))


def test_generate_if_missing(tmp_path: Path) -> None:
    root = tmp_path / 'poses'
    ds = build('annotations/val.json', data_root=str(root), data_prefix=dict(img='val/'),
               generate_if_missing=dict(num_train=1, num_val=3, image_size=(48, 64), seed=2))
    assert (root / '.complete').is_file() and len(ds) == 3
    assert ds.metainfo['keypoint_names'] == COCO_KEYPOINT_NAMES
    info = ds.get_data_info(0)
    assert os.path.isfile(info['img_path']) and (info['height'], info['width']) == (48, 64)
    assert info['instances']['keypoints'].shape[1:] == (K, 3)
    with pytest.raises(FileNotFoundError, match='generate_if_missing'):
        build('annotations/other.json', data_root=str(tmp_path / 'p2'),
              generate_if_missing=dict(num_train=1, num_val=1, image_size=(32, 32)))
    with pytest.raises(FileNotFoundError):
        build(str(tmp_path / 'missing.json'))
    assert not math.isnan(ds.metainfo['sigmas'][0])
