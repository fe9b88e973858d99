"""nuScenes camera images read from an OpenMMLab "info v1.1" pickle (mmdet3d >= 1.1 layout).

File layout read (other keys are ignored)::

    {'metainfo': {'categories': {name: id, ...}, 'dataset': ..., 'version': ...},
     'data_list': [{'token': str, 'sample_idx': int, 'timestamp': float s,
                    'ego2global': 4x4,
                    'images': {CAM: {'img_path': str, 'cam2img': 3x3, 'cam2ego': 4x4,
                                     'timestamp': float s, ...}},
                    'cam_instances': {CAM: [{'bbox': [x1, y1, x2, y2], 'bbox_3d': [x, y, z, l, h, w, yaw],
                                             'bbox_label': int, 'attr_label': int,
                                             'velocity': [vx, vz], 'bbox_3d_isvalid': bool, ...}]}}]}

One data item per (sample, camera), samples in file order and cameras in ``cameras``
order::

    {'img_path': data_prefix['img'] / images[CAM]['img_path'],
     'img_id': '<sample token>/<CAM>', 'sample_token': str, 'cam_name': CAM, 'sample_idx': int,
     'height': int | None, 'width': int | None, # ``image_size`` (info files do not say)
     'task_metas': (CameraMeta,),             # cam2img (3, 3), cam2ego / ego2global (4, 4),
                                              # timestamp: the image's capture time, microseconds
     'sample_timestamp': int,                  # the keyframe's time, microseconds
     'instances': {'bboxes': (N, 4) float32 xyxy px (clipped to the image by the converter),
                   'boxes3d': (N, 7) float32 camera frame (x, y, z, l, h, w, yaw), gravity center,
                   'velocities': (N, 2) float32 (vx, vz) camera frame m/s, NaN when unknown,
                   'labels': (N,) int64 index into metainfo['classes'],
                   'attr_labels': (N,) int64 index into metainfo['attributes'], -1 = none,
                   'ignore': (N,) bool (True where 'bbox_3d_isvalid' is False)}}

``metainfo['classes']``: the file's ``categories`` ordered by id, or the subset named
by ``metainfo=dict(classes=...)`` (instances of other classes are dropped).
"""
from __future__ import annotations

import math
import os
import pickle
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import numpy as np
from mmengine.fileio import join_path

from centerx.data import DetBaseDataset
from centerx.registry import DATASETS

from .camera_meta import CameraMeta

FLOAT32_MAX = float(np.finfo(np.float32).max)
from .nuscenes_names import INFO_ATTRIBUTE_NONE, NUSCENES_ATTRIBUTES, NUSCENES_CAMERAS
from .nuscenes_results import camera_ego2global


def _seconds_to_us(value: Any, where: str) -> Optional[int]:
    """A timestamp in seconds (below 1e11) or already in microseconds, as int microseconds.

    Raises:
        ValueError: naming ``where``: not a finite number >= 0 (or beyond int64 microseconds).
    """
    if value is None:
        return None
    if not (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and 0 <= value < 2 ** 63):  # False for NaN and inf
        raise ValueError(f'{where}: timestamp must be a finite number >= 0 (seconds or microseconds), '
                         f'got {value!r}')
    value = float(value)
    return int(round(value * 1e6)) if value < 1e11 else int(value)  # seconds, or already microseconds


@DATASETS.register_module()
class NuScenesInfoDataset(DetBaseDataset):
    """Monocular 3D detection on nuScenes camera images from an info v1.1 pickle.

    Args:
        ann_file: the ``.pkl`` info file, relative to ``data_root`` unless absolute.
        cameras: camera names to read (``'all'``: the six of :data:`NUSCENES_CAMERAS`).
        metainfo: optional ``dict(classes=(...))`` selecting classes by name, in that order.
        data_root: joined to ``ann_file`` and ``data_prefix``.
        data_prefix: ``dict(img=folder)``; ``img_path = join(folder, images[CAM]['img_path'])``.
        image_size: optional (width, height) of every image (nuScenes: (1600, 900)); info
            files do not store it. When given, items carry ``height`` / ``width`` and
            ``LoadImage`` checks each image against them.
        filter_cfg: ``dict(filter_empty_gt=True)`` drops camera images without instances
            (not in ``test_mode``); ``min_size`` is ignored (items may carry no image size).
        **kwargs: the other options of :class:`mmengine.dataset.BaseDataset` (``indices``,
            ``serialize_data``, ``pipeline``, ``test_mode``, ``lazy_init``, ``max_refetch``).

    Samples given to the pipeline also carry ``'metainfo'`` (a copy of the dataset's metainfo).

    Raises:
        FileNotFoundError / ValueError naming the file, the record (``data_list[i]``,
        its token), the camera and the instance on malformed input.
    """

    filter_min_size = False
    filter_item_name = 'camera images'

    def __init__(self,
                 ann_file: str = '',
                 cameras: Union[str, Sequence[str]] = 'all',
                 image_size: Optional[Sequence[int]] = None,
                 metainfo: Optional[Mapping] = None,
                 data_root: str = '',
                 data_prefix: Optional[Dict[str, str]] = None,
                 filter_cfg: Optional[Dict[str, Any]] = None,
                 **kwargs: Any) -> None:
        if isinstance(cameras, str):
            cameras = NUSCENES_CAMERAS if cameras == 'all' else (cameras,)
        self.cameras = tuple(cameras)
        if not self.cameras or len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f'cameras must be distinct camera names, got {cameras!r}')
        if image_size is not None and (len(image_size) != 2 or min(int(v) for v in image_size) <= 0):
            raise ValueError(f'image_size must be (width, height), got {image_size!r}')
        self.image_size = None if image_size is None else (int(image_size[0]), int(image_size[1]))
        super().__init__(ann_file=ann_file, metainfo=metainfo, data_root=data_root,
                         data_prefix=self._img_data_prefix(data_prefix),
                         filter_cfg=filter_cfg, **kwargs)

    # ------------------------------------------------------------------ loading
    def _read(self) -> dict:
        f = self.ann_file
        if not os.path.isfile(f):
            raise FileNotFoundError(f'nuScenes info file {f} does not exist')
        try:
            with open(f, 'rb') as fh:
                data = pickle.load(fh)  # info files are pickles: read only files you trust
        except Exception as e:  # noqa: BLE001  (any unpickling failure)
            raise ValueError(f'{f}: not a readable pickle: {type(e).__name__}: {e}') from e
        if not isinstance(data, dict) or not isinstance(data.get('data_list'), list):
            raise ValueError(f'{f}: expected a dict with a "data_list" list (OpenMMLab info v1.1 layout)')
        cats = (data.get('metainfo') or {}).get('categories')
        if not isinstance(cats, dict) or not cats:
            raise ValueError(f'{f}: metainfo["categories"] must be a non-empty dict name -> id')
        ids = list(cats.values())
        if not all(isinstance(v, (int, np.integer)) for v in ids) or len(set(ids)) != len(ids):
            raise ValueError(f'{f}: metainfo["categories"] ids must be distinct ints, got {cats}')
        return data

    def _select_classes(self, categories: Dict[str, int]) -> List[str]:
        all_classes = [name for name, _ in sorted(categories.items(), key=lambda kv: kv[1])]
        requested = self._metainfo.get('classes')
        if requested is None:
            return all_classes
        requested = list(requested)
        unknown = [c for c in requested if c not in categories]
        if unknown or not requested or len(set(requested)) != len(requested):
            raise ValueError(f'{self.ann_file}: metainfo classes {requested} must be distinct categories of '
                             f'the file; unknown: {unknown}, available: {all_classes}')
        return requested

    def load_data_list(self) -> List[dict]:
        data = self._read()
        meta = data.get('metainfo') or {}
        categories = {str(k): int(v) for k, v in meta['categories'].items()}
        classes = self._select_classes(categories)
        label_of = {categories[c]: k for k, c in enumerate(classes)}
        self._metainfo.update(classes=tuple(classes), categories=categories, cameras=self.cameras,
                              attributes=NUSCENES_ATTRIBUTES, dataset=meta.get('dataset'),
                              version=meta.get('version'), ann_file=os.path.abspath(self.ann_file))
        img_prefix = self.data_prefix.get('img', '')
        out = []
        for i, sample in enumerate(data['data_list']):
            where = f'{self.ann_file}: data_list[{i}]'
            if not isinstance(sample, dict):
                raise ValueError(f'{where} is a {type(sample).__name__}, expected a dict')
            token = sample.get('token')
            if not isinstance(token, str) or not token:
                raise ValueError(f'{where} has no "token" (sample token)')
            where = f'{where} (token {token})'
            images = sample.get('images')
            if not isinstance(images, dict):
                raise ValueError(f'{where} has no "images" dict')
            cam_instances = sample.get('cam_instances') or {}
            if not isinstance(cam_instances, dict):
                raise ValueError(f'{where}: "cam_instances" must be a dict camera -> list')
            ego2global = _matrix(sample.get('ego2global'), (4, 4), f'{where}: ego2global')
            lidar_points = sample.get('lidar_points') or {}
            if not isinstance(lidar_points, dict):
                raise ValueError(f'{where}: "lidar_points" must be a dict, got {type(lidar_points).__name__}')
            sample_idx = sample.get('sample_idx', i)
            if not isinstance(sample_idx, (int, np.integer)) or isinstance(sample_idx, bool):
                raise ValueError(f'{where}: sample_idx must be an int, got {sample_idx!r}')
            sample_timestamp = _seconds_to_us(sample.get('timestamp'), where)
            for cam in self.cameras:
                img = images.get(cam)
                if not isinstance(img, dict):
                    raise ValueError(f'{where} has no image of camera {cam!r}; it has {sorted(images)}')
                cw = f'{where} {cam}'
                if not isinstance(img.get('img_path'), str) or not img['img_path']:
                    raise ValueError(f'{cw}: missing "img_path"')
                cam2img = _intrinsics(img.get('cam2img'), f'{cw}: cam2img')
                cam2ego = _matrix(img.get('cam2ego'), (4, 4), f'{cw}: cam2ego')
                cam_ego2global = ego2global
                lidar2ego = lidar_points.get('lidar2ego')
                if img.get('lidar2cam') is not None and lidar2ego is not None:
                    # the camera's own ego pose (info files store the lidar-time one per sample)
                    cam_ego2global = camera_ego2global(
                        ego2global, _matrix(lidar2ego, (4, 4), f'{where}: lidar2ego'),
                        _matrix(img['lidar2cam'], (4, 4), f'{cw}: lidar2cam'), cam2ego)
                insts = cam_instances.get(cam, [])
                if not isinstance(insts, list):
                    raise ValueError(f'{cw}: cam_instances must be a list, got {type(insts).__name__}')
                path = img['img_path']
                out.append(dict(
                    img_path=join_path(img_prefix, path) if img_prefix else path,
                    img_id=f'{token}/{cam}', sample_token=token, cam_name=cam,
                    sample_idx=int(sample_idx),
                    height=self.image_size[1] if self.image_size else None,
                    width=self.image_size[0] if self.image_size else None,
                    task_metas=(CameraMeta(cam2img=cam2img, cam2ego=cam2ego, ego2global=cam_ego2global,
                                           timestamp=_seconds_to_us(img.get('timestamp', sample.get('timestamp')),
                                                                    cw)),),
                    sample_timestamp=sample_timestamp,
                    instances=self._parse_instances(insts, label_of, set(categories.values()), cw)))
        return out

    @staticmethod
    def _parse_instances(insts: List[dict], label_of: Dict[int, int], known_ids: set,
                         where: str) -> Dict[str, np.ndarray]:
        bboxes, boxes3d, vels, labels, attrs, ignore = [], [], [], [], [], []
        for j, inst in enumerate(insts):
            iw = f'{where} instance {j}'
            if not isinstance(inst, dict):
                raise ValueError(f'{iw} is a {type(inst).__name__}, expected a dict')
            missing = [k for k in ('bbox', 'bbox_3d', 'bbox_label') if k not in inst]
            if missing:
                raise ValueError(f'{iw} lacks {missing}')
            label = inst['bbox_label']
            if not isinstance(label, (int, np.integer)) or isinstance(label, bool):
                raise ValueError(f'{iw}: bbox_label must be an int, got {label!r}')
            if int(label) not in known_ids:
                raise ValueError(f'{iw}: bbox_label {label} is not a category id of the file '
                                 f'({sorted(known_ids)})')
            if int(label) not in label_of:
                continue  # a class outside the selected subset
            box = _numbers(inst['bbox'], 4, f'{iw}: bbox')
            box3d = _numbers(inst['bbox_3d'], 7, f'{iw}: bbox_3d')
            if not all(math.isfinite(v) for v in box + box3d):
                raise ValueError(f'{iw}: bbox / bbox_3d must be finite, got {inst["bbox"]!r} / {inst["bbox_3d"]!r}')
            if not min(box3d[3:6]) > 0:
                raise ValueError(f'{iw}: bbox_3d sizes (l, h, w) must be positive, got {box3d[3:6]}')
            if max(abs(v) for v in box + box3d) > FLOAT32_MAX:
                raise ValueError(f'{iw}: bbox / bbox_3d values must be within the float32 range, got '
                                 f'{inst["bbox"]!r} / {inst["bbox_3d"]!r}')
            vel = inst.get('velocity')
            vel = [math.nan, math.nan] if vel is None else _numbers(vel, 2, f'{iw}: velocity', allow_nan=True)
            if any(math.isinf(v) or abs(v) > FLOAT32_MAX for v in vel):
                raise ValueError(f'{iw}: velocity must be 2 finite numbers within float32 (NaN = unknown), '
                                 f'got {inst["velocity"]!r}')
            valid = inst.get('bbox_3d_isvalid', True)
            if not isinstance(valid, (bool, np.bool_)):
                raise ValueError(f'{iw}: bbox_3d_isvalid must be a bool, got {valid!r}')
            attr = inst.get('attr_label', INFO_ATTRIBUTE_NONE)
            if (not isinstance(attr, (int, np.integer)) or isinstance(attr, bool)
                    or not -1 <= int(attr) <= INFO_ATTRIBUTE_NONE):
                raise ValueError(f'{iw}: attr_label must be an int in [-1, {INFO_ATTRIBUTE_NONE}], got {attr!r}')
            bboxes.append(box)
            boxes3d.append(box3d)
            vels.append(vel)
            labels.append(label_of[int(label)])
            attrs.append(-1 if int(attr) == INFO_ATTRIBUTE_NONE else int(attr))
            ignore.append(not bool(valid))
        return dict(bboxes=np.asarray(bboxes, np.float32).reshape(-1, 4),
                    boxes3d=np.asarray(boxes3d, np.float32).reshape(-1, 7),
                    velocities=np.asarray(vels, np.float32).reshape(-1, 2),
                    labels=np.asarray(labels, np.int64).reshape(-1),
                    attr_labels=np.asarray(attrs, np.int64).reshape(-1),
                    ignore=np.asarray(ignore, bool).reshape(-1))


def _numbers(value: Any, n: int, where: str, allow_nan: bool = False) -> List[float]:
    try:
        arr = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as e:
        raise ValueError(f'{where} must be {n} numbers, got {value!r}') from e
    if arr.shape != (n,) or (not allow_nan and np.isnan(arr).any()):
        raise ValueError(f'{where} must be {n} numbers, got {value!r}')
    return [float(v) for v in arr]


def _matrix(value: Any, shape: tuple, where: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f'{where} must be a {shape} matrix, got {value!r}') from e
    if arr.shape != shape or not np.isfinite(arr).all():
        raise ValueError(f'{where} must be a finite {shape[0]}x{shape[1]} matrix, got shape {arr.shape}')
    return arr


def _intrinsics(value: Any, where: str) -> np.ndarray:
    """3x3 intrinsics (a 3x4 / 4x4 projection with a zero translation column is cut to 3x3)."""
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f'{where} must be a 3x3 matrix, got {value!r}') from e
    if arr.ndim != 2 or arr.shape[0] < 3 or arr.shape[1] < 3 or not np.isfinite(arr).all():
        raise ValueError(f'{where} must be a finite 3x3 matrix, got shape {arr.shape}')
    if arr.shape != (3, 3):
        if arr.shape not in ((3, 4), (4, 4)) or np.abs(arr[:3, 3]).max() > 1e-9:
            raise ValueError(f'{where} must be 3x3 (or a 3x4 / 4x4 projection without translation), '
                             f'got shape {arr.shape}')
        arr = arr[:3, :3]
    if abs(np.linalg.det(arr)) < 1e-12:
        raise ValueError(f'{where} is singular: {arr.tolist()}')
    return np.ascontiguousarray(arr)
