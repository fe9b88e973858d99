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

Generation is bit-for-bit deterministic for a given seed (one numpy Generator per
image, seeded from ``(seed, split, index)``) and safe when several processes call
:func:`ensure_synthetic_box3d` at once (built in a temporary folder, renamed into place).
"""
from __future__ import annotations

import colorsys
import hashlib
import json
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from centerx.data.generated import SHIFT, build_atomically, fixed_point, generator_cli

from .mono3d_dataset import CENTERX_FORMAT
from .mono3d_geometry import BOX_FACES, FACE_NORMALS, box3d_corners, project_points, yaw_rotation
from .nuscenes_names import NUSCENES_ATTRIBUTES, NUSCENES_CLASSES

FORMAT_VERSION = 1
CAM_NAME = 'CAM_FRONT'
CAMERA_HEIGHT = 1.5  # metres above the ground
# nuScenes CAM_FRONT at 1600 x 900
_NUS_FX, _NUS_CX, _NUS_CY, _NUS_W, _NUS_H = 1266.417203046554, 816.2670197447984, 491.50706579294757, 1600, 900
# camera axes in the ego frame: x right = -y_ego, y down = -z_ego, z forward = x_ego
CAM2EGO_ROTATION = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
CAM2EGO_TRANSLATION = np.array([1.70, 0.0, CAMERA_HEIGHT])
TIMESTAMP0 = 1_533_000_000_000_000  # microseconds

#: Per class: mean size (l, h, w) in metres, body hue, and attributes
#: ``(name, probability, speed range m/s)``.
CLASS_SPECS: Dict[str, dict] = {
    'car': dict(size=(4.62, 1.73, 1.95), hue=0.60,
                attrs=(('vehicle.moving', 0.5, (2.0, 15.0)), ('vehicle.parked', 0.35, (0.0, 0.0)),
                       ('vehicle.stopped', 0.15, (0.0, 0.0)))),
    'truck': dict(size=(6.93, 2.84, 2.51), hue=0.33,
                  attrs=(('vehicle.moving', 0.4, (2.0, 12.0)), ('vehicle.parked', 0.45, (0.0, 0.0)),
                         ('vehicle.stopped', 0.15, (0.0, 0.0)))),
    'bus': dict(size=(10.9, 3.47, 2.94), hue=0.78,
                attrs=(('vehicle.moving', 0.6, (2.0, 12.0)), ('vehicle.stopped', 0.4, (0.0, 0.0)))),
    'pedestrian': dict(size=(0.73, 1.77, 0.67), hue=0.95,
                       attrs=(('pedestrian.moving', 0.6, (0.5, 2.0)), ('pedestrian.standing', 0.4, (0.0, 0.0)))),
    'bicycle': dict(size=(1.70, 1.29, 0.61), hue=0.50,
                    attrs=(('cycle.with_rider', 0.5, (2.0, 7.0)), ('cycle.without_rider', 0.5, (0.0, 0.0)))),
    'motorcycle': dict(size=(2.11, 1.47, 0.77), hue=0.45,
                       attrs=(('cycle.with_rider', 0.6, (3.0, 12.0)), ('cycle.without_rider', 0.4, (0.0, 0.0)))),
    'traffic_cone': dict(size=(0.41, 1.07, 0.41), hue=0.02, attrs=()),
    'barrier': dict(size=(0.50, 0.99, 2.53), hue=0.70, attrs=()),
}
DEFAULT_CLASSES: Tuple[str, ...] = ('car', 'truck', 'pedestrian', 'bicycle', 'traffic_cone', 'barrier')
FRONT_HUE = 0.14
_FRONT_RGB = np.array(colorsys.hsv_to_rgb(FRONT_HUE, 0.8, 1.0)) * 255.0
_LIGHT = np.array([0.45, 0.8, 0.4]) / np.linalg.norm([0.45, 0.8, 0.4])  # light travels down-right-forward
_MIN_SIDE = 4.0  # clipped 2D box sides, pixels
_MIN_CORNER_DEPTH = 1.0  # metres
_MIN_VISIBLE = 0.3
_FOOTPRINT_GAP = 0.3  # metres between footprint circles


def intrinsics(image_size: Tuple[int, int]) -> np.ndarray:
    """(3, 3) nuScenes CAM_FRONT intrinsics scaled to ``image_size = (H, W)``."""
    h, w = image_size
    f = _NUS_FX * w / _NUS_W
    return np.array([[f, 0.0, _NUS_CX * w / _NUS_W], [0.0, f, _NUS_CY * h / _NUS_H], [0.0, 0.0, 1.0]])


def _background(rng: np.random.Generator, hw: Tuple[int, int], k: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB: sky gradient, far buildings, asphalt with noise and lane markings."""
    h, w = hw
    horizon = float(k[1, 2])
    rows = np.arange(h, dtype=np.float32)[:, None, None]
    sky_top = np.array(colorsys.hsv_to_rgb(rng.uniform(0.55, 0.62), rng.uniform(0.35, 0.6), rng.uniform(0.75, 0.95)),
                       np.float32) * 255
    sky_low = np.float32(0.5) * (sky_top + np.float32(235.0))
    t = np.clip(rows / max(horizon, 1.0), 0, 1)
    sky = sky_top * (1 - t) + sky_low * t
    grey = np.float32(rng.uniform(70, 130))
    ground_far = np.array([grey, grey, grey * 0.97], np.float32)
    ground_near = ground_far * np.float32(rng.uniform(0.7, 0.9))
    tg = np.clip((rows - horizon) / max(h - horizon, 1.0), 0, 1)
    ground = ground_far * (1 - tg) + ground_near * tg
    img = np.where(rows < horizon, sky, ground) * np.ones((1, w, 1), np.float32)
    low = rng.standard_normal((6, 10, 3), dtype=np.float32)
    img += cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC) * np.float32(rng.uniform(4, 10))
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(rng.uniform(2, 6))
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 7))):  # far buildings standing on the horizon
        x0 = int(rng.integers(-w // 8, w))
        bw, bh = int(rng.integers(w // 16, w // 4)), int(rng.integers(2, max(3, int(horizon * 0.35))))
        shade = float(rng.uniform(80, 170))
        cv2.rectangle(img, (x0, int(horizon) - bh), (x0 + bw, int(horizon)),
                      (shade, shade * rng.uniform(0.9, 1.05), shade * rng.uniform(0.9, 1.1)), -1)
    lane = 3.5 * rng.uniform(0.9, 1.1)
    offset = rng.uniform(-lane / 2, lane / 2)
    for j in range(-3, 4):  # lane markings on the ground plane y = CAMERA_HEIGHT
        x = offset + (j + 0.5) * lane
        dashes = np.arange(2.0, 80.0, 6.0) if j != 0 else np.array([2.0])
        length = 3.0 if j != 0 else 78.0
        for z0 in dashes:
            pts = np.array([[x - 0.06, CAMERA_HEIGHT, z0], [x + 0.06, CAMERA_HEIGHT, z0],
                            [x + 0.06, CAMERA_HEIGHT, z0 + length], [x - 0.06, CAMERA_HEIGHT, z0 + length]])
            cv2.fillPoly(img, [fixed_point(project_points(pts, k))], (225, 225, 215), cv2.LINE_AA, SHIFT)
    return img


def _body_rgb(rng: np.random.Generator, label_name: str) -> np.ndarray:
    hue = (CLASS_SPECS[label_name]['hue'] + rng.uniform(-0.04, 0.04)) % 1.0
    sat = rng.uniform(0.1, 0.3) if label_name == 'barrier' else rng.uniform(0.45, 0.9)
    return np.array(colorsys.hsv_to_rgb(hue, sat, rng.uniform(0.5, 0.9))) * 255.0


def _faces(box: np.ndarray, k: np.ndarray) -> List[Tuple[str, np.ndarray, float]]:
    """Camera-facing faces of a box: (name, (4, 2) pixel polygon, shade factor)."""
    corners = box3d_corners(box)[0]
    uv = project_points(corners, k)
    rot = yaw_rotation(box[6])
    faces = []
    for name, idx in BOX_FACES.items():
        normal = rot @ np.asarray(FACE_NORMALS[name])
        center = corners[list(idx)].mean(axis=0)
        if float(normal @ center) < 0.0:  # faces the camera
            shade = 0.45 + 0.55 * max(0.0, float(-normal @ _LIGHT))
            faces.append((name, uv[list(idx)], shade))
    return faces


def _silhouettes(boxes: List[np.ndarray], k: np.ndarray, hw: Tuple[int, int]) -> Tuple[np.ndarray, np.ndarray]:
    """Owner map (index of the visible object per pixel, -1 none) and in-image silhouette areas.

    ``boxes`` must be sorted far to near.
    """
    owner = np.full(hw, -1, np.int16)
    areas = np.zeros(len(boxes), np.int64)
    for i, box in enumerate(boxes):
        uv = project_points(box3d_corners(box)[0], k)
        hull = cv2.convexHull(fixed_point(uv))
        mask = np.zeros(hw, np.uint8)
        cv2.fillConvexPoly(mask, hull, 1, cv2.LINE_8, SHIFT)
        areas[i] = int(mask.sum())
        owner[mask.astype(bool)] = i
    return owner, areas


def _draw_depth(box: np.ndarray) -> float:
    return float(math.hypot(box[0], box[2]))


def _visibility_level(fraction: float) -> int:
    return 1 if fraction < 0.4 else 2 if fraction < 0.6 else 3 if fraction < 0.8 else 4


def render_image(rng: np.random.Generator, image_size: Tuple[int, int], classes: Sequence[str],
                 num_objects: int, depth_range: Tuple[float, float] = (5.0, 60.0)) -> Tuple[np.ndarray, List[dict]]:
    """Render one synthetic image.

    Args:
        rng: the image's own generator.
        image_size: (H, W).
        classes: class names (keys of :data:`CLASS_SPECS`) to draw from.
        num_objects: objects to try to place (fewer when placement fails).
        depth_range: (min, max) depth of object centers, metres.

    Returns:
        image: (H, W, 3) uint8 RGB.
        objects: dicts with ``name``, ``box3d`` (7 floats, camera frame), ``bbox`` (x1, y1,
            x2, y2 clipped), ``velocity`` (vx, vz), ``attribute`` (name or None),
            ``front_color`` (RGB ints), ``visible_fraction``, far to near.
    """
    hw = (int(image_size[0]), int(image_size[1]))
    h, w = hw
    k = intrinsics(hw)
    boxes: List[np.ndarray] = []
    names: List[str] = []
    for _ in range(num_objects):
        for _attempt in range(25):
            name = str(classes[int(rng.integers(len(classes)))])
            size = np.asarray(CLASS_SPECS[name]['size']) * rng.uniform(0.85, 1.15, 3)
            z = rng.uniform(*depth_range)
            u = rng.uniform(0.0, w)
            x = (u - k[0, 2]) * z / k[0, 0]
            box = np.array([x, CAMERA_HEIGHT - size[1] / 2.0, z, *size, rng.uniform(-math.pi, math.pi)])
            corners = box3d_corners(box)[0]
            if corners[:, 2].min() < _MIN_CORNER_DEPTH:
                continue
            uv = project_points(corners, k)
            x1, y1 = np.clip(uv.min(axis=0), 0, [w, h])
            x2, y2 = np.clip(uv.max(axis=0), 0, [w, h])
            if x2 - x1 < _MIN_SIDE or y2 - y1 < _MIN_SIDE:
                continue
            radius = 0.5 * math.hypot(size[0], size[2])
            if any(math.hypot(b[0] - box[0], b[2] - box[2]) < radius + 0.5 * math.hypot(b[3], b[5]) + _FOOTPRINT_GAP
                   for b in boxes):
                continue
            trial = sorted(boxes + [box], key=_draw_depth, reverse=True)
            owner, areas = _silhouettes(trial, k, hw)
            visible = np.bincount(owner[owner >= 0], minlength=len(trial))
            if np.any(visible < _MIN_VISIBLE * np.maximum(areas, 1)):
                continue
            boxes.append(box)
            names.append(name)
            break
    order = sorted(range(len(boxes)), key=lambda i: _draw_depth(boxes[i]), reverse=True)
    boxes = [boxes[i] for i in order]
    names = [names[i] for i in order]

    img = _background(rng, hw, k)
    owner, areas = _silhouettes(boxes, k, hw)
    visible = np.bincount(owner[owner >= 0], minlength=len(boxes))
    objects = []
    for i, (box, name) in enumerate(zip(boxes, names)):
        body = _body_rgb(rng, name)
        front_color = None
        for face, poly, shade in _faces(box, k):
            rgb = np.clip(np.round((_FRONT_RGB if face == 'front' else body) * shade), 0, 255).astype(int)
            if face == 'front':
                front_color = [int(v) for v in rgb]
            cv2.fillPoly(img, [fixed_point(poly)], tuple(int(v) for v in rgb), cv2.LINE_8, SHIFT)
        if front_color is None:  # front not drawn: record the colour it would have
            rot = yaw_rotation(box[6])
            shade = 0.45 + 0.55 * max(0.0, float(-(rot @ np.array(FACE_NORMALS['front'])) @ _LIGHT))
            front_color = [int(v) for v in np.clip(np.round(_FRONT_RGB * shade), 0, 255)]
        attrs = CLASS_SPECS[name]['attrs']
        attribute, speed = None, 0.0
        if attrs:
            probs = np.array([a[1] for a in attrs])
            attribute, _, speeds = attrs[int(rng.choice(len(attrs), p=probs / probs.sum()))]
            speed = float(rng.uniform(*speeds)) if speeds[1] > 0 else 0.0
        velocity = [speed * math.cos(box[6]), -speed * math.sin(box[6])]
        uv = project_points(box3d_corners(box)[0], k)
        x1, y1 = np.clip(uv.min(axis=0), 0, [w, h])
        x2, y2 = np.clip(uv.max(axis=0), 0, [w, h])
        objects.append(dict(name=name, box3d=[float(v) for v in box], bbox=[float(x1), float(y1), float(x2), float(y2)],
                            velocity=velocity, attribute=attribute, front_color=front_color,
                            visible_fraction=float(visible[i] / max(areas[i], 1))))
    return img, objects


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
    for i in range(num_images):
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
                visibility=_visibility_level(obj['visible_fraction']),
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
