"""The scene renderer of the synthetic mono-3D dataset (:mod:`~centerx_tasks.box3d.synthetic`):
one level CAM_FRONT-like camera above a flat ground, cuboids placed without collisions and
painted far to near with flat, lit faces (the module doc of ``synthetic`` gives the rules).
"""
from __future__ import annotations

import colorsys
import math
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from centerx.data.generated import SHIFT, fixed_point

from .mono3d_geometry import BOX_FACES, FACE_NORMALS, box3d_corners, project_points, yaw_rotation

CAMERA_HEIGHT = 1.5  # metres above the ground
# nuScenes CAM_FRONT at 1600 x 900
_NUS_FX, _NUS_CX, _NUS_CY, _NUS_W, _NUS_H = 1266.417203046554, 816.2670197447984, 491.50706579294757, 1600, 900

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


def visibility_level(fraction: float) -> int:
    """The nuScenes visibility level (1-4) of a visible fraction of the silhouette."""
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
    k = intrinsics(hw)
    boxes, names = place_boxes(rng, k, hw, classes, num_objects, depth_range)
    img = _background(rng, hw, k)
    owner, areas = _silhouettes(boxes, k, hw)
    visible = np.bincount(owner[owner >= 0], minlength=len(boxes))
    objects = []
    for i, (box, name) in enumerate(zip(boxes, names)):
        obj = _draw_object(rng, img, box, name, k, hw)
        obj['visible_fraction'] = float(visible[i] / max(areas[i], 1))
        objects.append(obj)
    return img, objects


def place_boxes(rng: np.random.Generator, k: np.ndarray, hw: Tuple[int, int], classes: Sequence[str],
                num_objects: int, depth_range: Tuple[float, float]) -> Tuple[List[np.ndarray], List[str]]:
    """Up to ``num_objects`` (7,) camera-frame boxes and their class names, far to near, by the
    placement rules of the module doc (25 tries per object)."""
    h, w = hw
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
    return boxes, names


def _draw_object(rng: np.random.Generator, img: np.ndarray, box: np.ndarray, name: str, k: np.ndarray,
                 hw: Tuple[int, int]) -> dict:
    """Paint one box's camera-facing faces into ``img`` (in place) and draw its attribute and
    velocity; returns its record (``visible_fraction`` is the caller's)."""
    h, w = hw
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
    return dict(name=name, box3d=[float(v) for v in box], bbox=[float(x1), float(y1), float(x2), float(y2)],
                velocity=velocity, attribute=attribute, front_color=front_color)
