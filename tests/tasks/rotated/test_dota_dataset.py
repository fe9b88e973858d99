"""DotaDataset: the real fixtures, label errors, missing folders and files, options."""
from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Dict, Sequence

import cv2
import numpy as np
import pytest

from centerx.registry import DATASETS
from centerx_tasks.rotated.dota_dataset import DotaDataset, image_size
from centerx_tasks.rotated.dota_labels import DOTA_V1_CLASSES, DotaLabelError
from centerx_tasks.rotated.synthetic import SYNTHETIC_CLASSES

V1 = DOTA_V1_CLASSES.index
GOOD = '10 10 30 10 30 20 10 20 plane 0\n'


def make_dataset(root: Path, labels: Dict[str, str], sizes: Sequence = ((40, 60),)) -> Path:
    """``root/images/<name>.png`` (one size per image, cycled) and ``root/labelTxt/<name>.txt``."""
    (root / 'images').mkdir(parents=True)
    (root / 'labelTxt').mkdir()
    for k, (name, text) in enumerate(labels.items()):
        h, w = sizes[k % len(sizes)]
        cv2.imwrite(str(root / 'images' / f'{name}.png'), np.zeros((h, w, 3), np.uint8))
        if text is not None:
            (root / 'labelTxt' / f'{name}.txt').write_text(text)
    return root


def test_fixtures(dota_dir: Path) -> None:
    ds = DATASETS.build(dict(type='DotaDataset', data_root=str(dota_dir)))
    assert len(ds) == 2
    infos = {ds[i]['img_id']: ds[i] for i in range(2)}
    p0706, p1888 = infos['P0706'], infos['P1888']
    assert (p0706['height'], p0706['width']) == (1182, 1111) and (p1888['height'], p1888['width']) == (557, 712)
    for info in (p0706, p1888):
        inst = info['instances']
        assert inst['polygons'].dtype == np.float32 and inst['polygons'].shape[1] == 8
        assert inst['labels'].dtype == np.int64 and inst['ignore'].dtype == bool
        assert Path(info['img_path']).is_file() and info['metainfo']['classes'] == DOTA_V1_CLASSES
    assert len(p0706['instances']['labels']) == 536 and len(p1888['instances']['labels']) == 64
    assert p0706['instances']['ignore'].sum() == 6 and not p1888['instances']['ignore'].any()
    assert np.bincount(p0706['instances']['labels'], minlength=15)[[V1('ship'), V1('harbor')]].tolist() == [531, 5]
    assert np.bincount(p1888['instances']['labels'], minlength=15)[
        [V1('large-vehicle'), V1('small-vehicle')]].tolist() == [50, 14]
    np.testing.assert_array_equal(p1888['instances']['polygons'][0], [674, 375, 683, 375, 684, 394, 675, 395])
    assert ds.metainfo['ann_dir'] == os.path.abspath(dota_dir / 'labelTxt') and ds.metainfo['version'] == 'v1.0'
    assert len(ds.metainfo['palette']) == 15
    v15 = DotaDataset(data_root=str(dota_dir), version='v1.5', difficult_as_ignore=False)
    assert len(v15.metainfo['classes']) == 16
    assert not any(v15[i]['instances']['ignore'].any() for i in range(2))
    assert image_size(str(dota_dir / 'images' / 'P0706.png')) == (1182, 1111)
    pickle.loads(pickle.dumps(ds))  # serialisable (dataloader workers)


def test_malformed_line_raises_with_file_and_line(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / 'd', {'a': 'imagesource:x\n' + GOOD + '1 2 3 plane 0\n'})
    with pytest.raises(DotaLabelError) as err:
        DotaDataset(data_root=str(root))
    assert str(root / 'labelTxt' / 'a.txt') in str(err.value) and ':3:' in str(err.value)


def test_skip_policy_counts(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / 'd', {'a': GOOD + 'x y\n' + GOOD, 'b': GOOD + GOOD.replace('plane', 'dragon'),
                                         'c': GOOD + '1 2 3 4 5 6 7 8 plane 7\n'})
    ds = DotaDataset(data_root=str(root), on_invalid='skip')
    assert ds.num_skipped_lines == 3
    assert [len(ds[i]['instances']['labels']) for i in range(3)] == [2, 1, 1]
    with pytest.warns(DeprecationWarning, match=r"DotaDataset\(on_error='skip'\) is deprecated"):
        assert DotaDataset(data_root=str(root), on_error='skip').num_skipped_lines == 3


def test_missing_image_folder_message(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as err:
        DotaDataset(data_root=str(tmp_path / 'DOTA' / 'train'))
    text = str(err.value)
    assert str(tmp_path / 'DOTA' / 'train' / 'images') in text
    assert 'tools/dota_split.py' in text and 'configs/rotated_synthetic.py' in text
    assert 'data/DOTA/' in text


def test_missing_label_file(tmp_path: Path) -> None:
    root = make_dataset(tmp_path / 'd', {'a': GOOD, 'b': None})
    for kwargs in (dict(), dict(allow_missing_labels=True), dict(test_mode=True)):
        with pytest.raises(FileNotFoundError) as err:
            DotaDataset(data_root=str(root), **kwargs)
        assert str(root / 'images' / 'b.png') in str(err.value)
        assert str(root / 'labelTxt' / 'b.txt') in str(err.value)
    ds = DotaDataset(data_root=str(root), test_mode=True, allow_missing_labels=True)
    assert [len(ds[i]['instances']['labels']) for i in range(2)] == [1, 0]
    assert ds[1]['instances']['polygons'].shape == (0, 8)
    test_split = make_dataset(tmp_path / 'test', {'c': None})
    (test_split / 'labelTxt').rmdir()  # a test split has no label folder at all
    assert len(DotaDataset(data_root=str(test_split), test_mode=True, allow_missing_labels=True)) == 1


def test_filter_classes_and_suffixes(tmp_path: Path) -> None:
    ship = '0 0 8 0 8 4 0 4 ship 1\n'
    root = make_dataset(tmp_path / 'd', {'a': GOOD + ship, 'b': 'imagesource:x\ngsd:null\n', 'c': ship},
                        sizes=((40, 60), (30, 50), (20, 16)))
    (root / 'images' / 'notes.txt').write_text('not an image')
    (root / 'images' / 'c.png').unlink()  # a JPEG with an upper-case suffix (size from PIL)
    cv2.imwrite(str(root / 'images' / 'c.jpg'), np.zeros((20, 16, 3), np.uint8))
    (root / 'images' / 'c.jpg').rename(root / 'images' / 'c.JPG')
    ds = DotaDataset(data_root=str(root))
    assert [ds[i]['img_id'] for i in range(len(ds))] == ['a', 'b', 'c']
    assert [(ds[i]['height'], ds[i]['width']) for i in range(3)] == [(40, 60), (30, 50), (20, 16)]
    filtered = DotaDataset(data_root=str(root), filter_cfg=dict(filter_empty_gt=True, min_size=15))
    assert [filtered[i]['img_id'] for i in range(len(filtered))] == ['a', 'c']
    assert len(DotaDataset(data_root=str(root), filter_cfg=dict(filter_empty_gt=True), test_mode=True)) == 3
    subset = DotaDataset(data_root=str(root), metainfo=dict(classes=('ship',)))
    assert subset.metainfo['classes'] == ('ship',) and subset.num_dropped_objects == 1
    assert subset[0]['instances']['labels'].tolist() == [0] and subset[0]['instances']['ignore'].tolist() == [True]


def test_generate_if_missing(tmp_path: Path) -> None:
    root = tmp_path / 'synthetic'
    syn = dict(root=str(root), num_train=3, num_val=1, image_size=(64, 64))
    ds = DotaDataset(data_root=str(root), data_prefix=dict(img='train/images/', ann='train/labelTxt/'),
                     metainfo=dict(classes=SYNTHETIC_CLASSES), generate_if_missing=syn,
                     pipeline=[lambda info: info])
    assert len(ds) == 3 and (root / '.complete').is_file()
    assert ds.metainfo['classes'] == SYNTHETIC_CLASSES
    sample = ds[0]  # through the pipeline: the sample carries the metainfo
    assert sample['metainfo']['classes'] == SYNTHETIC_CLASSES
    assert sample['img_id'] == 'train00001' and (sample['height'], sample['width']) == (64, 64)
