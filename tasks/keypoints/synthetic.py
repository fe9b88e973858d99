"""Deterministic generator of a small synthetic COCO person-keypoints dataset.

Images show articulated stick figures with the 17 COCO joints (nose, eyes, ears,
shoulders, elbows, wrists, hips, knees, ankles) in random poses on the textured
backgrounds of :mod:`centerx_tasks.box2d.synthetic`
(:func:`centerx.data.generated.textured_background`). Limbs and joint dots are coloured
by side -- the person's left side red-orange, right side blue, centre line green, joint
dots a paler shade of their side -- with a little per-person jitter, so left and right
are learnable. 75% of the figures face the camera (their left on the image's right);
the others are seen from the back: mirrored, and without nose and eyes.

Layout written under ``root`` (the layout of :func:`centerx.data.coco_format.coco_layout_paths`)::

    root/train/000001.png ...           RGB images (written as PNG)
    root/val/000001.png ...
    root/annotations/train.json         COCO person-keypoints json
    root/annotations/val.json
    root/.complete                      marker, written last (generation parameters)

Conventions (documented contract of the annotations):

- Pixel ``(col, row)`` covers ``[col, col + 1) x [row, row + 1)``; a keypoint at
  ``(x, y)`` lies in pixel ``(floor(x), floor(y))``, where its joint dot is centred.
  Coordinates are rounded to 0.01 px before drawing.
- ``v = 0`` (written as ``0, 0, 0``): the joint lies outside the image, is not drawn
  (nose and eyes of a back view), or was left unlabeled at random (4% of the joints,
  and every joint of 5% of the persons). ``v = 2``: the pixel of the keypoint shows
  its own joint dot in the final image. ``v = 1``: something drawn later covers that
  pixel: another person, an occluder rectangle, or, for tiny figures, a neighbouring
  joint dot of the same figure.
- ``bbox`` = tight box of the figure's drawn pixels before later persons and
  occluders are drawn (amodal), clipped to the image (pixels outside are never
  drawn), ints ``[x, y, w, h]`` with ``x = first column, w = last - first + 1``;
  ``area = w * h``; ``num_keypoints`` = count of ``v > 0``; ``iscrowd = 0``.
- Each annotation also carries ``keypoint_colors`` (K RGB triples, the colour of
  each joint dot; extra field ignored by pycocotools), which lets tests check pixels.
- Figures are about 30-150 px tall (log-uniform; at most 0.9 of the shorter image
  side), 1..``max_persons`` per image, some overlapping (placement is re-drawn when a
  new figure would leave less than 30% of an earlier one visible), some crossing the
  border; half of the images get 1-2 occluder rectangles over a joint. Every
  ``empty_every``-th image (index 1, 1 + empty_every, ...) has no person.

Generation is bit-for-bit deterministic for a given seed (one numpy Generator per
image, seeded from ``(seed, split, index)``), and safe when several processes call
:func:`ensure_synthetic_poses` at once (each builds in its own temporary folder next
to ``root`` and renames it into place), like :func:`centerx_tasks.box2d.synthetic.ensure_synthetic_coco`.
"""
from __future__ import annotations

import colorsys
import json
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from centerx.data.coco_format import coco_layout_paths
from centerx.data.generated import SHIFT, build_atomically, fixed_point, generator_cli, image_progress, textured_background
from centerx_tasks.keypoints.coco_meta import COCO_KEYPOINT_NAMES, COCO_PERSON_CATEGORY, COCO_SKELETON

FORMAT_VERSION = 1
NUM_KEYPOINTS = len(COCO_KEYPOINT_NAMES)
LEFT: Tuple[int, ...] = tuple(k for k, n in enumerate(COCO_KEYPOINT_NAMES) if n.startswith('left_'))
RIGHT: Tuple[int, ...] = tuple(k for k, n in enumerate(COCO_KEYPOINT_NAMES) if n.startswith('right_'))
FACE: Tuple[int, ...] = (0, 1, 2, 3, 4)  # nose, eyes, ears: drawn smaller
HUES: Dict[str, Tuple[float, float]] = dict(left=(0.0, 0.07), right=(0.56, 0.66), center=(0.27, 0.38))
_MIN_PIXELS = 25  # a placement with fewer drawn pixels is re-drawn
_MIN_INSIDE = 3  # ... and one with fewer joints inside the image
_MIN_VISIBLE_FRACTION = 0.3  # an earlier figure must keep this much visible
_P_BACK = 0.25  # seen from the back
_P_UNLABELED_JOINT = 0.04
_P_UNLABELED_PERSON = 0.05
_P_OCCLUDERS = 0.5
_P_NEAR = 0.35  # place a figure next to an earlier one
_OCCLUDER = -2  # owner value of occluder pixels (background: -1)
_CODE_LIMB = dict(center=1, left=2, right=3)
_CODE_JOINT = 8  # joint j of a figure has code 8 + j
_STRIDE = 64  # owner = figure index * _STRIDE + code


def _side(k: int) -> str:
    return 'left' if k in LEFT else 'right' if k in RIGHT else 'center'


def _hsv(h: float, s: float, v: float) -> Tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _colors(rng: np.random.Generator) -> Tuple[Dict[str, Tuple[int, int, int]], List[Tuple[int, int, int]]]:
    """Limb colour per side and joint-dot colour per keypoint of one figure."""
    limb, dot = {}, {}
    for side, (h0, h1) in HUES.items():
        h, s, v = rng.uniform(h0, h1), rng.uniform(0.75, 1.0), rng.uniform(0.7, 0.95)
        limb[side] = _hsv(h, s, v)
        dot[side] = _hsv(h, s * 0.4, 1.0)
    return limb, [dot[_side(k)] for k in range(NUM_KEYPOINTS)]


def _body_pose(rng: np.random.Generator) -> np.ndarray:
    """(17, 2) joints in the body frame: pelvis at 0, y up, +x = the person's left,
    unit = figure height (ankles about -0.47, ears about +0.45)."""
    j = np.zeros((NUM_KEYPOINTS, 2))
    width = rng.uniform(0.55, 1.1)  # a turned torso looks narrower
    torso = 0.30 * rng.uniform(0.9, 1.05)
    j[5], j[6] = (0.105 * width, torso), (-0.105 * width, torso)  # shoulders
    j[11], j[12] = (0.065 * width, 0.0), (-0.065 * width, 0.0)  # hips
    tilt = float(np.clip(rng.normal(0.0, 0.2), -0.6, 0.6))
    up = np.array([math.sin(tilt), math.cos(tilt)])
    lateral = np.array([up[1], -up[0]])  # towards the person's left
    yaw = rng.uniform(-0.4, 0.4) * 0.03  # face turned a little sideways
    nose = np.array([0.0, torso]) + 0.12 * up + yaw * lateral
    j[0] = nose
    j[1], j[2] = (nose + 0.035 * up + s * 0.035 * lateral for s in (1.0, -1.0))  # eyes
    j[3], j[4] = (nose + 0.015 * up + s * 0.07 * lateral - 0.5 * yaw * lateral for s in (1.0, -1.0))
    for s, (sh, el, wr) in ((1.0, (5, 7, 9)), (-1.0, (6, 8, 10))):
        a = rng.uniform(-0.35, 2.9)  # from straight down, outwards positive
        b = a + rng.uniform(-2.3, 2.3)  # elbow bend
        j[el] = j[sh] + 0.16 * rng.uniform(0.65, 1.0) * np.array([s * math.sin(a), -math.cos(a)])
        j[wr] = j[el] + 0.15 * rng.uniform(0.65, 1.0) * np.array([s * math.sin(b), -math.cos(b)])
    for s, (hip, kn, an) in ((1.0, (11, 13, 15)), (-1.0, (12, 14, 16))):
        a = rng.uniform(-0.25, 0.8)
        b = a + rng.uniform(-1.4, 1.0)
        j[kn] = j[hip] + 0.24 * rng.uniform(0.7, 1.0) * np.array([s * math.sin(a), -math.cos(a)])
        j[an] = j[kn] + 0.23 * rng.uniform(0.7, 1.0) * np.array([s * math.sin(b), -math.cos(b)])
    return j


def _edges(back: bool) -> List[Tuple[int, int]]:
    """Skeleton edges drawn for a figure (face edges of a back view replaced by ear-ear)."""
    if not back:
        return list(COCO_SKELETON)
    return [(a, b) for a, b in COCO_SKELETON if a > 2 and b > 2] + [(3, 4)]


def _draw_figure(joints: np.ndarray, drawn: np.ndarray, height: float, back: bool,
                 hw: Tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 part codes of one figure: limbs (1 centre, 2 left, 3 right), then the
    joint dots (8 + j) on top, nose last. ``joints`` are in pixel-edge coordinates."""
    lab = np.zeros(hw, np.uint8)
    pts = fixed_point(joints - 0.5)  # cv2 puts integer coordinates at pixel centres
    thickness = max(1, int(round(height / 28.0)))
    mid_shoulder = fixed_point((joints[5] + joints[6]) / 2.0 - 0.5)
    head = fixed_point((joints[3] + joints[4]) / 2.0 - 0.5) if back else pts[0]
    cv2.line(lab, tuple(int(v) for v in mid_shoulder), tuple(int(v) for v in head),
             _CODE_LIMB['center'], thickness, cv2.LINE_8, SHIFT)
    for a, b in _edges(back):
        side = _side(a) if _side(a) == _side(b) else 'center'
        cv2.line(lab, tuple(int(v) for v in pts[a]), tuple(int(v) for v in pts[b]),
                 _CODE_LIMB[side], thickness, cv2.LINE_8, SHIFT)
    radius = max(1.5, height / 40.0)
    for k in reversed(range(NUM_KEYPOINTS)):
        if not drawn[k]:
            continue
        r = max(1.0, 0.6 * radius) if k in FACE else radius
        cv2.circle(lab, tuple(int(v) for v in pts[k]), int(round(r * (1 << SHIFT))),
                   _CODE_JOINT + k, -1, cv2.LINE_8, SHIFT)
    return lab


#: figure heights (px) of a dataset generated without ``height_range``
DEFAULT_HEIGHT_RANGE: Tuple[float, float] = (30.0, 150.0)


def check_height_range(height_range: Sequence[float]) -> Tuple[float, float]:
    """``(lo, hi)`` as floats; ValueError unless ``8 <= lo <= hi`` (both finite)."""
    lo, hi = (float(v) for v in height_range)
    if not (math.isfinite(lo) and math.isfinite(hi) and 8.0 <= lo <= hi):
        raise ValueError(f'need 8 <= height_range[0] <= height_range[1], got {tuple(height_range)}')
    return lo, hi


def render_image(rng: np.random.Generator, image_size: Tuple[int, int],
                 num_persons: int, height_range: Tuple[float, float] = DEFAULT_HEIGHT_RANGE) -> Tuple[np.ndarray, List[dict]]:
    """Render one synthetic pose image.

    Args:
        rng: the image's own generator.
        image_size: (H, W).
        num_persons: how many figures to try to place (fewer if placement fails).
        height_range: (lo, hi) figure heights in pixels, log-uniform; ``hi`` is capped at 0.9 x
            the shorter image side.

    Returns:
        image: (H, W, 3) uint8 RGB.
        persons: in drawing order, dicts with ``joints`` (17, 2) float true positions
            (also outside the image), ``keypoints`` (17, 3) float annotation
            (x, y, v), ``bbox`` [x, y, w, h] ints, ``area``, ``back`` (bool),
            ``height`` (px) and ``keypoint_colors`` (17 RGB lists).
    """
    hw = (int(image_size[0]), int(image_size[1]))
    h_img, w_img = hw
    img = textured_background(rng, hw)
    owner = np.full(hw, -1, np.int32)
    lo, hi = check_height_range(height_range)
    hi = min(hi, 0.9 * min(hw))
    lo = min(lo, hi)
    persons: List[dict] = []
    full_area: List[int] = []
    for _ in range(num_persons):
        for _attempt in range(10):
            height = math.exp(rng.uniform(math.log(lo), math.log(hi)))
            back = bool(rng.random() < _P_BACK)
            body = _body_pose(rng)
            if back:
                body[:, 0] = -body[:, 0]
            theta = rng.normal(0.0, 0.12) if rng.random() < 0.85 else rng.uniform(-math.pi, math.pi)
            if persons and rng.random() < _P_NEAR:
                ref = persons[int(rng.integers(len(persons)))]
                center = ref['center'] + rng.normal(0.0, 0.3 * height, 2)
            else:
                m = 0.2 * height
                center = np.array([rng.uniform(-m, w_img + m), rng.uniform(-m, h_img + m)])
            rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
            joints = center + (body * np.array([1.0, -1.0])) @ rot.T * height  # y down
            joints = np.round(joints, 2)
            drawn = np.ones(NUM_KEYPOINTS, bool)
            if back:
                drawn[[0, 1, 2]] = False
            labeled = rng.random(NUM_KEYPOINTS) >= _P_UNLABELED_JOINT
            if rng.random() < _P_UNLABELED_PERSON:
                labeled[:] = False
            limb_colors, dot_colors = _colors(rng)
            inside = ((joints[:, 0] >= 0) & (joints[:, 0] < w_img)
                      & (joints[:, 1] >= 0) & (joints[:, 1] < h_img))
            if inside.sum() < _MIN_INSIDE:
                continue
            lab = _draw_figure(joints, drawn, height, back, hw)
            mask = lab > 0
            area = int(np.count_nonzero(mask))
            if area < _MIN_PIXELS:
                continue
            if persons:
                kept = owner[~mask]
                visible = np.bincount(kept[kept >= 0] // _STRIDE, minlength=len(persons))
                if np.any(visible < _MIN_VISIBLE_FRACTION * np.asarray(full_area)):
                    continue
            for side, code in _CODE_LIMB.items():
                img[lab == code] = limb_colors[side]
            for k in range(NUM_KEYPOINTS):
                img[lab == _CODE_JOINT + k] = dot_colors[k]
            owner[mask] = len(persons) * _STRIDE + lab[mask].astype(np.int32)
            rows = np.flatnonzero(mask.any(axis=1))
            cols = np.flatnonzero(mask.any(axis=0))
            bbox = [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]
            full_area.append(area)
            persons.append(dict(joints=joints, center=center, inside=inside, drawn=drawn,
                                labeled=labeled, bbox=bbox, area=bbox[2] * bbox[3], back=back,
                                height=height, keypoint_colors=[list(c) for c in dot_colors]))
            break
    if persons and rng.random() < _P_OCCLUDERS:
        for _ in range(int(rng.integers(1, 3))):
            p = persons[int(rng.integers(len(persons)))]
            k = int(rng.choice(np.flatnonzero(p['inside'])))
            side = p['height'] * rng.uniform(0.12, 0.35, 2)
            c = p['joints'][k] + rng.normal(0.0, 0.25, 2) * side
            x0, y0 = int(math.floor(c[0] - side[0] / 2)), int(math.floor(c[1] - side[1] / 2))
            x1, y1 = x0 + max(3, int(round(side[0]))), y0 + max(3, int(round(side[1])))
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w_img), min(y1, h_img)
            if x1 <= x0 or y1 <= y0:
                continue
            color = np.array(_hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.25), rng.uniform(0.2, 0.9)), np.float32)
            patch = color + rng.standard_normal((y1 - y0, x1 - x0, 3)).astype(np.float32) * 6.0
            img[y0:y1, x0:x1] = np.clip(patch, 0, 255).astype(np.uint8)
            owner[y0:y1, x0:x1] = _OCCLUDER
    for index, p in enumerate(persons):
        kps = np.zeros((NUM_KEYPOINTS, 3))
        for k in range(NUM_KEYPOINTS):
            if not (p['inside'][k] and p['drawn'][k] and p['labeled'][k]):
                continue
            x, y = p['joints'][k]
            shown = owner[int(math.floor(y)), int(math.floor(x))] == index * _STRIDE + _CODE_JOINT + k
            kps[k] = (x, y, 2.0 if shown else 1.0)
        p['keypoints'] = kps
        for key in ('center', 'inside', 'drawn', 'labeled'):
            del p[key]
    return img, persons


def render_sample(split: str, index: int, seed: int = 0, image_size: Tuple[int, int] = (256, 256),
                  max_persons: int = 4, empty_every: int = 10,
                  height_range: Tuple[float, float] = DEFAULT_HEIGHT_RANGE) -> Tuple[np.ndarray, List[dict]]:
    """Image ``index`` (0-based) of ``split`` exactly as :func:`ensure_synthetic_poses` writes it."""
    split_code = {'train': 0, 'val': 1}[split]
    rng = np.random.default_rng(np.random.SeedSequence([seed, split_code, index]))
    empty = empty_every > 0 and index % empty_every == 1
    n = 0 if empty else int(rng.integers(1, max_persons + 1))
    return render_image(rng, image_size, n, height_range)


def _keypoint_list(kps: np.ndarray) -> List[float]:
    """(K, 3) -> COCO flat list; coordinates with 0.01 px, flags as ints."""
    out: List[float] = []
    for x, y, v in kps.tolist():
        out += [round(x, 2), round(y, 2), int(v)] if v > 0 else [0, 0, 0]
    return out


def _write_split(out_dir: str, split: str, num_images: int, params: dict) -> None:
    """Write ``out_dir/<split>/*.png`` and ``out_dir/annotations/<split>.json``."""
    img_dir = os.path.join(out_dir, split)
    os.makedirs(img_dir, exist_ok=True)
    images, annotations = [], []
    for i in image_progress(num_images, split):
        img, persons = render_sample(split, i, params['seed'], tuple(params['image_size']),
                                     params['max_persons'], params['empty_every'],
                                     tuple(params.get('height_range', DEFAULT_HEIGHT_RANGE)))
        file_name = f'{i + 1:06d}.png'
        ok, buf = cv2.imencode('.png', cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f'could not encode synthetic image {split}/{file_name}')
        with open(os.path.join(img_dir, file_name), 'wb') as f:
            f.write(buf.tobytes())
        image_id = i + 1
        images.append(dict(id=image_id, file_name=file_name, height=img.shape[0], width=img.shape[1]))
        for p in persons:
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=1, bbox=p['bbox'],
                area=p['area'], iscrowd=0, keypoints=_keypoint_list(p['keypoints']),
                num_keypoints=int(np.count_nonzero(p['keypoints'][:, 2] > 0)),
                keypoint_colors=p['keypoint_colors']))
    coco = dict(
        info=dict(description='centerx synthetic poses', version=FORMAT_VERSION, split=split,
                  seed=params['seed']),
        licenses=[], images=images, annotations=annotations,
        categories=[dict(COCO_PERSON_CATEGORY)])
    os.makedirs(os.path.join(out_dir, 'annotations'), exist_ok=True)
    with open(os.path.join(out_dir, 'annotations', f'{split}.json'), 'w') as f:
        json.dump(coco, f)


def ensure_synthetic_poses(root: str, num_train: int = 240, num_val: int = 60,
                           image_size: Tuple[int, int] = (256, 256), seed: int = 0,
                           max_persons: int = 4, empty_every: int = 10,
                           height_range: Tuple[float, float] = DEFAULT_HEIGHT_RANGE) -> Dict[str, str]:
    """Generate the synthetic pose dataset at ``root`` unless it is already complete.

    Args:
        root: output folder (created with its parents).
        num_train: number of training images.
        num_val: number of validation images.
        image_size: (H, W) of every image (sides >= 32).
        seed: global seed; same seed and arguments -> identical files.
        max_persons: persons per non-empty image are drawn from 1..max_persons.
        empty_every: images with index ``i % empty_every == 1`` have no person
            (0 disables).
        height_range: (lo, hi) figure heights in pixels, log-uniform (hi capped at 0.9 x the
            shorter image side). OKS tolerances scale with the person: a 30 px figure at stride 4
            needs keypoints to about one output cell, a 100 px one to about three.

    Returns:
        dict with ``root``, ``train_img_dir``, ``val_img_dir``, ``train_ann_file``,
        ``val_ann_file``.
    """
    if num_train < 0 or num_val < 0 or max_persons < 1 or min(image_size) < 32 or empty_every < 0:
        raise ValueError('need num_train, num_val >= 0, max_persons >= 1, empty_every >= 0 and image '
                         f'sides >= 32, got {num_train}, {num_val}, {max_persons}, {empty_every}, '
                         f'{image_size}')
    params = dict(version=FORMAT_VERSION, kind='poses', num_train=int(num_train), num_val=int(num_val),
                  image_size=[int(image_size[0]), int(image_size[1])], seed=int(seed),
                  max_persons=int(max_persons), empty_every=int(empty_every))
    lo, hi = check_height_range(height_range)
    if (lo, hi) != DEFAULT_HEIGHT_RANGE:  # the default keeps the markers of existing datasets valid
        params['height_range'] = [lo, hi]
    root = os.path.abspath(root)

    def write(tmp: str) -> None:
        _write_split(tmp, 'train', params['num_train'], params)
        _write_split(tmp, 'val', params['num_val'], params)

    build_atomically(root, params, write,
                     f'synthetic pose dataset ({num_train} train, {num_val} val images)')
    return coco_layout_paths(root)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m centerx_tasks.keypoints.synthetic --root DIR --num-train N --num-val M``."""
    generator_cli(ensure_synthetic_poses, __doc__.split('\n')[0], extra=('max_persons', 'height_range'),
                  argv=argv)


if __name__ == '__main__':
    main()
