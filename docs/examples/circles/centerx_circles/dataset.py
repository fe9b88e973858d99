"""The circle json format and a dataset reading it.

Format (one file per split)::

    {"format": "centerx-circles", "version": 1,
     "classes": ["red", "green", "blue"],
     "images": [
        {"id": 1, "file_name": "000001.png", "height": 128, "width": 128,
         "circles": [{"cx": 40.5, "cy": 20.25, "r": 9.0, "class": "red"},
                     {"cx": 90.0, "cy": 64.0, "r": 12.5, "class": "blue", "ignore": true}]}]}

``cx, cy, r`` are pixels of the original image (continuous coordinates: pixel ``i``
covers ``[i, i + 1)``), ``r > 0``; ``ignore`` (default false) marks a disc that neither
counts nor penalises (no peak, no loss around it, not scored by the metric). Image ids
are unique ints or strings; ``circles`` may be missing or empty.

Each item of :meth:`CircleDataset.load_data_list`::

    {'img_path': str, 'img_id': int | str, 'height': int, 'width': int,
     'instances': {'circles': float32 (N, 3), 'labels': int64 (N,), 'ignore': bool (N,),
                   ['bboxes': float32 (N, 4) circumscribed squares, with with_bboxes=True]}}
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.fileio import join_path
from mmengine.logging import print_log

from centerx.registry import DATASETS

FORMAT = 'centerx-circles'


@dataclass
class CircleImage:
    """One image record of a circle file.

    Attributes:
        id: image id (int or str).
        file_name: image file, relative to the image folder.
        height, width: image size in pixels.
        circles: (N, 3) float32 ``(cx, cy, r)``.
        labels: (N,) int64 index into the file's (or the selected) classes.
        ignore: (N,) bool.
    """

    id: Union[int, str]
    file_name: str
    height: int
    width: int
    circles: np.ndarray
    labels: np.ndarray
    ignore: np.ndarray


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_circle_file(path: str, classes: Optional[Sequence[str]] = None) -> Tuple[Tuple[str, ...], List[CircleImage]]:
    """Parse and check a circle json file.

    Args:
        path: the json file.
        classes: class names to keep, in this order (discs of other classes are dropped);
            None keeps the file's classes in its order.

    Returns:
        the classes (label order) and one :class:`CircleImage` per image, in file order.

    Raises:
        FileNotFoundError: no such file. ValueError: malformed content; the message names
        the file and the record (``images[3] (id 4): circles[1]: ...``).
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'circle annotation file {path} does not exist')
    try:
        with open(path, 'rb') as f:
            data = json.load(f)
    except ValueError as e:
        raise ValueError(f'{path}: not a valid json file: {e}') from e
    if not isinstance(data, dict) or data.get('format') != FORMAT:
        raise ValueError(f'{path}: not a circle annotation file (expected an object with '
                         f'"format": "{FORMAT}")')
    file_classes = data.get('classes')
    if (not isinstance(file_classes, list) or not file_classes
            or not all(isinstance(c, str) for c in file_classes) or len(set(file_classes)) != len(file_classes)):
        raise ValueError(f'{path}: "classes" must be a non-empty list of distinct names, got {file_classes!r}')
    selected = tuple(file_classes) if classes is None else tuple(str(c) for c in classes)
    unknown = [c for c in selected if c not in file_classes]
    if unknown or not selected or len(set(selected)) != len(selected):
        raise ValueError(f'{path}: requested classes {selected} must be distinct names among the '
                         f'file\'s classes {file_classes}; unknown: {unknown}')
    label_of = {name: k for k, name in enumerate(selected)}
    images = data.get('images')
    if not isinstance(images, list):
        raise ValueError(f'{path}: missing or non-list "images"')
    seen = set()
    out: List[CircleImage] = []
    for i, img in enumerate(images):
        where = f'{path}: images[{i}]'
        if not isinstance(img, dict) or not isinstance(img.get('id'), (int, str)) or isinstance(img.get('id'), bool):
            raise ValueError(f'{where}: needs an int or str "id", got {img!r:.200}')
        where += f' (id {img["id"]})'
        if img['id'] in seen:
            raise ValueError(f'{where}: duplicate image id')
        seen.add(img['id'])
        if not isinstance(img.get('file_name'), str) or not img['file_name']:
            raise ValueError(f'{where}: needs a "file_name"')
        for key in ('height', 'width'):
            if not isinstance(img.get(key), int) or isinstance(img.get(key), bool) or img[key] <= 0:
                raise ValueError(f'{where}: "{key}" must be a positive int, got {img.get(key)!r}')
        records = img.get('circles', [])
        if not isinstance(records, list):
            raise ValueError(f'{where}: "circles" must be a list, got {type(records).__name__}')
        rows, labels, ignore = [], [], []
        for j, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise ValueError(f'{where}: circles[{j}] must be an object, got {rec!r:.100}')
            values = [rec.get(k) for k in ('cx', 'cy', 'r')]
            if not all(_number(v) for v in values):
                raise ValueError(f'{where}: circles[{j}]: cx, cy and r must be finite numbers, got {values}')
            if values[2] <= 0:
                raise ValueError(f'{where}: circles[{j}]: r must be > 0, got {values[2]}')
            name = rec.get('class')
            if name not in file_classes:
                raise ValueError(f'{where}: circles[{j}]: class {name!r} is not among {file_classes}')
            flag = rec.get('ignore', False)
            if not isinstance(flag, bool):
                raise ValueError(f'{where}: circles[{j}]: "ignore" must be true or false, got {flag!r}')
            if name not in label_of:
                continue
            rows.append(values)
            labels.append(label_of[name])
            ignore.append(flag)
        out.append(CircleImage(id=img['id'], file_name=img['file_name'], height=img['height'],
                               width=img['width'], circles=np.asarray(rows, np.float32).reshape(-1, 3),
                               labels=np.asarray(labels, np.int64), ignore=np.asarray(ignore, bool)))
    return selected, out


def circumscribed_boxes(circles: np.ndarray) -> np.ndarray:
    """(N, 3) discs -> (N, 4) xyxy circumscribed squares."""
    c = np.asarray(circles, np.float32).reshape(-1, 3)
    return np.concatenate([c[:, :2] - c[:, 2:3], c[:, :2] + c[:, 2:3]], axis=1)


@DATASETS.register_module()
class CircleDataset(BaseDataset):
    """Discs read from a circle json file (format: see the module doc).

    Args:
        ann_file: the json, relative to ``data_root`` unless absolute.
        metainfo: optional ``dict(classes=(...))`` selecting classes of the file by name,
            in that order (discs of other classes are dropped).
        data_root: joined to ``ann_file`` and to ``data_prefix['img']``.
        data_prefix: ``dict(img=folder)``; ``img_path = join(folder, file_name)``.
        filter_cfg: ``dict(filter_empty_gt=True)`` drops images without discs (not in test mode).
        with_bboxes: also provide ``bboxes`` (N, 4), the discs' circumscribed squares, so a
            box task can share the head (see ``docs/writing_a_task.md``).
        generate_if_missing: when ``ann_file`` does not exist, first call
            :func:`centerx_circles.synthetic.ensure_synthetic_circles` with these keyword
            arguments (``root`` defaults to ``data_root``).
        **kwargs: the other options of :class:`mmengine.dataset.BaseDataset` (``indices``,
            ``serialize_data``, ``pipeline``, ``test_mode``, ``lazy_init``, ``max_refetch``).

    ``metainfo`` after loading: ``classes`` (tuple) and ``ann_file`` (absolute path, read
    by :class:`~centerx_circles.metric.CircleAPMetric`).
    """

    METAINFO: dict = dict()

    def __init__(self,
                 ann_file: str = '',
                 metainfo: Optional[Mapping] = None,
                 data_root: str = '',
                 data_prefix: Optional[Dict[str, str]] = None,
                 filter_cfg: Optional[Dict[str, Any]] = None,
                 with_bboxes: bool = False,
                 generate_if_missing: Optional[Dict[str, Any]] = None,
                 **kwargs: Any) -> None:
        self.with_bboxes = bool(with_bboxes)
        self.generate_if_missing = None if generate_if_missing is None else dict(generate_if_missing)
        super().__init__(ann_file=ann_file, metainfo=metainfo, data_root=data_root,
                         data_prefix=dict(img='') if data_prefix is None else dict(data_prefix),
                         filter_cfg=filter_cfg, **kwargs)

    def _generate(self) -> None:
        from .synthetic import ensure_synthetic_circles
        kwargs = dict(self.generate_if_missing or {})
        kwargs.setdefault('root', self.data_root)
        if not kwargs['root']:
            raise ValueError('CircleDataset: generate_if_missing needs a "root" (or a data_root)')
        ensure_synthetic_circles(**kwargs)

    def load_data_list(self) -> List[dict]:
        """Parse the json into one dict per image (see the module doc)."""
        if not os.path.isfile(self.ann_file) and self.generate_if_missing is not None:
            self._generate()
        requested = self._metainfo.get('classes')
        classes, images = read_circle_file(self.ann_file, None if requested is None else tuple(requested))
        self._metainfo.update(classes=classes, ann_file=os.path.abspath(self.ann_file))
        prefix = self.data_prefix.get('img', '')
        data_list = []
        for img in images:
            instances = dict(circles=img.circles, labels=img.labels, ignore=img.ignore)
            if self.with_bboxes:
                instances['bboxes'] = circumscribed_boxes(img.circles)
            data_list.append(dict(img_path=join_path(prefix, img.file_name) if prefix else img.file_name,
                                  img_id=img.id, height=img.height, width=img.width, instances=instances))
        return data_list

    def filter_data(self) -> List[dict]:
        """Apply ``filter_cfg`` (not in test mode)."""
        if self.test_mode or not (self.filter_cfg or {}).get('filter_empty_gt', False):
            return self.data_list
        kept = [d for d in self.data_list if len(d['instances']['labels']) > 0]
        if len(kept) != len(self.data_list):
            print_log(f'{self.ann_file}: filter_empty_gt removed {len(self.data_list) - len(kept)} of '
                      f'{len(self.data_list)} images', logger='current', level=logging.INFO)
        return kept

    def get_cat_ids(self, idx: int) -> List[int]:
        """Distinct labels present in image ``idx`` (for class-balanced samplers)."""
        return sorted(set(int(v) for v in self.get_data_info(idx)['instances']['labels']))
