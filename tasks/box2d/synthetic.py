"""Deterministic generator of a small synthetic COCO-format detection dataset.

Images are flat-coloured filled shapes (one class per shape kind: :data:`SHAPES`) drawn with
OpenCV on textured backgrounds (colour gradient + low-frequency noise + pixel noise + random
lines). By default any shape gets any hue, so a detector has to learn shape, not just "coloured
blob"; with ``class_hues`` each class is filled with hues of its own band, so shape and colour
both tell the class (the CPU demo, ``configs/box2d_synthetic.py``, uses that: a small model from
scratch learns the outlines of these shapes slowly, docs/benchmarks.md).

Layout written under ``root``::

    root/train/000001.png ...           RGB images (written as PNG)
    root/val/000001.png ...
    root/annotations/train.json         COCO instances json (xywh boxes)
    root/annotations/val.json
    root/.complete                      marker, written last (generation parameters)

Conventions (documented contract of the annotations):

- Box = tight box of the pixels of the shape *as drawn*, before any later shape is
  drawn over it: an occluded object keeps its full (amodal) extent. Shapes are drawn
  in annotation-id order (a later id may occlude an earlier one); placement is
  re-drawn when a new shape would leave less than 30% of an earlier one visible.
- Shapes may cross the image border; their box is clipped to the image (the pixels
  outside the image are never drawn), so ``x == 0`` or ``x + w == width`` happens.
- Pixel ``(col, row)`` covers ``[col, col + 1) x [row, row + 1)``: a shape whose
  pixels span columns ``c0..c1`` has ``x = c0, w = c1 - c0 + 1``. Values are ints.
- ``area`` is the number of drawn pixels of the shape (before occlusion), like
  COCO's mask area; ``iscrowd`` is 0; image, annotation and category ids start at 1.
- Each annotation also carries ``color`` (RGB of its flat fill, extra COCO field
  ignored by pycocotools), which lets tests find a shape's pixels in the image.
- Every ``empty_every``-th image (index 1, 1 + empty_every, ...) has no objects.

Generation is bit-for-bit deterministic for a given seed (one numpy Generator per
image, seeded from ``(seed, split, index)``; no global random state), and safe
when several processes call :func:`ensure_synthetic_coco` at once (each builds in
its own temporary directory next to ``root`` and renames it into place).
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

#: the shape kinds the generator can draw
SHAPES: Tuple[str, ...] = ('circle', 'rectangle', 'triangle', 'ellipse', 'star', 'square', 'cross')
#: the classes of a dataset generated without ``classes`` (the first five kinds)
DEFAULT_CLASSES: Tuple[str, ...] = SHAPES[:5]
FORMAT_VERSION = 1
_MIN_PIXELS = 12  # a placement with fewer drawn pixels is re-drawn
_MIN_SIDE = 4  # ... and one whose clipped box is thinner than this
_MIN_VISIBLE_FRACTION = 0.3  # an earlier shape must keep this much visible


def _shape_mask(kind: str, center: Tuple[float, float], radius: float, rng: np.random.Generator,
                hw: Tuple[int, int]) -> np.ndarray:
    """Draw one filled shape.

    Args:
        kind: one of :data:`SHAPES`.
        center: (x, y) in pixels (may lie outside the image).
        radius: half the shape's diameter in pixels.
        rng: generator for the shape's own parameters (angle, aspect ...).
        hw: (height, width) of the image.

    Returns:
        (H, W) uint8 mask, 1 on the drawn pixels (no anti-aliasing: exact pixels).
    """
    mask = np.zeros(hw, np.uint8)
    cx, cy = center
    c = (int(round(cx * (1 << SHIFT))), int(round(cy * (1 << SHIFT))))
    theta = rng.uniform(0.0, 2.0 * math.pi)
    if kind == 'circle':
        cv2.circle(mask, c, int(round(radius * (1 << SHIFT))), 1, -1, cv2.LINE_8, SHIFT)
        return mask
    if kind == 'ellipse':
        axes = (int(round(radius * (1 << SHIFT))),
                int(round(radius * rng.uniform(0.3, 0.65) * (1 << SHIFT))))
        cv2.ellipse(mask, c, axes, math.degrees(theta), 0, 360, 1, -1, cv2.LINE_8, SHIFT)
        return mask
    if kind == 'rectangle':
        corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64)
        local = corners * (0.8 * radius * np.array([1.0, rng.uniform(0.35, 1.0)]))
    elif kind == 'triangle':
        angles = np.arange(3) * (2.0 * math.pi / 3.0) + rng.uniform(-0.35, 0.35, 3)
        radii = radius * rng.uniform(0.8, 1.0, 3)
        local = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    elif kind == 'square':  # equal sides: no aspect ratio to confuse it with an ellipse
        local = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * (0.75 * radius)
    elif kind == 'cross':  # a plus sign: concave, its arms a third of its span wide
        a, b = radius, radius * rng.uniform(0.3, 0.38)
        local = np.array([[b, b], [b, a], [-b, a], [-b, b], [-a, b], [-a, -b], [-b, -b], [-b, -a],
                          [b, -a], [b, -b], [a, -b], [a, b]], np.float64)
    elif kind == 'star':
        angles = np.arange(10) * (math.pi / 5.0)
        radii = np.where(np.arange(10) % 2 == 0, radius, radius * rng.uniform(0.38, 0.5))
        local = np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)
    else:
        raise ValueError(f'unknown synthetic shape {kind!r}; known: {SHAPES}')
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    points = local @ rot.T + np.array([cx, cy])
    cv2.fillPoly(mask, [fixed_point(points)], 1, cv2.LINE_8, SHIFT)
    return mask


#: half-width of a class's hue band when ``class_hues`` is on (hues in [0, 1))
_HUE_BAND = 0.06


def _shape_color(rng: np.random.Generator, class_hue: Optional[float] = None) -> Tuple[int, int, int]:
    """A saturated RGB fill colour: any hue, or one within :data:`_HUE_BAND` of ``class_hue``
    (one draw either way, so the rest of the image's random sequence does not change)."""
    hue = rng.uniform(0, 1) if class_hue is None else (class_hue + rng.uniform(-_HUE_BAND, _HUE_BAND)) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, rng.uniform(0.45, 1.0), rng.uniform(0.45, 1.0))
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def render_image(rng: np.random.Generator, image_size: Tuple[int, int], classes: Sequence[str],
                 num_objects: int, min_diameter: float = 8.0,
                 class_hues: bool = False) -> Tuple[np.ndarray, List[dict]]:
    """Render one synthetic image.

    Args:
        rng: the image's own generator.
        image_size: (H, W).
        classes: shape kinds, index = label.
        num_objects: how many shapes to try to place (fewer if placement fails).
        min_diameter: shape diameters are log-uniform from this to half the image side (px).
        class_hues: give class ``k`` of ``n`` fill hues near ``k / n`` (shape and colour both tell
            the class) instead of any hue (only the shape does).

    Returns:
        image: (H, W, 3) uint8 RGB.
        objects: in drawing order, dicts with ``label`` (int), ``bbox`` (x, y, w, h)
            ints (tight box of the shape's drawn pixels before occlusion, clipped to
            the image), ``area`` (drawn pixel count), ``color`` (RGB ints).
    """
    hw = (int(image_size[0]), int(image_size[1]))
    img = textured_background(rng, hw)
    owner = np.full(hw, -1, np.int16)  # index of the shape visible at each pixel
    full_area: List[int] = []
    objects: List[dict] = []
    lo = math.log(min_diameter)
    hi = math.log(max(0.5 * min(hw), min_diameter + 1.0))
    for _ in range(num_objects):
        for _attempt in range(10):
            label = int(rng.integers(len(classes)))
            diameter = math.exp(rng.uniform(lo, hi))
            margin = 0.15 * diameter
            center = (rng.uniform(-margin, hw[1] + margin), rng.uniform(-margin, hw[0] + margin))
            mask = _shape_mask(classes[label], center, diameter / 2.0, rng, hw).astype(bool)
            area = int(np.count_nonzero(mask))
            if area < _MIN_PIXELS:
                continue
            rows = np.flatnonzero(mask.any(axis=1))
            cols = np.flatnonzero(mask.any(axis=0))
            if min(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 < _MIN_SIDE:
                continue
            if objects:
                kept = owner[~mask]
                visible = np.bincount(kept[kept >= 0], minlength=len(objects))
                if np.any(visible < _MIN_VISIBLE_FRACTION * np.asarray(full_area)):
                    continue
            color = _shape_color(rng, label / len(classes) if class_hues else None)
            img[mask] = color
            owner[mask] = len(objects)
            full_area.append(area)
            objects.append(dict(label=label, area=area, color=list(color),
                                bbox=[int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1),
                                      int(rows[-1] - rows[0] + 1)]))
            break
    return img, objects


def _write_split(out_dir: str, split: str, split_code: int, num_images: int, params: dict) -> None:
    """Write ``out_dir/<split>/*.png`` and ``out_dir/annotations/<split>.json``."""
    img_dir = os.path.join(out_dir, split)
    os.makedirs(img_dir, exist_ok=True)
    classes = params['classes']
    images, annotations = [], []
    for i in image_progress(num_images, split):
        rng = np.random.default_rng(np.random.SeedSequence([params['seed'], split_code, i]))
        empty = params['empty_every'] > 0 and i % params['empty_every'] == 1
        n = 0 if empty else int(rng.integers(1, params['max_objects'] + 1))
        img, objects = render_image(rng, params['image_size'], classes, n, params.get('min_diameter', 8.0),
                                    params.get('class_hues', False))
        file_name = f'{i + 1:06d}.png'
        ok, buf = cv2.imencode('.png', cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f'could not encode synthetic image {split}/{file_name}')
        with open(os.path.join(img_dir, file_name), 'wb') as f:
            f.write(buf.tobytes())
        image_id = i + 1
        images.append(dict(id=image_id, file_name=file_name, height=img.shape[0], width=img.shape[1]))
        for obj in objects:
            annotations.append(dict(id=len(annotations) + 1, image_id=image_id,
                                    category_id=obj['label'] + 1, bbox=obj['bbox'], area=obj['area'],
                                    iscrowd=0, color=obj['color']))
    coco = dict(
        info=dict(description='centerx synthetic shapes', version=FORMAT_VERSION, split=split,
                  seed=params['seed']),
        licenses=[],
        images=images,
        annotations=annotations,
        categories=[dict(id=k + 1, name=name, supercategory='shape') for k, name in enumerate(classes)])
    os.makedirs(os.path.join(out_dir, 'annotations'), exist_ok=True)
    with open(os.path.join(out_dir, 'annotations', f'{split}.json'), 'w') as f:
        json.dump(coco, f)


#: paths of a synthetic dataset under ``root`` (whether or not it exists)
synthetic_paths = coco_layout_paths


def ensure_synthetic_coco(root: str, num_train: int = 160, num_val: int = 40,
                          image_size: Tuple[int, int] = (256, 256), seed: int = 0,
                          classes: Sequence[str] = DEFAULT_CLASSES, max_objects: int = 12,
                          empty_every: int = 20, min_diameter: float = 8.0,
                          class_hues: bool = False) -> Dict[str, str]:
    """Generate the synthetic dataset at ``root`` unless it is already complete.

    Args:
        root: output folder (created with its parents).
        num_train: number of training images.
        num_val: number of validation images.
        image_size: (H, W) of every image.
        seed: global seed; same seed and arguments -> identical files.
        classes: shape kinds to use, a subset of :data:`SHAPES` (index = label,
            category id = index + 1).
        max_objects: objects per non-empty image are drawn from 1..max_objects.
        min_diameter: smallest shape diameter in pixels (diameters are log-uniform up to half
            the image side); 8 gives 61 % COCO-small objects at 256 px, 16 about a third.
        empty_every: images with index ``i % empty_every == 1`` have no objects
            (0 disables).
        class_hues: fill colours in a hue band per class (see :func:`render_image`), so colour is
            a second cue to the class.

    Returns:
        dict with ``root``, ``train_img_dir``, ``val_img_dir``, ``train_ann_file``,
        ``val_ann_file``.
    """
    classes = [str(c) for c in classes]
    unknown = [c for c in classes if c not in SHAPES]
    if unknown or not classes or len(set(classes)) != len(classes):
        raise ValueError(f'classes must be distinct names among {SHAPES}, got {classes}')
    if num_train < 0 or num_val < 0 or max_objects < 1 or min(image_size) < 16:
        raise ValueError('need num_train, num_val >= 0, max_objects >= 1 and image sides >= 16, '
                         f'got {num_train}, {num_val}, {max_objects}, {image_size}')
    if not (math.isfinite(min_diameter) and 4.0 <= min_diameter <= 0.5 * min(image_size)):
        raise ValueError(f'need 4 <= min_diameter <= half the image side, got {min_diameter} for {tuple(image_size)}')
    params = dict(version=FORMAT_VERSION, num_train=int(num_train), num_val=int(num_val),
                  image_size=[int(image_size[0]), int(image_size[1])], seed=int(seed),
                  classes=classes, max_objects=int(max_objects), empty_every=int(empty_every))
    if min_diameter != 8.0:  # the default keeps the markers of existing datasets valid
        params['min_diameter'] = float(min_diameter)
    if class_hues:  # likewise
        params['class_hues'] = True
    root = os.path.abspath(root)

    def write(tmp: str) -> None:
        _write_split(tmp, 'train', 0, params['num_train'], params)
        _write_split(tmp, 'val', 1, params['num_val'], params)

    build_atomically(root, params, write,
                     f'synthetic COCO dataset ({num_train} train, {num_val} val images)')
    return synthetic_paths(root)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m centerx_tasks.box2d.synthetic --root DIR --num-train N --num-val M``."""
    generator_cli(ensure_synthetic_coco, __doc__.split('\n')[0],
                  extra=('classes', 'max_objects', 'min_diameter', 'class_hues'), argv=argv)


if __name__ == '__main__':
    main()
