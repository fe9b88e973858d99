"""CocoDetDataset: parsing, class subsets, path joining, filtering and bad input."""
from __future__ import annotations

import copy
import json
import math
import os
import re
from pathlib import Path
from typing import List

import numpy as np
import pytest

import centerx.data.base_dataset as base_dataset_module
import centerx.data.coco_format as coco_format_module
from centerx.registry import DATASETS
from centerx_tasks.box2d.coco_dataset import CocoDetDataset

# categories deliberately unsorted with non-contiguous ids
GT = dict(
    images=[dict(id=10, file_name='a.jpg', height=100, width=120),
            dict(id=20, file_name='b.jpg', height=50, width=60),  # no annotations
            dict(id=30, file_name='c.jpg', height=80, width=80)],
    annotations=[
        dict(id=1, image_id=10, category_id=7, bbox=[10, 20, 30, 40], area=1200, iscrowd=0),
        dict(id=2, image_id=10, category_id=3, bbox=[0, 0, 50, 50], area=2500, iscrowd=1),
        dict(id=3, image_id=10, category_id=1, bbox=[-5, 90, 20, 30], area=600, iscrowd=0),
        dict(id=4, image_id=30, category_id=3, bbox=[1.5, 2.5, 3.25, 4.0], area=13, iscrowd=0),
    ],
    categories=[dict(id=7, name='dog'), dict(id=1, name='bird'), dict(id=3, name='cat')])


def write(path: Path, data) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


@pytest.fixture
def logs(monkeypatch) -> List[str]:
    messages: List[str] = []
    monkeypatch.setattr(coco_format_module, 'print_log', lambda msg, *a, **k: messages.append(msg))
    monkeypatch.setattr(base_dataset_module, 'log', lambda msg, *a, **k: messages.append(msg))  # filter_data
    return messages


def test_parse_all_classes(tmp_path: Path) -> None:
    write(tmp_path / 'ann' / 'gt.json', GT)
    ds = DATASETS.build(dict(type='CocoDetDataset', data_root=str(tmp_path), ann_file='ann/gt.json',
                             data_prefix=dict(img='images/')))
    assert len(ds) == 3
    meta = ds.metainfo
    assert meta['classes'] == ('bird', 'cat', 'dog')
    assert meta['cat_ids'] == (1, 3, 7)
    assert len(meta['palette']) == 3 and all(len(c) == 3 for c in meta['palette'])
    assert meta['ann_file'] == os.path.abspath(tmp_path / 'ann' / 'gt.json')

    a = ds.get_data_info(0)
    assert a['img_path'] == os.path.join(str(tmp_path), 'images', 'a.jpg')
    assert (a['img_id'], a['height'], a['width']) == (10, 100, 120)
    inst = a['instances']
    assert inst['bboxes'].dtype == np.float32 and inst['labels'].dtype == np.int64
    assert inst['ignore'].dtype == bool
    np.testing.assert_array_equal(inst['bboxes'], [[10, 20, 40, 60], [0, 0, 50, 50], [-5, 90, 15, 120]])
    np.testing.assert_array_equal(inst['labels'], [2, 1, 0])  # dog, cat, bird
    np.testing.assert_array_equal(inst['ignore'], [False, True, False])  # crowd -> ignore

    b = ds.get_data_info(1)  # kept although it has no objects
    assert b['img_id'] == 20
    assert b['instances']['bboxes'].shape == (0, 4) and b['instances']['bboxes'].dtype == np.float32
    assert b['instances']['labels'].shape == (0,) and b['instances']['labels'].dtype == np.int64
    assert b['instances']['ignore'].shape == (0,) and b['instances']['ignore'].dtype == bool

    c = ds.get_data_info(2)['instances']['bboxes']
    np.testing.assert_allclose(c, [[1.5, 2.5, 4.75, 6.5]])
    assert ds.get_cat_ids(0) == [0, 1, 2]
    assert ds.num_skipped_boxes == 0


def test_class_subset_order(tmp_path: Path) -> None:
    ann = write(tmp_path / 'gt.json', GT)
    ds = CocoDetDataset(ann_file=ann, metainfo=dict(classes=('dog', 'bird')))
    assert ds.metainfo['classes'] == ('dog', 'bird')
    assert ds.metainfo['cat_ids'] == (7, 1)
    inst = ds.get_data_info(0)['instances']
    np.testing.assert_array_equal(inst['labels'], [0, 1])  # the crowd 'cat' is dropped
    np.testing.assert_array_equal(inst['bboxes'], [[10, 20, 40, 60], [-5, 90, 15, 120]])
    assert len(ds.get_data_info(2)['instances']['labels']) == 0
    with pytest.raises(ValueError, match=re.escape(ann) + '.*horse'):
        CocoDetDataset(ann_file=ann, metainfo=dict(classes=('dog', 'horse')))


def test_no_prefix_and_filter_empty(tmp_path: Path, logs: List[str]) -> None:
    ann = write(tmp_path / 'gt.json', GT)
    ds = CocoDetDataset(ann_file=ann, filter_cfg=dict(filter_empty_gt=True, min_size=0))
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == [10, 30]
    assert ds.get_data_info(0)['img_path'] == 'a.jpg'
    with pytest.raises(ValueError, match="'img' key"):
        CocoDetDataset(ann_file=ann, data_prefix=dict(img_path='images/'))
    assert any('removed 1 of 3 images' in m for m in logs)
    ds = CocoDetDataset(ann_file=ann, filter_cfg=dict(filter_empty_gt=False, min_size=70))
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == [10, 30]
    ds = CocoDetDataset(ann_file=ann, filter_cfg=dict(filter_empty_gt=True), test_mode=True)
    assert len(ds) == 3
    sub = CocoDetDataset(ann_file=ann, metainfo=dict(classes=('bird',)),
                         filter_cfg=dict(filter_empty_gt=True))
    assert [sub.get_data_info(i)['img_id'] for i in range(len(sub))] == [10]


def bad(tmp_path: Path, mutate) -> str:
    data = copy.deepcopy(GT)
    mutate(data)
    return write(tmp_path / 'bad.json', data)


def test_malformed_json(tmp_path: Path) -> None:
    ann = write(tmp_path / 'broken.json', '{"images": [1, 2,')
    with pytest.raises(ValueError, match=re.escape(ann) + '.*json.*line 1'):
        CocoDetDataset(ann_file=ann)
    ann = write(tmp_path / 'list.json', '[1, 2]')
    with pytest.raises(ValueError, match=re.escape(ann)):
        CocoDetDataset(ann_file=ann)
    with pytest.raises(FileNotFoundError, match='missing.json'):
        CocoDetDataset(ann_file=str(tmp_path / 'missing.json'))


def test_unknown_category(tmp_path: Path) -> None:
    ann = bad(tmp_path, lambda d: d['annotations'].append(
        dict(id=5, image_id=30, category_id=99, bbox=[1, 1, 2, 2], area=4, iscrowd=0)))
    pattern = re.escape(ann) + r'.*annotation id 5 \(image id 30\).*category_id 99'
    with pytest.raises(ValueError, match=pattern):
        CocoDetDataset(ann_file=ann)


def test_unknown_image(tmp_path: Path) -> None:
    ann = bad(tmp_path, lambda d: d['annotations'].append(
        dict(id=6, image_id=999, category_id=1, bbox=[1, 1, 2, 2], area=4, iscrowd=0)))
    with pytest.raises(ValueError, match=re.escape(ann) + '.*annotation id 6.*image id 999'):
        CocoDetDataset(ann_file=ann)


@pytest.mark.parametrize('box', [[1, 2, 3], [1, 2, 3, 4, 5], ['1', 2, 3, 4], [1, 2, math.inf, 4], None])
def test_bbox_not_four_finite_numbers(tmp_path: Path, box) -> None:
    ann = bad(tmp_path, lambda d: d['annotations'][0].update(bbox=box))
    with pytest.raises(ValueError, match=re.escape(ann) + r'.*annotation id 1 \(image id 10\).*4 finite'):
        CocoDetDataset(ann_file=ann, on_invalid='skip')


def test_degenerate_box_error(tmp_path: Path) -> None:
    ann = bad(tmp_path, lambda d: d['annotations'][3].update(bbox=[5, 5, 0, 3]))
    pattern = re.escape(ann) + r'.*annotation id 4 \(image id 30\).*\[5, 5, 0, 3\]'
    with pytest.raises(ValueError, match=pattern):
        CocoDetDataset(ann_file=ann)


def test_degenerate_box_skip(tmp_path: Path, logs: List[str]) -> None:
    def mutate(d):
        d['annotations'][0]['bbox'] = [5, 5, 3, -1]
        d['annotations'][3]['bbox'] = [float('nan'), 5, 3, 3]
    ann = bad(tmp_path, mutate)
    ds = CocoDetDataset(ann_file=ann, on_invalid='skip')
    assert ds.num_skipped_boxes == 2
    assert any('skipped 2' in m and re.search(r'\[1, 4\]', m) for m in logs)
    np.testing.assert_array_equal(ds.get_data_info(0)['instances']['labels'], [1, 0])
    assert ds.get_data_info(2)['instances']['bboxes'].shape == (0, 4)
    with pytest.raises(ValueError, match="CocoDetDataset: on_invalid must be 'raise' or 'skip', got 'clip'"):
        CocoDetDataset(ann_file=ann, on_invalid='clip')


def test_deprecated_invalid_box_keyword_still_works_and_warns(tmp_path: Path) -> None:
    ann = bad(tmp_path, lambda d: d['annotations'][3].update(bbox=[5, 5, 0, 3]))
    with pytest.warns(DeprecationWarning, match=r"CocoDetDataset\(invalid_box='skip'\) is deprecated; use on_invalid"):
        assert CocoDetDataset(ann_file=ann, invalid_box='skip').num_skipped_boxes == 1
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match='annotation id 4'):
        CocoDetDataset(ann_file=ann, invalid_box='error')
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match='disagree'):
        CocoDetDataset(ann_file=ann, on_invalid='skip', invalid_box='error')


def test_base_dataset_options_pass_through(tmp_path: Path) -> None:
    ann = bad(tmp_path, lambda d: None)
    lazy = CocoDetDataset(ann_file=ann, lazy_init=True, max_refetch=7, serialize_data=False)
    assert not lazy._fully_initialized and lazy.max_refetch == 7 and lazy.serialize_data is False
    assert len(CocoDetDataset(ann_file=ann, indices=2)) == 2


def test_generate_if_missing(tmp_path: Path) -> None:
    root = tmp_path / 'shapes'
    ds = CocoDetDataset(data_root=str(root), ann_file='annotations/val.json', data_prefix=dict(img='val/'),
                        generate_if_missing=dict(num_train=1, num_val=3, image_size=(48, 64)))
    assert len(ds) == 3 and (root / '.complete').is_file()
    info = ds.get_data_info(0)
    assert os.path.isfile(info['img_path']) and (info['height'], info['width']) == (48, 64)
    assert ds.metainfo['classes'][:2] == ('circle', 'rectangle')
