"""Shared machinery of the tasks' synthetic dataset generators.

:func:`build_atomically` is how every generator writes its dataset: build it in a
temporary folder next to ``root``, write a marker holding the generation parameters
last, and rename the folder into place, so several processes may generate the same
``root`` at once and a half-written dataset is never mistaken for a complete one.

Also drawing helpers more than one generator uses: cv2 fixed-point coordinates
(:data:`SHIFT`, :func:`fixed_point`) and a textured background of gradient, noise
and random lines (:func:`textured_background`).
"""
from __future__ import annotations

import argparse
import errno
import inspect
import json
import logging
import math
import os
import shutil
import tempfile
from typing import Callable, Dict, Iterator, Optional, Sequence, Tuple

import cv2
import numpy as np

from centerx.utils import log

MARKER = '.complete'
"""Marker file written last into a generated dataset: the generation parameters (json)."""
SHIFT = 4
"""cv2 sub-pixel bits: drawing coordinates are passed multiplied by ``1 << SHIFT`` (16)."""


# ---------------------------------------------------------------- atomic build
def is_complete(root: str) -> bool:
    """Whether ``root`` holds a complete generated dataset (its marker file exists)."""
    return os.path.isfile(os.path.join(root, MARKER))


def _check_params(root: str, params: dict, kind: str) -> None:
    """Warn when the complete dataset at ``root`` was made with other parameters."""
    try:
        with open(os.path.join(root, MARKER)) as f:
            found = json.load(f)
    except (OSError, ValueError):
        found = None
    if found != params:
        log(f'{kind} at {root} already exists and was generated with {found}, not the '
            f'requested {params}; keeping it (delete the folder to regenerate)', logging.WARNING)


def build_atomically(root: str, params: dict, write: Callable[[str], None], what: str,
                     kind: str = 'synthetic dataset') -> None:
    """Run ``write(tmp_dir)``, add the marker, rename ``tmp_dir`` to ``root`` atomically.

    A complete ``root`` (marker present) is kept, with a warning when its parameters
    differ from ``params``; a non-empty incomplete ``root`` raises FileExistsError;
    when another process finishes first, its result is kept. ``tmp_dir`` is created
    next to ``root`` and always removed.

    Args:
        root: the dataset folder (absolute; created with its parents).
        params: the generation parameters (json-serialisable), written to the marker.
        write: writes the whole dataset into the folder it is given.
        what: what was written, for the log line ``wrote <what> to <root>``.
        kind: what the dataset is called in the warning and the error, e.g.
            ``'synthetic DOTA dataset'``.
    """
    if os.path.isdir(root) and os.listdir(root):
        if is_complete(root):
            _check_params(root, params, kind)
            return
        raise FileExistsError(f'{root} exists, is not empty and is not a complete {kind} '
                              f'(no {MARKER} marker); remove it or choose another root')
    parent = os.path.dirname(root)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f'.{os.path.basename(root)}.tmp-', dir=parent)
    try:
        log(f'generating {what} into {root} (first use only)')
        write(tmp)
        with open(os.path.join(tmp, MARKER), 'w') as f:
            json.dump(params, f)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0o700
        try:
            os.replace(tmp, root)  # atomic; replaces an empty root folder
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not is_complete(root):
                raise
            _check_params(root, params, kind)  # another process finished first
        else:
            log(f'wrote {what} to {root}')
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def image_progress(num_images: int, split: str) -> Iterator[int]:
    """``range(num_images)`` with a tqdm progress bar (``<split> images``) on the terminal
    (none when stderr is not a terminal: logs and tests stay clean)."""
    from tqdm import tqdm
    return iter(tqdm(range(num_images), desc=f'{split} images', unit='img', disable=None, leave=False))


# ------------------------------------------------------------------- drawing
def fixed_point(points: np.ndarray) -> np.ndarray:
    """(K, 2) float pixel coordinates -> int32 fixed point for cv2 (``shift=SHIFT``).

    The coordinates are taken as they are: OpenCV puts integer coordinates at pixel
    centres. A generator whose labels use the "pixel ``i`` covers ``[i, i + 1)``"
    convention subtracts 0.5 first.
    """
    return np.round(np.asarray(points) * (1 << SHIFT)).astype(np.int32)


def textured_background(rng: np.random.Generator, hw: Tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 RGB textured background: gradient + noise + random lines."""
    h, w = hw
    grey = rng.uniform(60, 190)
    c0, c1 = (grey + (rng.uniform(40, 210, 3) - grey) * 0.5 for _ in range(2))
    angle = rng.uniform(0.0, 2.0 * math.pi)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    t = xs * math.cos(angle) + ys * math.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = (c0.astype(np.float32)[None, None, :] * (1.0 - t[..., None])
           + c1.astype(np.float32)[None, None, :] * t[..., None])
    grid = int(rng.integers(3, 9))
    low = rng.standard_normal((grid, grid, 3), dtype=np.float32)
    img += cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC) * np.float32(rng.uniform(8, 30))
    img += rng.standard_normal((h, w, 3), dtype=np.float32) * np.float32(rng.uniform(2, 8))
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(2, 11))):
        p0 = (int(rng.integers(-w // 4, w + w // 4)), int(rng.integers(-h // 4, h + h // 4)))
        p1 = (int(rng.integers(-w // 4, w + w // 4)), int(rng.integers(-h // 4, h + h // 4)))
        color = tuple(float(v) for v in rng.uniform(0, 255, 3))
        cv2.line(img, p0, p1, color, int(rng.integers(1, 4)), cv2.LINE_AA)
    return img


def generator_cli(ensure: Callable[..., Dict[str, str]], description: str,
                  extra: Sequence[str] = (), argv: Optional[Sequence[str]] = None) -> Dict[str, str]:
    """The command line of a synthetic-data generator (``python -m centerx_tasks.<task>.synthetic``).

    Options ``--root``, ``--num-train``, ``--num-val``, ``--image-size H W``, ``--seed`` and one
    option per name in ``extra`` (``'max_objects'`` -> ``--max-objects``, typed like its default: a
    bool as ``--flag`` / ``--no-flag``, a tuple as a list of values), with the defaults of
    ``ensure``'s own signature; calls ``ensure`` and prints the paths it returns.
    """
    defaults = {name: p.default for name, p in inspect.signature(ensure).parameters.items()}
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('--root', required=True)
    parser.add_argument('--num-train', type=int, default=defaults['num_train'])
    parser.add_argument('--num-val', type=int, default=defaults['num_val'])
    parser.add_argument('--image-size', type=int, nargs=2, default=tuple(defaults['image_size']), metavar=('H', 'W'))
    parser.add_argument('--seed', type=int, default=defaults['seed'])
    for name in extra:
        flag, default = '--' + name.replace('_', '-'), defaults[name]
        if isinstance(default, bool):  # --class-hues / --no-class-hues
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, (tuple, list)):  # --classes circle square ..., --height-range 30 150
            strings = all(isinstance(v, str) for v in default)  # names: any number; numbers: as many as the default
            parser.add_argument(flag, nargs='+' if strings else len(default), type=type(default[0]),
                                default=tuple(default))
        else:
            parser.add_argument(flag, type=type(default), default=default)
    args = parser.parse_args(argv)
    paths = ensure(args.root, num_train=args.num_train, num_val=args.num_val, image_size=tuple(args.image_size),
                   seed=args.seed, **{name: getattr(args, name) for name in extra})
    for key, value in paths.items():
        print(f'{key}: {value}')
    return paths
