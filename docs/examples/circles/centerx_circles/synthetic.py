"""Deterministic generator of a small synthetic circle dataset (PNG images + circle json).

Layout written under ``root``::

    root/train/000001.png ...   images (H, W, 3), filled discs on a noisy background
    root/val/000001.png ...
    root/train.json             annotations in the circle json format (see ``dataset.py``)
    root/val.json
    root/.complete              marker, written last: the generation parameters

Conventions:

- A disc ``(cx, cy, r)`` covers the pixels whose centers ``(col + 0.5, row + 0.5)`` lie
  within ``r`` of ``(cx, cy)`` (pixel ``i`` covers ``[i, i + 1)``, as in the core). The
  values in the json are the ones drawn (rounded to 1/100 px before drawing).
- Centers lie inside the image; a disc may cross the border (its pixels outside are
  not drawn, its annotation is the whole disc).
- Two discs are at least ``max(r1, r2)`` apart, so neither center is hidden and each
  disc keeps at least about half of its area visible.
- The class is the fill's hue: ``red``, ``green``, ``blue`` (with jittered hue,
  saturation and value); backgrounds are the core's textured backgrounds
  (:func:`centerx.data.generated.textured_background`: gradient, noise and lines), and a
  pixel noise covers the discs too.
- Every ``empty_every``-th image (index 1, 1 + empty_every, ...) has no discs (0: none).

Generation is bit-for-bit deterministic for a seed (one numpy Generator per image seeded
from ``(seed, split, index)``), atomic and safe when several processes call it at once: the
core's :func:`centerx.data.generated.build_atomically` builds it in a temporary folder next
to ``root`` and renames it into place. The command line is the core's
:func:`~centerx.data.generated.generator_cli`.
"""
from __future__ import annotations

import colorsys
import json
import math
import os
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

from centerx.data.generated import MARKER, build_atomically, generator_cli, image_progress, textured_background  # noqa: F401  (MARKER)

CLASSES: Tuple[str, ...] = ('red', 'green', 'blue')
HUES: Dict[str, float] = {'red': 0.0, 'green': 1.0 / 3.0, 'blue': 2.0 / 3.0}
FORMAT = 'centerx-circles'
FORMAT_VERSION = 1
MIN_RADIUS = 6.0  # px: two discs are then > 4 * sqrt(2) px apart, never in one stride-4 cell


def _color(rng: np.random.Generator, name: str) -> np.ndarray:
    hue = (HUES[name] + rng.uniform(-0.04, 0.04)) % 1.0
    rgb = colorsys.hsv_to_rgb(hue, rng.uniform(0.55, 1.0), rng.uniform(0.5, 1.0))
    return np.array(rgb, np.float32) * 255


def render_image(rng: np.random.Generator, image_size: Tuple[int, int], classes: Sequence[str],
                 num_objects: int) -> Tuple[np.ndarray, List[dict]]:
    """Render one image.

    Args:
        rng: the image's own generator.
        image_size: (H, W).
        classes: class names (index = label), each a key of :data:`HUES`.
        num_objects: discs to try to place (fewer when placement fails 20 times).

    Returns:
        image: (H, W, 3) uint8 RGB.
        objects: ``dict(cx, cy, r, label)`` per disc, in drawing order.
    """
    h, w = int(image_size[0]), int(image_size[1])
    img = textured_background(rng, (h, w)).astype(np.float32)
    px = np.arange(w, dtype=np.float64) + 0.5
    py = np.arange(h, dtype=np.float64) + 0.5
    max_r = max(min(h, w) / 5.0, MIN_RADIUS + 1.0)
    objects: List[dict] = []
    for _ in range(num_objects):
        for _attempt in range(20):
            r = round(math.exp(rng.uniform(math.log(MIN_RADIUS), math.log(max_r))), 2)
            cx, cy = round(rng.uniform(0, w - 0.01), 2), round(rng.uniform(0, h - 0.01), 2)
            if all(math.hypot(cx - o['cx'], cy - o['cy']) >= max(r, o['r']) for o in objects):
                break
        else:
            continue
        label = int(rng.integers(len(classes)))
        mask = (px[None, :] - cx) ** 2 + (py[:, None] - cy) ** 2 <= r * r
        img[mask] = _color(rng, classes[label])
        objects.append(dict(cx=cx, cy=cy, r=r, label=label))
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(rng.uniform(3, 10))
    return np.clip(img, 0, 255).round().astype(np.uint8), objects


def _write_split(out_dir: str, split: str, split_code: int, num_images: int, params: dict) -> None:
    """Write ``out_dir/<split>/*.png`` and ``out_dir/<split>.json``."""
    os.makedirs(os.path.join(out_dir, split), exist_ok=True)
    classes = params['classes']
    images = []
    for i in image_progress(num_images, split):
        rng = np.random.default_rng(np.random.SeedSequence([params['seed'], split_code, i]))
        empty = params['empty_every'] > 0 and i % params['empty_every'] == 1
        n = 0 if empty else int(rng.integers(1, params['max_objects'] + 1))
        img, objects = render_image(rng, params['image_size'], classes, n)
        file_name = f'{i + 1:06d}.png'
        ok, buf = cv2.imencode('.png', cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f'could not encode synthetic image {split}/{file_name}')
        with open(os.path.join(out_dir, split, file_name), 'wb') as f:
            f.write(buf.tobytes())
        images.append(dict(id=i + 1, file_name=file_name, height=img.shape[0], width=img.shape[1],
                           circles=[dict(cx=o['cx'], cy=o['cy'], r=o['r'], **{'class': classes[o['label']]})
                                    for o in objects]))
    with open(os.path.join(out_dir, f'{split}.json'), 'w') as f:
        json.dump(dict(format=FORMAT, version=FORMAT_VERSION, classes=list(classes), images=images), f)


def ensure_synthetic_circles(root: str, num_train: int = 400, num_val: int = 50,
                             image_size: Tuple[int, int] = (128, 128), seed: int = 0,
                             classes: Sequence[str] = CLASSES, max_objects: int = 6,
                             empty_every: int = 10) -> Dict[str, str]:
    """Generate the dataset at ``root`` unless a complete one is there.

    Args:
        root: output folder (created with its parents).
        num_train, num_val: images per split.
        image_size: (H, W), both >= 32.
        seed: same seed and arguments -> identical files.
        classes: distinct names among :data:`CLASSES` (index = label).
        max_objects: discs per non-empty image are drawn from 1..max_objects.
        empty_every: see the module doc.

    Returns:
        ``dict(root, train_ann_file, val_ann_file, train_img_dir, val_img_dir)``.

    Raises:
        ValueError: bad arguments. FileExistsError: ``root`` is a non-empty folder without
        the marker.
    """
    classes = [str(c) for c in classes]
    if not classes or len(set(classes)) != len(classes) or any(c not in HUES for c in classes):
        raise ValueError(f'classes must be distinct names among {CLASSES}, got {classes}')
    if num_train < 0 or num_val < 0 or max_objects < 1 or min(image_size) < 32:
        raise ValueError('need num_train, num_val >= 0, max_objects >= 1 and image sides >= 32, got '
                         f'{num_train}, {num_val}, {max_objects}, {tuple(image_size)}')
    params = dict(format=FORMAT, version=FORMAT_VERSION, num_train=int(num_train), num_val=int(num_val),
                  image_size=[int(image_size[0]), int(image_size[1])], seed=int(seed), classes=classes,
                  max_objects=int(max_objects), empty_every=int(empty_every))
    root = os.path.abspath(root)
    paths = dict(root=root, train_ann_file=os.path.join(root, 'train.json'),
                 val_ann_file=os.path.join(root, 'val.json'),
                 train_img_dir=os.path.join(root, 'train'), val_img_dir=os.path.join(root, 'val'))

    def write(out_dir: str) -> None:
        _write_split(out_dir, 'train', 0, params['num_train'], params)
        _write_split(out_dir, 'val', 1, params['num_val'], params)

    build_atomically(root, params, write, f'synthetic circles ({num_train} train, {num_val} val images)',
                     kind='synthetic circle dataset')
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m centerx_circles.synthetic --root data/circles``."""
    generator_cli(ensure_synthetic_circles, __doc__.split('\n')[0], argv=argv)


if __name__ == '__main__':
    main()
