"""Deterministic synthetic nuScenes-style monocular 3D dataset (cuboids on a ground plane).

Layout under ``root`` (read by :class:`~centerx_tasks.box3d.mono3d_dataset.NuScenesMono3DDataset`
with ``data_root=root``; the json is the centerx layout written by
:mod:`centerx_tasks.box3d.nuscenes_convert`)::

    train/000001.png ...      RGB images (lossless, so tests can check exact colours)
    val/000001.png ...
    annotations/nus_mono3d_train.json, annotations/nus_mono3d_val.json
    .complete                 marker: the generation parameters (json)

The scene of each image:

- one level camera (``CAM_FRONT``) 1.5 m above a flat ground: the ground is the plane
  ``y = 1.5`` of the camera frame (ego ``z = 0``). Intrinsics are nuScenes' CAM_FRONT
  scaled to the image (``fx = fy = 1266.417 * W / 1600``, principal point scaled the
  same way); ``cam2ego`` puts the camera 1.70 m ahead of the ego origin, looking along the
  ego x axis; ``ego2global`` is a random planar pose per image (yaw and translation), so
  global-frame conversions are exercised; timestamps advance by 0.5 s per image.
- a background: sky gradient above the horizon, textured asphalt with lane markings
  below, a few far buildings on the horizon.
- 1 .. ``max_objects`` cuboids (none on every ``empty_every``-th image, index
  1, 1 + empty_every, ...) of the requested classes with nuScenes-like sizes (+-15 %),
  standing on the ground, depth (center z) uniform in ``depth_range``, yaw uniform in
  [-pi, pi), projected center inside the image (the 2D box may be clipped), every corner at
  least 1 m in front of the camera, footprints not intersecting, every object keeping at
  least 30 % of its silhouette visible. Faces are flat-filled and lit from one direction;
  the body has a class-dependent hue, the *front* face (the one the heading points out
  of) is always amber (hue ~0.14), so orientation can be learnt. Objects are painted far
  to near (painter's algorithm).
- attributes consistent with the class (vehicles moving / parked / stopped, pedestrians
  moving / standing, cycles with / without rider, none for cones and barriers) and the
  velocity that goes with it: ``speed * heading`` when moving, 0 otherwise.

Annotation extras beyond the converter's fields: ``front_color`` (RGB of the front face
as drawn) and ``visible_fraction`` (visible share of the object's in-image silhouette);
``visibility`` is the nuScenes level of that fraction (1: < 40 %, 2: < 60 %, 3: < 80 %,
4: >= 80 %). ``bbox`` is the enclosing box of the 8 projected corners clipped to the image.

The scene is drawn by :mod:`~centerx_tasks.box3d.synthetic_render`; this module writes the
splits and the json. Generation is bit-for-bit deterministic for a given seed (one numpy Generator per
image, seeded from ``(seed, split, index)``) and safe when several processes call
:func:`ensure_synthetic_box3d` at once (built in a temporary folder, renamed into place).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from typing import Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from centerx.data.generated import build_atomically, generator_cli, image_progress

from .mono3d_dataset import CENTERX_FORMAT
from .nuscenes_names import NUSCENES_ATTRIBUTES, NUSCENES_CLASSES
from .synthetic_render import CAMERA_HEIGHT, CLASS_SPECS, FRONT_HUE, intrinsics, render_image, visibility_level  # noqa: F401

FORMAT_VERSION = 1
CAM_NAME = 'CAM_FRONT'
# camera axes in the ego frame: x right = -y_ego, y down = -z_ego, z forward = x_ego
CAM2EGO_ROTATION = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CAM2EGO_TRANSLATION = np.array([1.70, 0.0, CAMERA_HEIGHT])
TIMESTAMP0 = 1_533_000_000_000_000  # microseconds

DEFAULT_CLASSES: Tuple[str, ...] = ('car', 'truck', 'pedestrian', 'bicycle', 'traffic_cone', 'barrier')
def _planar_pose(yaw: float, translation: Sequence[float]) -> np.ndarray:
    pose = np.eye(4)
    c, s = math.cos(yaw), math.sin(yaw)
    pose[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    pose[:3, 3] = translation
    return pose


def _token(*parts) -> str:
    return hashlib.md5('/'.join(str(p) for p in parts).encode()).hexdigest()


def _write_split(out_dir: str, split: str, split_code: int, num_images: int, params: dict) -> None:
    img_dir = os.path.join(out_dir, split)
    os.makedirs(img_dir, exist_ok=True)
    hw = tuple(params['image_size'])
    k = intrinsics(hw)
    cam2ego = np.eye(4)
    cam2ego[:3, :3], cam2ego[:3, 3] = CAM2EGO_ROTATION, CAM2EGO_TRANSLATION
    images, annotations = [], []
    for i in image_progress(num_images, split):
        rng = np.random.default_rng(np.random.SeedSequence([params['seed'], split_code, i]))
        empty = params['empty_every'] > 0 and i % params['empty_every'] == 1
        n = 0 if empty else int(rng.integers(1, params['max_objects'] + 1))
        img, objects = render_image(rng, hw, params['classes'], n, tuple(params['depth_range']))
        ego2global = _planar_pose(rng.uniform(-math.pi, math.pi), [rng.uniform(0, 2000), rng.uniform(0, 2000), 0.0])
        file_name = f'{split}/{i + 1:06d}.png'
        ok, buf = cv2.imencode('.png', cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f'could not encode synthetic image {file_name}')
        with open(os.path.join(out_dir, file_name), 'wb') as f:
            f.write(buf.tobytes())
        sample_token = _token('sample', params['seed'], split, i)
        image_id = _token('sample_data', params['seed'], split, i, CAM_NAME)
        images.append(dict(id=image_id, token=sample_token, file_name=file_name, cam_name=CAM_NAME,
                           scene_name=f'synthetic-{split}', cam2img=k.tolist(), cam2ego=cam2ego.tolist(),
                           ego2global=ego2global.tolist(),
                           timestamp=TIMESTAMP0 + (split_code * 1_000_000 + i) * 500_000,
                           width=hw[1], height=hw[0]))
        for j, obj in enumerate(objects):
            x1, y1, x2, y2 = obj['bbox']
            center = np.asarray(obj['box3d'][:3])
            c2d = k @ center
            annotations.append(dict(
                id=len(annotations), image_id=image_id, token=_token('ann', params['seed'], split, i, j),
                instance_token=_token('instance', params['seed'], split, i, j),
                category_id=NUSCENES_CLASSES.index(obj['name']), category_name=obj['name'],
                bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1), iscrowd=0,
                bbox_cam3d=obj['box3d'], velo_cam3d=obj['velocity'],
                center2d=[float(c2d[0] / c2d[2]), float(c2d[1] / c2d[2]), float(c2d[2])],
                attribute_name=obj['attribute'],
                attribute_id=-1 if obj['attribute'] is None else NUSCENES_ATTRIBUTES.index(obj['attribute']),
                visibility=visibility_level(obj['visible_fraction']),
                visible_fraction=obj['visible_fraction'], front_color=obj['front_color']))
    data = dict(
        info=dict(format=CENTERX_FORMAT, format_version=FORMAT_VERSION, description='centerx synthetic mono-3D',
                  split=split, seed=params['seed'], classes=list(NUSCENES_CLASSES),
                  attributes=list(NUSCENES_ATTRIBUTES), cameras=[CAM_NAME]),
        images=images, annotations=annotations,
        categories=[dict(id=c, name=n) for c, n in enumerate(NUSCENES_CLASSES)],
        attributes=[dict(id=c, name=n) for c, n in enumerate(NUSCENES_ATTRIBUTES)])
    os.makedirs(os.path.join(out_dir, 'annotations'), exist_ok=True)
    with open(os.path.join(out_dir, 'annotations', f'nus_mono3d_{split}.json'), 'w') as f:
        json.dump(data, f, allow_nan=False)


def synthetic_box3d_paths(root: str) -> Dict[str, str]:
    """Paths of a synthetic mono-3D dataset under ``root`` (whether or not it exists)."""
    return dict(root=root, img_root=root,
                train_img_dir=os.path.join(root, 'train'), val_img_dir=os.path.join(root, 'val'),
                train_ann_file=os.path.join(root, 'annotations', 'nus_mono3d_train.json'),
                val_ann_file=os.path.join(root, 'annotations', 'nus_mono3d_val.json'))


def ensure_synthetic_box3d(root: str, num_train: int = 200, num_val: int = 50,
                           image_size: Tuple[int, int] = (224, 384), seed: int = 0,
                           classes: Sequence[str] = DEFAULT_CLASSES, max_objects: int = 8,
                           empty_every: int = 20,
                           depth_range: Tuple[float, float] = (5.0, 60.0)) -> Dict[str, str]:
    """Generate the synthetic dataset at ``root`` unless it is already complete.

    Args:
        root: output folder (created with its parents).
        num_train: number of training images.
        num_val: number of validation images.
        image_size: (H, W) of every image.
        seed: global seed; same seed and arguments -> identical files.
        classes: classes to draw (keys of :data:`CLASS_SPECS`, all nuScenes detection
            classes); labels still index the 10 classes of ``NUSCENES_CLASSES``.
        max_objects: objects per non-empty image are drawn from 1..max_objects.
        empty_every: images with index ``i % empty_every == 1`` have no objects (0 disables).
        depth_range: (min, max) depth of object centers, metres.

    Returns:
        dict with ``root``, ``img_root`` (= root: file names start with the split folder),
        ``train_img_dir``, ``val_img_dir``, ``train_ann_file``, ``val_ann_file``.
    """
    classes = [str(c) for c in classes]
    unknown = [c for c in classes if c not in CLASS_SPECS]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise ValueError(f'classes must be distinct names among {tuple(CLASS_SPECS)}, got {classes}')
    lo, hi = (float(v) for v in depth_range)
    if num_train < 0 or num_val < 0 or max_objects < 1 or min(image_size) < 32 or not 2.0 <= lo < hi:
        raise ValueError('need num_train, num_val >= 0, max_objects >= 1, image sides >= 32 and '
                         f'2 <= depth_range[0] < depth_range[1], got {num_train}, {num_val}, {max_objects}, '
                         f'{image_size}, {depth_range}')
    params = dict(version=FORMAT_VERSION, num_train=int(num_train), num_val=int(num_val),
                  image_size=[int(image_size[0]), int(image_size[1])], seed=int(seed), classes=classes,
                  max_objects=int(max_objects), empty_every=int(empty_every), depth_range=[lo, hi])
    root = os.path.abspath(root)

    def write(tmp: str) -> None:
        _write_split(tmp, 'train', 0, params['num_train'], params)
        _write_split(tmp, 'val', 1, params['num_val'], params)

    build_atomically(root, params, write, f'synthetic mono-3D dataset ({num_train} train, {num_val} val images)')
    return synthetic_box3d_paths(root)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m centerx_tasks.box3d.synthetic --root DIR --num-train N --num-val M``."""
    generator_cli(ensure_synthetic_box3d, __doc__.split('\n')[0], extra=('max_objects',), argv=argv)


if __name__ == '__main__':
    main()
