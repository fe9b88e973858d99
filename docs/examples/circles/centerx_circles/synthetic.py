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
  saturation and value); backgrounds are low-saturation gradients with low-frequency and
  pixel noise, and the pixel noise covers the discs too.
- Every ``empty_every``-th image (index 1, 1 + empty_every, ...) has no discs (0: none).

Generation is bit-for-bit deterministic for a seed (one numpy Generator per image seeded
from ``(seed, split, index)``), atomic (built in a temporary folder next to ``root`` and
renamed into place) and safe when several processes call it at once.
"""
from __future__ import annotations

import argparse
import colorsys
import errno
import json
import logging
import math
import os
import shutil
import tempfile
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

CLASSES: Tuple[str, ...] = ('red', 'green', 'blue')
HUES: Dict[str, float] = {'red': 0.0, 'green': 1.0 / 3.0, 'blue': 2.0 / 3.0}
MARKER = '.complete'
FORMAT = 'centerx-circles'
FORMAT_VERSION = 1
MIN_RADIUS = 6.0  # px: two discs are then > 4 * sqrt(2) px apart, never in one stride-4 cell


def _log(msg: str, level: int = logging.INFO) -> None:
    from mmengine.logging import print_log
    print_log(msg, logger='current', level=level)


def _background(rng: np.random.Generator, hw: Tuple[int, int]) -> np.ndarray:
    """(H, W, 3) float32 RGB: a low-saturation gradient plus low-frequency noise."""
    h, w = hw
    grey = rng.uniform(70, 180)
    c0, c1 = (grey + rng.uniform(-25, 25, 3) for _ in range(2))
    angle = rng.uniform(0.0, 2.0 * math.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xs * math.cos(angle) + ys * math.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0.astype(np.float32) * (1 - t[..., None]) + c1.astype(np.float32) * t[..., None]
    low = rng.standard_normal((int(rng.integers(3, 8)),) * 2 + (1,), dtype=np.float32)
    img += cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)[..., None] * np.float32(rng.uniform(8, 25))
    return img


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
    img = _background(rng, (h, w))
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
    for i in range(num_images):
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


def _is_complete(root: str) -> bool:
    return os.path.isfile(os.path.join(root, MARKER))


def _check_params(root: str, params: dict) -> None:
    """Warn when the complete dataset at ``root`` was made with other parameters."""
    try:
        with open(os.path.join(root, MARKER)) as f:
            found = json.load(f)
    except (OSError, ValueError):
        found = None
    if found != params:
        _log(f'synthetic circles at {root} exist and were generated with {found}, not the requested '
             f'{params}; keeping them (delete the folder to regenerate)', logging.WARNING)


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
    if os.path.isdir(root) and os.listdir(root):
        if _is_complete(root):
            _check_params(root, params)
            return paths
        raise FileExistsError(f'{root} exists, is not empty and is not a complete synthetic circle '
                              f'dataset (no {MARKER} marker); remove it or choose another root')
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(root)}.tmp-', dir=parent)
    try:
        _write_split(tmp, 'train', 0, params['num_train'], params)
        _write_split(tmp, 'val', 1, params['num_val'], params)
        with open(os.path.join(tmp, MARKER), 'w') as f:
            json.dump(params, f)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0o700
        try:
            os.replace(tmp, root)  # atomic; replaces an empty root folder
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not _is_complete(root):
                raise
            _check_params(root, params)  # another process finished first
        else:
            _log(f'wrote synthetic circles ({num_train} train, {num_val} val images) to {root}')
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m centerx_circles.synthetic --root data/circles``."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', required=True)
    parser.add_argument('--num-train', type=int, default=400)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument('--image-size', type=int, nargs=2, default=(128, 128), metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    for key, value in ensure_synthetic_circles(args.root, args.num_train, args.num_val,
                                               tuple(args.image_size), args.seed).items():
        print(f'{key}: {value}')


if __name__ == '__main__':
    main()
