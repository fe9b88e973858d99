"""ImageMeta carries per-task metas it does not know: keyed by type, untouched by transforms,
through loading, pickling and collation."""
from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.dataset import pseudo_collate

from centerx.data.transforms import CenterAffine, LoadImage, PackDetInputs, RandomFlip
from centerx.structures import ImageMeta


@dataclass
class TileMeta:
    """A plugin's meta: which map tile the image shows."""

    tile: str
    zoom: int


@dataclass
class WeatherMeta:
    rain: bool


def meta(**kwargs) -> ImageMeta:
    return ImageMeta(img_id=7, img_path='img/7.png', ori_shape=(40, 60), **kwargs)


def test_metas_are_keyed_by_their_type() -> None:
    m = meta(task_metas=[TileMeta('a', 3), WeatherMeta(True)])
    assert m.task_meta(TileMeta) == TileMeta('a', 3) and m.find_task_meta(WeatherMeta) == WeatherMeta(True)
    assert meta().find_task_meta(TileMeta) is None
    same = meta(task_metas={TileMeta: TileMeta('a', 3)})
    assert same.task_metas == {TileMeta: TileMeta('a', 3)}


def test_a_missing_meta_names_the_image_and_what_it_carries() -> None:
    with pytest.raises(LookupError, match=r"img/7.png.*carries no WeatherMeta.*TileMeta"):
        meta(task_metas=[TileMeta('a', 3)]).task_meta(WeatherMeta)


def test_one_meta_per_type_and_no_mislabelled_keys() -> None:
    with pytest.raises(ValueError, match='already carries a TileMeta'):
        meta(task_metas=[TileMeta('a', 3), TileMeta('b', 4)])
    m = meta(task_metas=[TileMeta('a', 3)])
    with pytest.raises(ValueError, match='img/7.png'):
        m.attach(TileMeta('b', 4))
    m.attach(WeatherMeta(False))
    assert m.task_meta(WeatherMeta) == WeatherMeta(False)
    with pytest.raises(TypeError, match='keyed by their own type'):
        meta(task_metas={TileMeta: WeatherMeta(True)})
    with pytest.raises(TypeError, match='None'):
        meta(task_metas=[None])


def test_metas_survive_pickle_and_deepcopy() -> None:
    m = meta(task_metas=[TileMeta('a', 3)])
    for other in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
        assert other.task_meta(TileMeta) == TileMeta('a', 3) and other.task_meta(TileMeta) is not m.task_meta(TileMeta)


def test_loading_attaches_the_datasets_metas_and_warps_leave_them_alone(tmp_path: Path) -> None:
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, np.full((40, 60, 3), 100, np.uint8))
    pipeline = [LoadImage(), RandomFlip(prob=1.0), CenterAffine(input_size=(32, 32)), PackDetInputs()]
    results = dict(img_path=path, img_id=3, task_metas=(TileMeta('a', 3),),
                   instances=dict(labels=np.zeros(0, np.int64)))
    for t in pipeline:
        results = t(results)
    sample = results['data_samples']
    assert sample.meta.flipped and sample.meta.img_shape == (32, 32)
    assert sample.meta.task_meta(TileMeta) == TileMeta('a', 3)
    batch = pseudo_collate([results, copy.deepcopy(results)])
    assert [s.meta.task_meta(TileMeta).tile for s in batch['data_samples']] == ['a', 'a']


def test_loading_refuses_two_metas_of_one_type(tmp_path: Path) -> None:
    path = str(tmp_path / 'img.png')
    cv2.imwrite(path, np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match='already carries a TileMeta'):
        LoadImage()(dict(img_path=path, task_metas=(TileMeta('a', 1), TileMeta('b', 2))))
