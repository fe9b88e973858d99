"""nuScenes -> COCO-style monocular 3D json (one file per split), through the nuScenes devkit.

``python tools/nuscenes_convert.py --dataroot data/nuscenes --version v1.0-trainval
--out data/nuscenes/annotations`` writes ``nus_mono3d_train.json`` and
``nus_mono3d_val.json`` (``v1.0-mini``: ``nus_mono3d_mini_train.json`` /
``nus_mono3d_mini_val.json``; ``v1.0-test``: ``nus_mono3d_test.json`` without objects),
read by :class:`centerx_tasks.box3d.mono3d_dataset.NuScenesMono3DDataset`.

Splits are the devkit's official scene lists (``create_splits_scenes()``); scenes of the
version that are in none of its splits are not written.

Every keyframe sample and every requested camera gives one image record, with or without
objects. Objects of an image (the rule, applied per camera):

- the devkit's ``get_sample_data(cam, box_vis_level=BoxVisibility.ANY)`` keeps a box
  when *all* its corners are more than 0.1 m in front of the camera and *at least one*
  corner projects strictly inside the image with a depth above 1 m;
- a kept box whose category has no detection class
  (``nuscenes.eval.detection.utils.category_to_detection_name`` gives None: animals,
  debris, strollers, ...) is skipped and counted per category in the summary;
- so is a box whose clipped 2D box is empty (cannot happen with the rule above; counted
  as ``skipped_degenerate`` all the same).

An object seen by two cameras is written once per camera. Fields (``json schema``)::

    info: {format: 'centerx.nus_mono3d', format_version: 1, version, split, dataroot,
           box_convention, classes, attributes, summary}
    images: [{id: <camera sample_data token>, token: <sample token>, file_name
              ('samples/CAM_*/...jpg', relative to the dataroot), cam_name, scene_name,
              cam2img (3x3), cam2ego (4x4), ego2global (4x4, the camera's own ego pose),
              timestamp (int, microseconds), width, height}]
    annotations: [{id (0, 1, ...), image_id, token (sample_annotation token),
                   instance_token, category_id (index into classes), category_name,
                   bbox [x, y, w, h] (box enclosing the 8 projected corners, clipped to
                   the image), area (w * h), iscrowd 0,
                   bbox_cam3d [x, y, z, l, h, w, yaw] (camera frame, gravity center;
                   = [*box.center, box.wlh[1], box.wlh[2], box.wlh[0],
                      -box.orientation.yaw_pitch_roll[0]]),
                   velo_cam3d [vx, vz] (devkit box_velocity, its x and y taken with z = 0,
                   rotated global -> ego -> camera; null when the devkit cannot tell),
                   center2d [u, v, depth] (projection of the 3D center),
                   attribute_name (the annotation's first attribute; the class default
                   of DEFAULT_ATTRIBUTE when it has none; null when that is None),
                   attribute_id (index into attributes, -1 for null),
                   visibility (1-4), num_lidar_pts, num_radar_pts}]
    categories: [{id: k, name: classes[k]}] (the 10 detection classes)
    attributes: [{id: k, name: attributes[k]}]
"""
from __future__ import annotations

import argparse
import json
import os
from collections import Counter
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .mono3d_dataset import CENTERX_FORMAT, DEFAULT_ATTRIBUTE, NUSCENES_ATTRIBUTES, NUSCENES_CAMERAS, NUSCENES_CLASSES
from .mono3d_geometry import pose_matrix

FORMAT_VERSION = 1
BOX_CONVENTION = ('camera frame (x right, y down, z forward); (x, y, z, l, h, w, yaw): gravity center, '
                  'size along heading / vertical / lateral, heading = (cos yaw, 0, -sin yaw)')
#: The splits written for each nuScenes version.
SPLITS_OF_VERSION: Dict[str, tuple] = {'v1.0-trainval': ('train', 'val'), 'v1.0-mini': ('mini_train', 'mini_val'),
                                       'v1.0-test': ('test',)}


def output_file(out_dir: str, split: str) -> str:
    """Path of the json of ``split``."""
    return os.path.join(out_dir, f'nus_mono3d_{split}.json')


def _float_list(array) -> list:
    return np.asarray(array, np.float64).tolist()


def _detection_name(category_name: str) -> Optional[str]:
    from nuscenes.eval.detection.utils import category_to_detection_name
    return category_to_detection_name(category_name)


def convert_box(nusc, box, ann: dict, name: str, cam2img: np.ndarray, global2cam_rot: np.ndarray,
                image_hw: Tuple[int, int]) -> Optional[dict]:
    """The annotation fields (all but ``id`` and ``image_id``) of one devkit camera-frame box, or
    None when its projection covers no pixel of the image.

    Args:
        box: the devkit ``Box`` in the camera frame; ann: its ``sample_annotation``; name: its
            detection class; cam2img: (3, 3); global2cam_rot: (3, 3) global -> camera rotation;
            image_hw: (H, W).
    """
    height, width = image_hw
    corners = box.corners().T  # (8, 3), all > 0.1 m in front (devkit rule)
    uvw = corners @ cam2img.T
    uv = uvw[:, :2] / uvw[:, 2:3]
    x1, y1 = np.clip(uv.min(axis=0), 0.0, [width, height])
    x2, y2 = np.clip(uv.max(axis=0), 0.0, [width, height])
    if not (x2 > x1 and y2 > y1):
        return None
    center = np.asarray(box.center, np.float64)
    w, l, h = (float(v) for v in box.wlh)
    yaw = -float(box.orientation.yaw_pitch_roll[0])
    velo = np.asarray(nusc.box_velocity(box.token), np.float64)[:2]
    if np.all(np.isfinite(velo)):
        cam_velo = global2cam_rot @ np.array([velo[0], velo[1], 0.0])
        velo_cam3d = [float(cam_velo[0]), float(cam_velo[2])]
    else:
        velo_cam3d = None
    c2d = cam2img @ center
    if ann['attribute_tokens']:
        attr = nusc.get('attribute', ann['attribute_tokens'][0])['name']
    else:
        attr = DEFAULT_ATTRIBUTE[name]
    vis_token = ann.get('visibility_token', '')
    return dict(
        token=ann['token'], instance_token=ann['instance_token'], category_id=NUSCENES_CLASSES.index(name),
        category_name=name, bbox=[float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
        area=float((x2 - x1) * (y2 - y1)), iscrowd=0,
        bbox_cam3d=[*center.tolist(), l, h, w, yaw], velo_cam3d=velo_cam3d,
        center2d=[float(c2d[0] / c2d[2]), float(c2d[1] / c2d[2]), float(c2d[2])],
        attribute_name=attr, attribute_id=-1 if attr is None else NUSCENES_ATTRIBUTES.index(attr),
        visibility=int(vis_token) if str(vis_token).isdigit() else -1,
        num_lidar_pts=int(ann.get('num_lidar_pts', 0)), num_radar_pts=int(ann.get('num_radar_pts', 0)))


def convert_sample_camera(nusc, sample: dict, cam: str, stats: dict, ann_start: int) -> tuple:
    """The image record and annotations of one camera of one sample.

    Args:
        nusc: a loaded ``NuScenes``.
        sample: its sample record.
        cam: camera channel, e.g. ``'CAM_FRONT'``.
        stats: summary counters, updated in place (``per_class``, ``skipped_no_class``,
            ``skipped_degenerate``).
        ann_start: id of the first annotation written.

    Returns:
        (image dict, list of annotation dicts)
    """
    from nuscenes.utils.geometry_utils import BoxVisibility

    sd_token = sample['data'][cam]
    sd = nusc.get('sample_data', sd_token)
    cs = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
    pose = nusc.get('ego_pose', sd['ego_pose_token'])
    cam2ego = pose_matrix(cs['rotation'], cs['translation'])
    ego2global = pose_matrix(pose['rotation'], pose['translation'])
    cam2img = np.asarray(cs['camera_intrinsic'], np.float64)
    width, height = int(sd['width']), int(sd['height'])
    scene = nusc.get('scene', sample['scene_token'])
    image = dict(id=sd_token, token=sample['token'], file_name=sd['filename'], cam_name=cam,
                 scene_name=scene['name'], cam2img=_float_list(cam2img), cam2ego=_float_list(cam2ego),
                 ego2global=_float_list(ego2global), timestamp=int(sd['timestamp']),
                 width=width, height=height)

    _, boxes, _ = nusc.get_sample_data(sd_token, box_vis_level=BoxVisibility.ANY)
    global2cam_rot = cam2ego[:3, :3].T @ ego2global[:3, :3].T
    annotations = []
    for box in boxes:
        ann = nusc.get('sample_annotation', box.token)
        name = _detection_name(ann['category_name'])
        if name is None:
            stats['skipped_no_class'][ann['category_name']] += 1
            continue
        record = convert_box(nusc, box, ann, name, cam2img, global2cam_rot, (height, width))
        if record is None:
            stats['skipped_degenerate'] += 1
            continue
        annotations.append(dict(id=ann_start + len(annotations), image_id=sd_token, **record))
        stats['per_class'][name] += 1
    return image, annotations


def convert_split(nusc, split: str, scene_names: Sequence[str], cameras: Sequence[str],
                  progress: bool = True) -> dict:
    """The json dict of one split (see the module docstring)."""
    from tqdm import tqdm

    wanted = set(scene_names)
    scene_tokens = {s['token'] for s in nusc.scene if s['name'] in wanted}
    samples = sorted((s for s in nusc.sample if s['scene_token'] in scene_tokens),
                     key=lambda s: (nusc.get('scene', s['scene_token'])['name'], s['timestamp']))
    stats = dict(per_class=Counter(), skipped_no_class=Counter(), skipped_degenerate=0)
    images: List[dict] = []
    annotations: List[dict] = []
    for sample in tqdm(samples, desc=f'nuScenes {split}', unit='sample', disable=not progress):
        for cam in cameras:
            if cam not in sample['data']:
                raise ValueError(f'sample {sample["token"]} has no {cam} keyframe image')
            image, anns = convert_sample_camera(nusc, sample, cam, stats, len(annotations))
            images.append(image)
            annotations.extend(anns)
    summary = dict(scenes=len(scene_tokens), samples=len(samples), images=len(images),
                   annotations=len(annotations),
                   per_class={c: stats['per_class'][c] for c in NUSCENES_CLASSES},
                   skipped_no_class=dict(sorted(stats['skipped_no_class'].items())),
                   skipped_no_class_total=sum(stats['skipped_no_class'].values()),
                   skipped_degenerate=stats['skipped_degenerate'])
    return dict(
        info=dict(format=CENTERX_FORMAT, format_version=FORMAT_VERSION, version=nusc.version, split=split,
                  dataroot=os.path.abspath(nusc.dataroot), box_convention=BOX_CONVENTION,
                  classes=list(NUSCENES_CLASSES), attributes=list(NUSCENES_ATTRIBUTES), cameras=list(cameras),
                  summary=summary),
        images=images, annotations=annotations,
        categories=[dict(id=k, name=n) for k, n in enumerate(NUSCENES_CLASSES)],
        attributes=[dict(id=k, name=n) for k, n in enumerate(NUSCENES_ATTRIBUTES)])


def convert_nuscenes(dataroot: str, version: str, out_dir: str, cameras: Optional[Sequence[str]] = None,
                     progress: bool = True, nusc=None) -> Dict[str, dict]:
    """Write one json per split of ``version`` into ``out_dir``.

    Args:
        dataroot: the nuScenes folder (holds ``<version>/*.json``, ``samples/``, ``maps/``).
        version: ``'v1.0-trainval'``, ``'v1.0-mini'`` or ``'v1.0-test'``.
        out_dir: output folder (created).
        cameras: camera channels to write; None or ``['all']`` for the six cameras.
        progress: show a tqdm bar per split.
        nusc: an already loaded ``NuScenes`` of that version (loaded here when None).

    Returns:
        ``{split: {'file': path, **summary}}``.
    """
    from nuscenes.utils.splits import create_splits_scenes

    if version not in SPLITS_OF_VERSION:
        raise ValueError(f'version must be one of {sorted(SPLITS_OF_VERSION)}, got {version!r}')
    if cameras is None or list(cameras) == ['all']:
        cameras = NUSCENES_CAMERAS
    unknown = [c for c in cameras if c not in NUSCENES_CAMERAS]
    if unknown or not cameras:
        raise ValueError(f'unknown cameras {unknown}; choose among {NUSCENES_CAMERAS} or "all"')
    table_dir = os.path.join(dataroot, version)
    if not os.path.isdir(table_dir):
        raise FileNotFoundError(f'{table_dir} does not exist: --dataroot must hold the {version}/ table folder '
                                '(download nuScenes from https://www.nuscenes.org/download)')
    if nusc is None:
        from nuscenes.nuscenes import NuScenes
        nusc = NuScenes(version=version, dataroot=dataroot, verbose=False)
    scenes_of = create_splits_scenes()
    os.makedirs(out_dir, exist_ok=True)
    result = {}
    for split in SPLITS_OF_VERSION[version]:
        data = convert_split(nusc, split, scenes_of[split], cameras, progress=progress)
        path = output_file(out_dir, split)
        tmp = f'{path}.tmp-{os.getpid()}'
        with open(tmp, 'w') as f:
            json.dump(data, f, allow_nan=False)
        os.replace(tmp, path)
        result[split] = dict(file=path, **data['info']['summary'])
    return result


def format_summary(result: Dict[str, dict]) -> str:
    """Human-readable lines of :func:`convert_nuscenes`'s result."""
    lines = []
    for split, s in result.items():
        lines.append(f'{split}: {s["scenes"]} scenes, {s["samples"]} samples, {s["images"]} images, '
                     f'{s["annotations"]} objects -> {s["file"]}')
        lines.append('  per class: ' + ', '.join(f'{k} {v}' for k, v in s['per_class'].items()))
        skipped = ', '.join(f'{k} {v}' for k, v in s['skipped_no_class'].items()) or 'none'
        lines.append(f'  skipped (no detection class): {s["skipped_no_class_total"]} ({skipped})')
        if s['skipped_degenerate']:
            lines.append(f'  skipped (empty 2D box): {s["skipped_degenerate"]}')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--dataroot', default='data/nuscenes', help='nuScenes folder')
    parser.add_argument('--version', default='v1.0-trainval', choices=sorted(SPLITS_OF_VERSION))
    parser.add_argument('--out', default=None, help='output folder (default: <dataroot>/annotations)')
    parser.add_argument('--cameras', nargs='+', default=['all'],
                        help=f'camera channels ({" ".join(NUSCENES_CAMERAS)}) or "all"')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    out = args.out or os.path.join(args.dataroot, 'annotations')
    result = convert_nuscenes(args.dataroot, args.version, out, cameras=args.cameras,
                              progress=not args.no_progress)
    print(format_summary(result))
    return result


if __name__ == '__main__':
    main()
