"""COCO-format annotation files: the reading that every task with a COCO-style json shares.

:class:`CocoFormatDataset` parses a COCO json (``images``, ``annotations``, ``categories``)
into one item per image::

    {'img_path': str, 'img_id': int, 'height': int, 'width': int,
     'instances': {'bboxes': float32 (N, 4) xyxy in original-image pixels,
                   'labels': int64 (N,) index into metainfo['classes'],
                   'ignore': bool (N,) (COCO iscrowd=1 -> True)}}

``metainfo`` holds ``classes`` (tuple of names), ``cat_ids`` (COCO category id of
each class index), ``palette`` (one RGB tuple per class) and ``ann_file`` (absolute
path of the json, read by the COCO metrics, :class:`~centerx.evaluation.coco_eval.CocoEvalMetric`).
Tasks register their datasets as subclasses (box detection: ``CocoDetDataset``; keypoints
add their field by extending :meth:`CocoFormatDataset.load_data_list` and
:meth:`CocoFormatDataset._update_metainfo`) and give their synthetic generator by
overriding :meth:`CocoFormatDataset._generate_missing`.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import os
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from mmengine.fileio import join_path
from mmengine.logging import print_log
from pycocotools.coco import COCO

from .base_dataset import DetBaseDataset, resolve_on_invalid

#: what a degenerate box is, for messages
DEGENERATE = 'w <= 0, h <= 0, NaN, or no positive float32 size'


def is_number(value: Any) -> bool:
    """An int or float json value (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value: Any) -> bool:
    """An int json value (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_record_id(value: Any) -> bool:
    """A json value usable as a record id: an int (not a bool) or a string."""
    return is_int(value) or isinstance(value, str)


def check_image_record(img: Any, where: str) -> None:
    """Check the parts of a COCO-style image record every reader needs: an int or string ``id``,
    and ``file_name``, ``height`` and ``width`` present with positive int sizes.

    Raises:
        ValueError: naming ``where`` (the annotation file) and the image id.
    """
    if not isinstance(img, dict) or not is_record_id(img.get('id')):
        raise ValueError(f'{where}: image record without an int or string "id": {img!r}')
    missing = [k for k in ('file_name', 'height', 'width') if k not in img]
    if missing:
        raise ValueError(f'{where}: image id {img["id"]!r} lacks {missing}')
    for key in ('height', 'width'):
        if not is_int(img[key]) or img[key] <= 0:
            raise ValueError(f'{where}: image id {img["id"]!r}: {key} must be a positive int, got {img[key]!r}')


def float32_box(bbox: Any) -> Optional[Tuple[float, float, float, float]]:
    """``(x1, y1, x2, y2)`` of a COCO ``[x, y, w, h]`` as float32 values when it is a box of
    positive size there (finite, ``x2 > x1``, ``y2 > y1`` after rounding), else None
    (NaN, w or h <= 0, beyond float32's range or lost in rounding: a degenerate box)."""
    try:
        x, y, w, h = (float(v) for v in bbox)
    except OverflowError:  # an int beyond float64
        return None
    with np.errstate(over='ignore', invalid='ignore'):
        box = np.asarray([x, y, x + w, y + h], np.float32)
    if not (np.isfinite(box).all() and box[2] > box[0] and box[3] > box[1]):
        return None
    return tuple(float(v) for v in box)


def coco_layout_paths(root: str) -> Dict[str, str]:
    """Paths of a COCO-layout dataset under ``root`` (whether or not it exists): image folders
    ``train/`` and ``val/``, annotation files ``annotations/{train,val}.json``."""
    return dict(root=root,
                train_img_dir=os.path.join(root, 'train'),
                val_img_dir=os.path.join(root, 'val'),
                train_ann_file=os.path.join(root, 'annotations', 'train.json'),
                val_ann_file=os.path.join(root, 'annotations', 'val.json'))


def read_coco_json(ann_file: str) -> dict:
    """Load a COCO-format json and check its top level: a json object whose ``images``,
    ``annotations`` (default ``[]``) and ``categories`` are lists.

    Raises:
        ValueError: naming the file: not json, unreadable, or a wrong top level.
    """
    try:
        with open(ann_file, 'rb') as f:
            data = json.load(f)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError, too deep
        raise ValueError(f'{ann_file}: not a valid json file: {e}') from e
    except OSError as e:
        raise ValueError(f'{ann_file}: cannot read: {e}') from e
    if not isinstance(data, dict):
        raise ValueError(f'{ann_file}: expected a COCO json object, got {type(data).__name__}')
    data.setdefault('annotations', [])
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(data.get(key), list):
            raise ValueError(f'{ann_file}: missing or non-list {key!r}')
    return data


class CocoFormatDataset(DetBaseDataset):
    """Dataset read from a COCO-format json (see the module doc for the items).

    Args:
        ann_file: COCO json, relative to ``data_root`` unless absolute.
        data_prefix: ``dict(img=folder)``; ``img_path = join(folder, file_name)``.
        on_invalid: what to do with degenerate boxes (w <= 0, h <= 0, NaN, or no positive
            size once stored as float32: beyond its range or lost in rounding): ``'raise'``
            raises naming the file and the annotation, ``'skip'`` drops them, logs a count
            and keeps it in ``self.num_skipped_boxes``.
        invalid_box: deprecated name of ``on_invalid`` (``'error'`` = ``'raise'``).
        generate_if_missing: when ``ann_file`` does not exist, the keyword arguments of the
            subclass's synthetic generator (:meth:`_generate_missing`; ``root`` defaults to
            ``data_root``).
        **kwargs: the options of :class:`mmengine.dataset.BaseDataset`: ``metainfo`` (optional
            ``dict(classes=(...))`` selecting a subset of the json's categories by name, in
            that order, annotations of other categories being dropped; without ``classes``
            every category, sorted by id; optionally ``palette``), ``data_root``,
            ``filter_cfg=dict(filter_empty_gt=bool, min_size=int)`` (mmdet semantics, not in
            ``test_mode``), ``indices``, ``serialize_data``, ``pipeline``, ``test_mode``,
            ``lazy_init``, ``max_refetch``.

    Samples given to the pipeline also carry ``'metainfo'`` (a copy of the dataset's
    metainfo, see :class:`~centerx.data.DetBaseDataset`). Boxes crossing the image
    border are kept unchanged (clipping is the transforms' job). Raises ``ValueError``
    (naming the file and the record) on malformed input.
    """

    def __init__(self,
                 ann_file: str = '',
                 data_prefix: Optional[Dict[str, str]] = None,
                 on_invalid: str = 'raise',
                 invalid_box: Optional[str] = None,
                 generate_if_missing: Optional[Dict[str, Any]] = None,
                 **kwargs: Any) -> None:
        self.on_invalid = resolve_on_invalid(type(self).__name__, on_invalid, invalid_box=invalid_box)
        self.generate_if_missing = None if generate_if_missing is None else dict(generate_if_missing)
        self.num_skipped_boxes = 0
        super().__init__(ann_file=ann_file, data_prefix=self._img_data_prefix(data_prefix), **kwargs)

    # ------------------------------------------------------------------ loading
    def _generate_missing(self) -> None:
        """Write the missing ``ann_file`` from ``generate_if_missing`` (subclasses that have a
        synthetic generator override this; here it is an error)."""
        raise ValueError(f'{type(self).__name__} has no synthetic generator; generate_if_missing='
                         f'{self.generate_if_missing} cannot write {self.ann_file}')

    def _read_json(self) -> dict:
        """Generate the file if asked and missing, then load and check the top level."""
        ann_file = self.ann_file
        if not os.path.isfile(ann_file) and self.generate_if_missing is not None:
            self._generate_missing()
        if not os.path.isfile(ann_file):
            raise FileNotFoundError(f'COCO annotation file {ann_file} does not exist')
        return read_coco_json(ann_file)

    def _check_records(self, data: dict) -> None:
        """Raise ValueError naming the file and the record on malformed entries."""
        f = self.ann_file
        cat_ids, img_ids, ann_ids = set(), set(), set()
        for cat in data['categories']:
            if not isinstance(cat, dict) or not is_int(cat.get('id')) or not isinstance(cat.get('name'), str):
                raise ValueError(f'{f}: category {cat!r} needs an int "id" and a string "name"')
            if cat['id'] in cat_ids:
                raise ValueError(f'{f}: duplicate category id {cat["id"]}')
            cat_ids.add(cat['id'])
        if not cat_ids:
            raise ValueError(f'{f}: no categories')
        for img in data['images']:
            check_image_record(img, f)
            if not isinstance(img['file_name'], str) or not img['file_name']:
                raise ValueError(f'{f}: image id {img["id"]!r}: file_name must be a non-empty string, '
                                 f'got {img["file_name"]!r}')
            if img['id'] in img_ids:
                raise ValueError(f'{f}: duplicate image id {img["id"]}')
            img_ids.add(img['id'])
        for ann in data['annotations']:
            if not isinstance(ann, dict) or not is_record_id(ann.get('id')):
                raise ValueError(f'{f}: annotation record without an int or string "id": {ann!r}')
            aid, iid = ann['id'], ann.get('image_id')
            missing = [k for k in ('image_id', 'category_id', 'bbox') if k not in ann]
            if missing:
                raise ValueError(f'{f}: annotation id {aid} (image id {iid}) lacks {missing}')
            if not is_record_id(iid):
                raise ValueError(f'{f}: annotation id {aid}: image id {iid!r} is not an int or string')
            if not is_int(ann['category_id']):
                raise ValueError(f'{f}: annotation id {aid} (image id {iid}): category_id must be an int, '
                                 f'got {ann["category_id"]!r}')
            if ann.get('iscrowd', 0) not in (0, 1) or isinstance(ann.get('iscrowd', 0), float):
                raise ValueError(f'{f}: annotation id {aid} (image id {iid}): iscrowd must be 0 or 1, '
                                 f'got {ann["iscrowd"]!r}')
            if aid in ann_ids:
                raise ValueError(f'{f}: duplicate annotation id {aid} (image id {iid})')
            ann_ids.add(aid)
            if iid not in img_ids:
                raise ValueError(f'{f}: annotation id {aid} refers to image id {iid}, '
                                 'which is not among the images')
            if ann['category_id'] not in cat_ids:
                raise ValueError(f'{f}: annotation id {aid} (image id {iid}) has category_id '
                                 f'{ann["category_id"]}, which is not among the categories '
                                 f'{sorted(cat_ids)}')
            box = ann['bbox']
            if (not isinstance(box, (list, tuple)) or len(box) != 4
                    or not all(is_number(v) and not (isinstance(v, float) and math.isinf(v)) for v in box)):
                raise ValueError(f'{f}: annotation id {aid} (image id {iid}): bbox must be 4 '
                                 f'finite numbers [x, y, w, h], got {box!r}')

    def _select_classes(self, data: dict) -> Tuple[Tuple[str, ...], Tuple[int, ...]]:
        """Classes and their category ids: all (sorted by id) or the requested subset."""
        cats = sorted(data['categories'], key=lambda c: c['id'])
        requested = self._metainfo.get('classes')
        if requested is None:
            return tuple(str(c['name']) for c in cats), tuple(c['id'] for c in cats)
        requested = tuple(requested)
        by_name: Dict[str, int] = {}
        for c in cats:
            if c['name'] in by_name and c['name'] in requested:
                raise ValueError(f'{self.ann_file}: category name {c["name"]!r} is used by ids '
                                 f'{by_name[c["name"]]} and {c["id"]}; cannot select it by name')
            by_name.setdefault(c['name'], c['id'])
        unknown = [n for n in requested if n not in by_name]
        if unknown or not requested or len(set(requested)) != len(requested):
            raise ValueError(f'{self.ann_file}: metainfo classes {requested} must be distinct '
                             f'category names of the file; unknown: {unknown}, '
                             f'available: {sorted(by_name)}')
        return requested, tuple(by_name[n] for n in requested)

    def _update_metainfo(self, classes: Tuple[str, ...], cat_ids: Tuple[int, ...]) -> None:
        self._metainfo.update(classes=classes, cat_ids=cat_ids, palette=self._palette(classes),
                              ann_file=os.path.abspath(self.ann_file))

    def load_data_list(self) -> List[dict]:
        """Parse the json into one dict per image (see the module docstring)."""
        data = self._read_json()
        self._check_records(data)
        classes, cat_ids = self._select_classes(data)
        self._update_metainfo(classes, cat_ids)
        label_of = {cid: k for k, cid in enumerate(cat_ids)}
        coco = COCO()
        coco.dataset = data
        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
        img_prefix = self.data_prefix.get('img', '')
        skipped: List[Any] = []
        data_list = []
        for img in data['images']:
            boxes, labels, ignore = [], [], []
            for ann in coco.imgToAnns.get(img['id'], []):
                label = label_of.get(ann['category_id'])
                if label is None:
                    continue
                box = float32_box(ann['bbox'])
                if box is None:
                    if self.on_invalid == 'raise':
                        raise ValueError(f'{self.ann_file}: annotation id {ann["id"]} (image id '
                                         f'{img["id"]}) has a degenerate bbox {ann["bbox"]!r} '
                                         f'({DEGENERATE}); use on_invalid=\'skip\' to drop it')
                    skipped.append(ann['id'])
                    continue
                boxes.append(box)
                labels.append(label)
                ignore.append(bool(ann.get('iscrowd', 0)))
            data_list.append(dict(
                img_path=join_path(img_prefix, img['file_name']) if img_prefix else img['file_name'],
                img_id=img['id'], height=int(img['height']), width=int(img['width']),
                instances=dict(bboxes=np.asarray(boxes, np.float32).reshape(-1, 4),
                               labels=np.asarray(labels, np.int64).reshape(-1),
                               ignore=np.asarray(ignore, bool).reshape(-1))))
        self.num_skipped_boxes = len(skipped)
        if skipped:
            print_log(f'{self.ann_file}: skipped {len(skipped)} annotations with degenerate boxes '
                      f'({DEGENERATE}), annotation ids {skipped[:10]}'
                      f'{" ..." if len(skipped) > 10 else ""}', logger='current',
                      level=logging.WARNING)
        return data_list
