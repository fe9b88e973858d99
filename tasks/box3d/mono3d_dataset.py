"""nuScenes-style monocular 3D detection dataset (COCO-style json; images are read by a transform).

Each item of :meth:`NuScenesMono3DDataset.load_data_list` is::

    {'img_path': str, 'img_id': str ('<sample_token>/<CAM_NAME>'), 'sample_token': str,
     'cam_name': str, 'height': int, 'width': int,
     'task_metas': (CameraMeta,)  # cam2img (3, 3), cam2ego / ego2global (4, 4), timestamp
                                  # (microseconds; None when the file does not say)
     'instances': {'bboxes': float32 (N, 4) 2D box x1 y1 x2 y2 in original-image pixels,
                   'boxes3d': float32 (N, 7) camera frame (x, y, z, l, h, w, yaw),
                   'velocities': float32 (N, 2) (vx, vz) camera frame, m/s, NaN when unknown,
                   'labels': int64 (N,) index into metainfo['classes'],
                   'attr_labels': int64 (N,) index into metainfo['attributes'], -1 for none,
                   'visibility': int64 (N,) nuScenes visibility level 1-4, -1 when unknown,
                   'ignore': bool (N,)}}

Box convention (mmdet3d ``CameraInstance3DBoxes`` / OpenMMLab info v1.1 ``bbox_3d``):
``(x, y, z)`` is the *gravity* center in the camera frame (x right, y down, z forward),
``(l, h, w)`` the size along the object's heading, its vertical axis and its lateral axis,
``yaw`` the rotation about the camera y axis: the heading points along
``(cos yaw, 0, -sin yaw)``. From a nuScenes devkit ``Box`` in the camera frame:
``[*box.center, box.wlh[1], box.wlh[2], box.wlh[0], -box.orientation.yaw_pitch_roll[0]]``.
:func:`~centerx_tasks.box3d.mono3d_geometry.box3d_corners` is the reference implementation of this convention.

Two json layouts are read (detected per file, see ``bbox_cam3d_layout``):

- ``centerx`` (written by :mod:`centerx_tasks.box3d.nuscenes_convert` and
  :mod:`centerx_tasks.box3d.synthetic`; top-level ``info.format == 'centerx.nus_mono3d'``): images
  carry ``cam2img`` (3x3), ``cam2ego`` / ``ego2global`` (4x4), ``timestamp``, ``cam_name``,
  ``token`` (sample token); annotations carry ``bbox`` (COCO x, y, w, h), ``bbox_cam3d``
  in the convention above, ``velo_cam3d`` (null when unknown), ``center2d`` (u, v, depth),
  ``category_id`` / ``category_name``, ``attribute_name`` (null for none),
  ``visibility`` (1-4).
- the older mmdet3d ``*_mono3d.coco.json`` (``cam_intrinsic``, ``cam2ego_rotation`` /
  ``_translation`` and ``ego2global_rotation`` / ``_translation`` as (w, x, y, z)
  quaternions + vectors). Its ``bbox_cam3d`` comes in two conventions: mmdet3d v0.x
  wrote ``(x, y, z, w, l, h, yaw_pitch_roll[0])`` (the devkit's raw ``wlh`` and the
  un-negated yaw; the shared fixture file is of this kind), mmdet3d 1.0 wrote the
  convention above. ``bbox_cam3d_layout='auto'`` tells them apart from the geometry
  (which reading makes the projected corners fit the 2D boxes best).

``metainfo`` holds ``classes`` (default the 10 nuScenes detection classes, in the order
of :data:`NUSCENES_CLASSES`), ``attributes`` (:data:`NUSCENES_ATTRIBUTES`), ``palette``,
``cameras`` (the camera filter, None for all), ``ann_file`` (absolute path) and
``bbox_cam3d_layout`` (the one used).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
from mmengine.fileio import join_path

from centerx.data import DetBaseDataset
from centerx.data.base_dataset import resolve_on_invalid
from centerx.data.coco_format import DEGENERATE, check_image_record, float32_box, is_int, is_record_id, read_coco_json
from centerx.registry import DATASETS
from centerx.utils import log

from .camera_meta import CameraMeta
# NUSCENES_CLASSES: the 10 nuScenes detection classes, ``labels`` index into it;
# NUSCENES_ATTRIBUTES: the 8 attributes in mmdet3d's order; NUSCENES_CAMERAS: the six cameras
from .mono3d_geometry import (TIMESTAMP_IN_NAME, camera_of, corners_enclosing_boxes, finite_numbers, pose_matrix,
                              to_contract, xyxy_iou)
from .nuscenes_names import DEFAULT_ATTRIBUTES, NUSCENES_ATTRIBUTES, NUSCENES_CAMERAS, NUSCENES_CLASSES

#: The attribute a class gets when an annotation has none (mmdet3d's defaults; None: no
#: attribute): :data:`~centerx_tasks.box3d.nuscenes_names.DEFAULT_ATTRIBUTES` with None for ''.
DEFAULT_ATTRIBUTE: Dict[str, Optional[str]] = {name: attr or None for name, attr in DEFAULT_ATTRIBUTES.items()}
#: ``info.format`` of the json files written by centerx.
CENTERX_FORMAT = 'centerx.nus_mono3d'
LAYOUTS = ('auto', 'centerx', 'mmdet3d_v1', 'mmdet3d_v0')

# ---------------------------------------------------------------------- dataset
@DATASETS.register_module()
class NuScenesMono3DDataset(DetBaseDataset):
    """Monocular 3D boxes of nuScenes-style camera images, from a COCO-style json.

    Args:
        ann_file: the json, relative to ``data_root`` unless absolute.
        metainfo: optional ``dict(classes=(...))``, a subset of :data:`NUSCENES_CLASSES`
            in any order (objects of other classes are dropped and counted in
            ``self.num_dropped_objects``); optionally ``palette``.
        data_root: root joined to ``ann_file`` and to ``data_prefix`` values.
        data_prefix: ``dict(img=folder)``; ``img_path = join(folder, image file_name)``
            (nuScenes file names start with ``samples/``, so ``folder`` is the dataroot).
        cameras: camera names to keep (e.g. ``['CAM_FRONT']``); None keeps all.
        bbox_cam3d_layout: how to read ``bbox_cam3d``: ``'auto'`` (``'centerx'`` for files
            written by centerx, otherwise decided from the geometry), ``'centerx'`` /
            ``'mmdet3d_v1'`` (the convention of the module docstring) or ``'mmdet3d_v0'``
            (``x, y, z, w, l, h, -yaw``).
        ignore_without_points: mark objects whose annotation says
            ``num_lidar_pts + num_radar_pts == 0`` as ``ignore`` (the nuScenes detection
            benchmark does not evaluate them); files without these counts are unaffected.
        filter_cfg: ``dict(filter_empty_gt=bool, min_size=int)`` (not in ``test_mode``).
        on_invalid: degenerate 2D boxes (w <= 0 or h <= 0, or no positive size as float32)
            or 3D boxes (a size <= 0, or beyond float32): ``'raise'`` raises, ``'skip'`` drops
            them (counted in ``self.num_skipped_boxes``). Values of a wrong type, non-finite
            numbers elsewhere and an empty file are always a ValueError naming the file.
        invalid_box: deprecated name of ``on_invalid`` (``'error'`` = ``'raise'``).
        generate_if_missing: when ``ann_file`` does not exist, call
            :func:`centerx_tasks.box3d.synthetic.ensure_synthetic_box3d` with these keyword
            arguments first (``root`` defaults to ``data_root``).
        **kwargs: the other options of :class:`mmengine.dataset.BaseDataset` (``indices``,
            ``serialize_data``, ``pipeline``, ``test_mode``, ``lazy_init``, ``max_refetch``).

    Images without objects are kept with empty arrays. Samples given to the pipeline
    also carry ``'metainfo'`` (a copy of the dataset's metainfo). Raises ``ValueError`` naming the
    file and the record on malformed input; image files are not opened here.
    """

    def __init__(self,
                 ann_file: str = '',
                 metainfo: Optional[Mapping] = None,
                 data_root: str = '',
                 data_prefix: Optional[Dict[str, str]] = None,
                 cameras: Optional[Sequence[str]] = None,
                 bbox_cam3d_layout: str = 'auto',
                 ignore_without_points: bool = False,
                 filter_cfg: Optional[Dict[str, Any]] = None,
                 on_invalid: str = 'raise',
                 generate_if_missing: Optional[Dict[str, Any]] = None,
                 invalid_box: Optional[str] = None,
                 **kwargs: Any) -> None:
        if bbox_cam3d_layout not in LAYOUTS:
            raise ValueError(f'bbox_cam3d_layout must be one of {LAYOUTS}, got {bbox_cam3d_layout!r}')
        self.on_invalid = resolve_on_invalid(type(self).__name__, on_invalid, invalid_box=invalid_box)
        if isinstance(cameras, str):
            cameras = NUSCENES_CAMERAS if cameras == 'all' else [cameras]
        self.cameras = None if cameras is None else tuple(str(c) for c in cameras)
        self.bbox_cam3d_layout = bbox_cam3d_layout
        self.ignore_without_points = bool(ignore_without_points)
        self.generate_if_missing = None if generate_if_missing is None else dict(generate_if_missing)
        self.num_skipped_boxes = 0
        self.num_dropped_objects = 0
        super().__init__(ann_file=ann_file, metainfo=metainfo, data_root=data_root,
                         data_prefix=self._img_data_prefix(data_prefix),
                         filter_cfg=filter_cfg, **kwargs)

    # ------------------------------------------------------------------ reading
    def _read_json(self) -> dict:
        ann_file = self.ann_file
        if not os.path.isfile(ann_file) and self.generate_if_missing is not None:
            from .synthetic import ensure_synthetic_box3d
            self._generate(ensure_synthetic_box3d)
        if not os.path.isfile(ann_file):
            raise FileNotFoundError(
                f'mono-3D annotation file {ann_file} does not exist; write it from a nuScenes '
                'dataroot with `python tools/nuscenes_convert.py --dataroot data/nuscenes '
                '--version v1.0-trainval --out data/nuscenes/annotations`')
        return read_coco_json(ann_file)

    def _category_names(self, data: dict) -> Dict[Any, str]:
        names = {}
        for cat in data['categories']:
            if not isinstance(cat, dict) or not is_record_id(cat.get('id')) or not isinstance(cat.get('name'), str):
                raise ValueError(f'{self.ann_file}: category {cat!r} needs an int or string "id" and a string "name"')
            if cat['name'] not in NUSCENES_CLASSES:
                raise ValueError(f'{self.ann_file}: category {cat!r} is not a nuScenes detection class '
                                 f'{NUSCENES_CLASSES}')
            if cat['id'] in names:
                raise ValueError(f'{self.ann_file}: duplicate category id {cat["id"]!r}')
            names[cat['id']] = cat['name']
        return names

    def _classes(self) -> Tuple[str, ...]:
        requested = self._metainfo.get('classes')
        if requested is None:
            return NUSCENES_CLASSES
        classes = tuple(str(c) for c in requested)
        unknown = [c for c in classes if c not in NUSCENES_CLASSES]
        if unknown or not classes or len(set(classes)) != len(classes):
            raise ValueError(f'metainfo classes must be distinct nuScenes detection classes '
                             f'{NUSCENES_CLASSES}; got {classes}')
        return classes

    def _image_record(self, img: Any) -> dict:
        """Geometry and identity of one image record (both layouts)."""
        f = self.ann_file
        check_image_record(img, f)
        iid = img['id']
        for key, required in (('file_name', True), ('cam_name', False), ('token', False), ('sample_token', False)):
            value = img.get(key)
            if (required or value is not None) and not (isinstance(value, str) and value):
                raise ValueError(f'{f}: image id {iid!r}: {key} must be a non-empty string, got {value!r}')
        if img.get('timestamp') is not None and not (is_int(img['timestamp']) and 0 <= img['timestamp'] < 2 ** 63):
            raise ValueError(f'{f}: image id {iid!r}: timestamp must be an int of microseconds, '
                             f'got {img["timestamp"]!r}')
        try:
            if 'cam2img' in img:
                cam2img = np.asarray(img['cam2img'], np.float64)
            else:
                cam2img = np.asarray(img['cam_intrinsic'], np.float64)
            if 'cam2ego' in img:
                cam2ego = np.asarray(img['cam2ego'], np.float64)
            else:
                cam2ego = pose_matrix(img['cam2ego_rotation'], img['cam2ego_translation'])
            if 'ego2global' in img:
                ego2global = np.asarray(img['ego2global'], np.float64)
            else:
                ego2global = pose_matrix(img['ego2global_rotation'], img['ego2global_translation'])
        except KeyError as e:
            raise ValueError(f'{f}: image id {iid!r} lacks {e} (needs cam2img/cam2ego/ego2global, or '
                             'cam_intrinsic/cam2ego_rotation+translation/ego2global_rotation+'
                             'translation)') from e
        except (TypeError, ValueError) as e:
            raise ValueError(f'{f}: image id {iid!r}: malformed camera geometry: {e}') from e
        shapes = ((cam2img, (3, 3), 'cam2img'), (cam2ego, (4, 4), 'cam2ego'), (ego2global, (4, 4), 'ego2global'))
        for value, shape, name in shapes:
            if value.shape != shape or not np.all(np.isfinite(value)):
                raise ValueError(f'{f}: image id {iid!r}: {name} must be a finite {shape} matrix, '
                                 f'got {value.tolist()!r}')
        file_name = str(img['file_name'])
        cam_name = img.get('cam_name') or camera_of(file_name)
        sample_token = img.get('token', img.get('sample_token'))
        if sample_token is None:
            sample_token = str(iid)
        timestamp = img.get('timestamp')
        if timestamp is None:
            match = TIMESTAMP_IN_NAME.search(file_name)
            timestamp = int(match.group(1)) if match else None
        return dict(file_name=file_name, cam_name=cam_name, sample_token=str(sample_token),
                    height=int(img['height']), width=int(img['width']), cam2img=cam2img,
                    cam2ego=cam2ego, ego2global=ego2global,
                    timestamp=None if timestamp is None else int(timestamp))

    def _layout(self, data: dict, images: Dict[Any, dict], parsed: List[Tuple[dict, np.ndarray]]) -> str:
        """Which ``bbox_cam3d`` convention the file uses."""
        info = data.get('info')
        if isinstance(info, dict) and info.get('format') == CENTERX_FORMAT:
            if self.bbox_cam3d_layout not in ('auto', 'centerx', 'mmdet3d_v1'):
                raise ValueError(f'{self.ann_file} was written by centerx; bbox_cam3d_layout '
                                 f'{self.bbox_cam3d_layout!r} does not apply to it')
            return 'centerx'
        if self.bbox_cam3d_layout != 'auto':
            return self.bbox_cam3d_layout
        scores = {'mmdet3d_v0': [], 'mmdet3d_v1': []}
        for ann, raw in parsed:
            img = images[ann['image_id']]
            box2d = finite_numbers(ann.get('bbox'), 4)
            if box2d is None or box2d[2] <= 0 or box2d[3] <= 0 or raw[2] <= 1.0:
                continue
            for layout in scores:
                fit = corners_enclosing_boxes(to_contract(raw[None], layout), img['cam2img'],
                                              (img['height'], img['width']))[0]
                scores[layout].append(xyxy_iou(fit, np.r_[box2d[:2], box2d[:2] + box2d[2:]]))
        if not scores['mmdet3d_v0']:
            log(f'{self.ann_file}: no annotation to tell the bbox_cam3d layout by; assuming mmdet3d_v0 '
                '(x, y, z, w, l, h, -yaw)', logging.WARNING)
            return 'mmdet3d_v0'
        v0, v1 = (float(np.mean(scores[k])) for k in ('mmdet3d_v0', 'mmdet3d_v1'))
        layout = 'mmdet3d_v0' if v0 > v1 else 'mmdet3d_v1'
        log(f'{self.ann_file}: bbox_cam3d read as {layout} (mean IoU of projected corners with the 2D '
            f'boxes: mmdet3d_v0 {v0:.3f}, mmdet3d_v1 {v1:.3f})', logging.INFO)
        return layout

    def load_data_list(self) -> List[dict]:
        """Parse the json into one dict per image (see the module docstring)."""
        data = self._read_json()
        classes = self._classes()
        cat_names = self._category_names(data)
        images: Dict[Any, dict] = {}
        for img in data['images']:
            record = self._image_record(img)
            if img['id'] in images:
                raise ValueError(f'{self.ann_file}: duplicate image id {img["id"]!r}')
            images[img['id']] = record
        parsed = self._checked_annotations(data, images, cat_names)
        layout = self._layout(data, images, parsed)
        per_image, skipped, dropped = self._instances(parsed, layout, cat_names, classes, images)
        data_list = self._items(images, per_image)
        self.num_skipped_boxes = len(skipped)
        self.num_dropped_objects = dropped
        if skipped:
            log(f'{self.ann_file}: skipped {len(skipped)} annotations with degenerate boxes, ids {skipped[:10]}'
                f'{" ..." if len(skipped) > 10 else ""}', logging.WARNING)
        if dropped:
            log(f'{self.ann_file}: dropped {dropped} objects of classes outside {classes}', logging.INFO)
        self._update_metainfo(classes, layout)
        return data_list

    def _checked_annotations(self, data: dict, images: Dict[Any, dict],
                             cat_names: Dict[Any, str]) -> List[Tuple[dict, np.ndarray]]:
        """``(annotation, raw bbox_cam3d (7,))`` of every annotation, checked (ids, image,
        category, numbers); raises ValueError naming the file and the annotation."""
        f = self.ann_file
        parsed: List[Tuple[dict, np.ndarray]] = []
        ann_ids = set()
        for ann in data['annotations']:
            if not isinstance(ann, dict):
                raise ValueError(f'{f}: annotation record is not an object: {ann!r}')
            aid, iid = ann.get('id'), ann.get('image_id')
            where = f'{f}: annotation id {aid!r} (image id {iid!r})'
            missing = [k for k in ('id', 'image_id', 'bbox', 'bbox_cam3d') if k not in ann]
            if missing:
                raise ValueError(f'{where} lacks {missing}')
            if not is_record_id(aid) or not is_record_id(iid):
                raise ValueError(f'{where}: id and image_id must be ints or strings')
            if aid in ann_ids:
                raise ValueError(f'{where}: duplicate annotation id')
            ann_ids.add(aid)
            if iid not in images:
                raise ValueError(f'{where} refers to an image id that is not among the images')
            if 'category_name' in ann and not isinstance(ann['category_name'], str):
                raise ValueError(f'{where}: category_name must be a string, got {ann["category_name"]!r}')
            if 'category_name' not in ann and not is_record_id(ann.get('category_id')):
                raise ValueError(f'{where}: category_id must be an int or string, got {ann.get("category_id")!r}')
            if 'category_name' not in ann and ann.get('category_id') not in cat_names:
                raise ValueError(f'{where}: category_id {ann.get("category_id")!r} is not among the '
                                 f'categories {sorted(cat_names, key=str)}')
            raw = finite_numbers(ann['bbox_cam3d'], 7)
            if raw is None:
                raise ValueError(f'{where}: bbox_cam3d must be 7 finite numbers, got {ann["bbox_cam3d"]!r}')
            if finite_numbers(ann['bbox'], 4) is None:
                raise ValueError(f'{where}: bbox must be 4 finite numbers [x, y, w, h], got {ann["bbox"]!r}')
            parsed.append((ann, raw))
        return parsed

    def _instances(self, parsed: Sequence[Tuple[dict, np.ndarray]], layout: str, cat_names: Dict[Any, str],
                   classes: Tuple[str, ...], images: Dict[Any, dict]) -> Tuple[Dict[Any, Dict[str, list]], list, int]:
        """Per image id, the instance columns of its annotations (``on_invalid`` applied);
        with the ids of the skipped annotations and the count of objects of other classes."""
        label_of = {name: k for k, name in enumerate(classes)}
        per_image: Dict[Any, Dict[str, list]] = {iid: dict(bboxes=[], boxes3d=[], velocities=[], labels=[],
                                                           attr_labels=[], visibility=[], ignore=[])
                                                 for iid in images}
        skipped, dropped = [], 0
        for ann, raw in parsed:
            where = f'{self.ann_file}: annotation id {ann["id"]!r} (image id {ann["image_id"]!r})'
            name = ann.get('category_name', cat_names.get(ann.get('category_id')))
            if name not in NUSCENES_CLASSES:
                raise ValueError(f'{where}: category {name!r} is not a nuScenes detection class')
            if name not in label_of:
                dropped += 1
                continue
            box2d = float32_box(ann['bbox'])
            with np.errstate(over='ignore', invalid='ignore'):
                box3d = to_contract(raw[None], layout)[0].astype(np.float32)
            if box2d is None or not (np.isfinite(box3d).all() and np.all(box3d[3:6] > 0)):
                if self.on_invalid == 'raise':
                    raise ValueError(f'{where} has a degenerate bbox {ann["bbox"]!r} ({DEGENERATE}) or '
                                     f'3D box {box3d.tolist()} (a size <= 0, or beyond float32); '
                                     'use on_invalid="skip" to drop it')
                skipped.append(ann['id'])
                continue
            row = dict(bboxes=box2d, boxes3d=box3d, labels=label_of[name],
                       **self._annotation_extras(ann, where))
            for key, value in row.items():
                per_image[ann['image_id']][key].append(value)
        return per_image, skipped, dropped

    def _annotation_extras(self, ann: dict, where: str) -> Dict[str, Any]:
        """``velocities`` (2,) (NaN = unknown), ``attr_labels`` (-1 = none), ``visibility``
        (-1 = unknown) and ``ignore`` of one annotation."""
        velo = ann.get('velo_cam3d')
        velocity = np.full(2, np.nan) if velo is None else finite_numbers(velo, 2, allow_nan=True)
        if velocity is not None and (np.abs(velocity) > np.finfo(np.float32).max).any():
            velocity = None
        if velocity is None:
            raise ValueError(f'{where}: velo_cam3d must be 2 numbers (or null), got {velo!r}')
        attr = ann.get('attribute_name')
        if attr is not None and not isinstance(attr, str):
            raise ValueError(f'{where}: attribute_name must be a string (or null), got {attr!r}')
        if attr in (None, '', 'None'):
            attr_label = -1
        elif attr in NUSCENES_ATTRIBUTES:
            attr_label = NUSCENES_ATTRIBUTES.index(attr)
        else:
            raise ValueError(f'{where}: unknown attribute_name {attr!r}; known: {NUSCENES_ATTRIBUTES}')
        given = ann.get('visibility', ann.get('visibility_token', -1))
        vis = -1 if given in (None, '') else given
        if isinstance(vis, str) and vis.isdigit():  # nuScenes writes visibility tokens '1'-'4'
            vis = int(vis)
        if not (is_int(vis) and (vis == -1 or 1 <= vis <= 4)):
            raise ValueError(f'{where}: visibility must be a level 1-4 (or null), got {given!r}')
        if ann.get('iscrowd', 0) not in (0, 1) or isinstance(ann.get('iscrowd', 0), float):
            raise ValueError(f'{where}: iscrowd must be 0 or 1, got {ann["iscrowd"]!r}')
        ignore = bool(ann.get('iscrowd', 0))
        if self.ignore_without_points and 'num_lidar_pts' in ann:
            counts = (ann.get('num_lidar_pts'), ann.get('num_radar_pts', 0))
            if not all(is_int(c) and c >= 0 for c in counts):
                raise ValueError(f'{where}: num_lidar_pts / num_radar_pts must be ints >= 0, got {counts}')
            ignore = ignore or sum(counts) == 0
        return dict(velocities=velocity, attr_labels=attr_label, visibility=vis, ignore=ignore)

    def _items(self, images: Dict[Any, dict], per_image: Dict[Any, Dict[str, list]]) -> List[dict]:
        """One item per image of the selected cameras (ids checked unique, absent cameras logged)."""
        f = self.ann_file
        img_prefix = self.data_prefix.get('img', '')
        data_list, cameras_seen = [], set()
        for iid, img in images.items():
            cameras_seen.add(img['cam_name'])
            if self.cameras is not None and img['cam_name'] not in self.cameras:
                continue
            inst = per_image[iid]
            data_list.append(dict(
                img_path=join_path(img_prefix, img['file_name']) if img_prefix else img['file_name'],
                img_id=f'{img["sample_token"]}/{img["cam_name"]}' if img['cam_name'] else str(iid),
                sample_token=img['sample_token'], cam_name=img['cam_name'],
                height=img['height'], width=img['width'],
                task_metas=(CameraMeta(cam2img=img['cam2img'], cam2ego=img['cam2ego'],
                                       ego2global=img['ego2global'], timestamp=img['timestamp']),),
                instances=dict(
                    bboxes=np.asarray(inst['bboxes'], np.float32).reshape(-1, 4),
                    boxes3d=np.asarray(inst['boxes3d'], np.float32).reshape(-1, 7),
                    velocities=np.asarray(inst['velocities'], np.float32).reshape(-1, 2),
                    labels=np.asarray(inst['labels'], np.int64).reshape(-1),
                    attr_labels=np.asarray(inst['attr_labels'], np.int64).reshape(-1),
                    visibility=np.asarray(inst['visibility'], np.int64).reshape(-1),
                    ignore=np.asarray(inst['ignore'], bool).reshape(-1))))
        ids = [d['img_id'] for d in data_list]
        if len(set(ids)) != len(ids):
            dup = next(i for i in ids if ids.count(i) > 1)
            raise ValueError(f'{f}: two images share sample token and camera ({dup!r})')
        if self.cameras is not None:
            absent = [c for c in self.cameras if c not in cameras_seen]
            if absent:
                log(f'{f}: cameras {absent} do not occur in the file (it has {sorted(map(str, cameras_seen))})',
                    logging.WARNING)
        return data_list

    def _update_metainfo(self, classes: Tuple[str, ...], layout: str) -> None:
        self._metainfo.update(classes=classes, attributes=NUSCENES_ATTRIBUTES, palette=self._palette(classes),
                              cameras=self.cameras, ann_file=os.path.abspath(self.ann_file),
                              bbox_cam3d_layout=layout)
