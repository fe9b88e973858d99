"""Deterministic generator of a small synthetic DOTA-format (oriented boxes) dataset.

Aerial-looking scenes: a textured ground (colour gradient, low-frequency noise, pixel
noise, fields, roads, sometimes water) with flat-coloured oriented objects drawn by
``cv2.fillPoly``:

==================  ==============================================  ==============
class               drawn shape                                     aspect (L:W)
==================  ==============================================  ==============
``plane``           fuselage with a pointed nose, swept wings, tail  about 1:1
``ship``            hull with a pointed bow (mostly on water)        1:3 to 1:6
``small-vehicle``   ~10x5 px rectangle, often in parking-lot rows    about 1:2
``large-vehicle``   ~28x8 px rectangle, sometimes side by side        1:2.5 to 1:6
==================  ==============================================  ==============

Headings are uniform in ``[0, 2 pi)``, so label orientations are uniform in ``[0, pi)``.

Label contract (each line of ``labelTxt/<name>.txt``)::

    x1 y1 x2 y2 x3 y3 x4 y4 <class> <difficult>

after the header lines ``imagesource:synthetic`` and ``gsd:null``. The polygon is the
rectangle (in the object's own frame) that bounds the drawn shape, rotated with it:
the first corner is the front-left one and the corners go clockwise on screen; it uses
centerx's pixel convention (pixel column ``i`` covers ``[i, i + 1)``, so the shape is drawn
by OpenCV half a pixel up-left of the label coordinates) and is written with one decimal. Object centres lie inside the
image, but polygons are not clipped: objects near the border are cut by it, as in DOTA.
The label rectangles of one image never overlap (their rasterisations share no pixel;
dense rows touch within a pixel or two), so no object occludes another and the pixel
containing the centre of every label has the object's flat fill colour. Tiny vehicles
(long side < 8 px) have ``difficult`` 1, all other objects 0. Every ``empty_every``-th
image (index ``i % empty_every == 1``) has no objects.

Layout written under ``root``::

    root/train/images/train00001.png ...    RGB images (PNG)
    root/train/labelTxt/train00001.txt ...  DOTA labels
    root/val/images/val00001.png ...
    root/val/labelTxt/val00001.txt ...
    root/.complete                          marker written last (generation parameters)

Generation is bit-for-bit deterministic (one numpy Generator per image seeded from
``(seed, split, index)``) and safe when several processes generate the same root at
once (each builds a temporary sibling folder and renames it into place).
"""
from __future__ import annotations

import colorsys
import math
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from centerx.data.generated import SHIFT, build_atomically, fixed_point, generator_cli, image_progress

SYNTHETIC_CLASSES: Tuple[str, ...] = ('plane', 'ship', 'small-vehicle', 'large-vehicle')
"""Object kinds (all DOTA v1.0 class names); label index = position in ``classes``."""
SPLITS: Tuple[str, ...] = ('train', 'val')
FORMAT_VERSION = 2
DIFFICULT_MAX_LENGTH = 8.0
"""Objects whose long side is shorter than this (pixels) are marked difficult."""
_SPLIT_CODES = {'train': 0, 'val': 1}


@dataclass
class SyntheticObject:
    """One drawn object.

    Attributes:
        label: index into the generation's ``classes``.
        name: class name.
        poly: (8,) float64 label rectangle ``x1 y1 ... x4 y4`` (clockwise, one decimal).
        difficult: 0 or 1.
        color: RGB fill colour of the drawn pixels.
    """

    label: int
    name: str
    poly: np.ndarray
    difficult: int
    color: Tuple[int, int, int]


def _fixed(points: np.ndarray) -> np.ndarray:
    """(K, 2) label coordinates -> int32 fixed point for cv2 (shift=SHIFT).

    Unlike the other generators (which pass cv2 their coordinates as they are), labels
    here use centerx's convention (pixel ``i`` covers ``[i, i + 1)``) while OpenCV draws
    with pixel centres at integers: hence the deliberate half-pixel shift.
    """
    return fixed_point(points - 0.5)


# ---------------------------------------------------------------------- shapes
def _rect(length: float, width: float) -> np.ndarray:
    """(4, 2) local corners, front-left first, clockwise on screen (x forward, y down)."""
    a, b = length / 2.0, width / 2.0
    return np.array([[a, -b], [a, b], [-a, b], [-a, -b]], np.float64)


def _chevron(x_lead: float, root_chord: float, sweep: float, tip_chord: float, span: float) -> np.ndarray:
    """(6, 2) swept wing pair: leading edge root at ``x_lead``, tips at ``y = +-span/2``."""
    s = span / 2.0
    tip_lead = x_lead - sweep
    return np.array([[x_lead, 0.0], [tip_lead, -s], [tip_lead - tip_chord, -s],
                     [x_lead - root_chord, 0.0], [tip_lead - tip_chord, s], [tip_lead, s]])


def _local_shape(kind: str, length: float, width: float) -> Tuple[List[np.ndarray], np.ndarray]:
    """Polygons to fill and the bounding rectangle, in the object frame centred at 0.

    ``width`` is the extent across the heading (the wing span for planes). Every shape
    spans exactly ``[-length/2, length/2] x [-width/2, width/2]``.
    """
    a, b = length / 2.0, width / 2.0
    if kind in ('small-vehicle', 'large-vehicle'):
        parts = [_rect(length, width)]
    elif kind == 'ship':
        bow = min(0.25 * length, 1.2 * width)
        parts = [np.array([[a, 0.0], [a - bow, b], [-a, b], [-a, -b], [a - bow, -b]])]
    elif kind == 'plane':
        f = max(0.12 * length, 2.6) / 2.0  # fuselage half-width
        nose = 0.08 * length
        fuselage = np.array([[a, 0.0], [a - nose, f], [-a, f], [-a, -f], [a - nose, -f]])
        wings = _chevron(0.12 * length, 0.2 * length, 0.15 * length, 0.07 * length, width)
        tail = _chevron(-a + 0.16 * length, 0.12 * length, 0.06 * length, 0.06 * length, 0.35 * width)
        parts = [fuselage, wings, tail]
    else:
        raise ValueError(f'unknown synthetic object kind {kind!r}; known: {SYNTHETIC_CLASSES}')
    return parts, _rect(length, width)


def _rotation(heading: float) -> np.ndarray:
    c, s = math.cos(heading), math.sin(heading)
    return np.array([[c, -s], [s, c]])


def _region(poly: np.ndarray, hw: Tuple[int, int]) -> Optional[Tuple[slice, slice, np.ndarray]]:
    """Rasterise a polygon on the image-clipped crop of its bounding box.

    Args:
        poly: (K, 2) image coordinates.
        hw: image (height, width).

    Returns:
        ``(rows, cols, mask)`` with ``mask`` (h, w) bool for ``image[rows, cols]``, or
        None when the polygon misses the image.
    """
    x0 = max(int(math.floor(poly[:, 0].min())) - 1, 0)
    y0 = max(int(math.floor(poly[:, 1].min())) - 1, 0)
    x1 = min(int(math.ceil(poly[:, 0].max())) + 2, hw[1])
    y1 = min(int(math.ceil(poly[:, 1].max())) + 2, hw[0])
    if x1 <= x0 or y1 <= y0:
        return None
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(mask, [_fixed(poly - np.array([x0, y0]))], 1, cv2.LINE_8, SHIFT)
    return slice(y0, y1), slice(x0, x1), mask.astype(bool)


# ------------------------------------------------------------------ the scene
def _hsv(h: float, s: float, v: float) -> Tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return int(round(r * 255)), int(round(g * 255)), int(round(b * 255))


def _color(kind: str, rng: np.random.Generator) -> Tuple[int, int, int]:
    """Class-typical RGB fill colour."""
    if kind == 'plane':  # white to light grey, slightly tinted
        return _hsv(rng.uniform(0.5, 0.7), rng.uniform(0.0, 0.12), rng.uniform(0.72, 1.0))
    if kind == 'ship':  # white, grey, dark red or navy hulls
        hue = (0.0, 0.0, 0.99, 0.62)[int(rng.integers(4))]
        return _hsv(hue, rng.uniform(0.0, 0.7) if hue else rng.uniform(0, 0.1), rng.uniform(0.35, 0.98))
    if kind == 'large-vehicle':  # white, orange, yellow, blue trucks and buses
        hue = (0.0, 0.08, 0.14, 0.6)[int(rng.integers(4))]
        return _hsv(hue, rng.uniform(0.0, 0.15) if hue == 0.0 else rng.uniform(0.5, 0.95),
                    rng.uniform(0.6, 1.0))
    return _hsv(rng.uniform(0, 1), rng.uniform(0.0, 0.9), rng.uniform(0.15, 1.0))  # cars: anything


def _background(rng: np.random.Generator, hw: Tuple[int, int]) -> Tuple[np.ndarray, Optional[np.ndarray]]:
    """Aerial-like ground.

    Returns:
        image: (H, W, 3) uint8 RGB.
        water: (H, W) bool water mask, or None without water.
    """
    h, w = hw
    base = np.array(_hsv(rng.uniform(0.08, 0.3), rng.uniform(0.1, 0.45), rng.uniform(0.35, 0.7)), np.float32)
    xs = np.arange(w, dtype=np.float32)[None, :]
    ys = np.arange(h, dtype=np.float32)[:, None]
    angle = rng.uniform(0.0, 2.0 * math.pi)
    t = (xs * np.float32(math.cos(angle)) + ys * np.float32(math.sin(angle))) / np.float32(max(h, w))
    img = base + t[..., None] * rng.uniform(-30, 30, 3).astype(np.float32)
    grid = int(rng.integers(3, 9))
    low = rng.standard_normal((grid, grid, 3), dtype=np.float32) * np.float32(rng.uniform(6, 22))
    img += cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(0, 4))):  # fields: large rotated patches
        center = rng.uniform(0, 1, 2) * (w, h)
        size = rng.uniform(0.2, 0.6, 2) * min(h, w)
        corners = _rect(size[0], size[1]) @ _rotation(rng.uniform(0, math.pi)).T + center
        region = _region(corners, hw)
        if region is not None:
            rows, cols, mask = region
            img[rows, cols][mask] += rng.uniform(-25, 25, 3).astype(np.float32)
    water = None
    if rng.uniform() < 0.4:  # water beyond a wavy shore line
        normal = rng.uniform(0.0, 2.0 * math.pi)
        c, s = np.float32(math.cos(normal)), np.float32(math.sin(normal))
        along = ys * c - xs * s
        d = xs * c + ys * s + np.float32(rng.uniform(2, 8)) * np.sin(along * np.float32(rng.uniform(0.02, 0.08)))
        water = d > np.float32(rng.uniform(0.3, 0.7) * float(d.max() - d.min()) + float(d.min()))
        tone = np.array(_hsv(rng.uniform(0.5, 0.62), rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.5)), np.float32)
        img[water] = tone + (img[water] - base) * np.float32(0.3)
    grain = rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(rng.uniform(2, 7))  # grey grain
    img += grain
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(0, 3))):  # roads
        p0 = (int(rng.integers(-w // 4, w + w // 4)), int(rng.integers(-h // 4, h + h // 4)))
        p1 = (int(rng.integers(-w // 4, w + w // 4)), int(rng.integers(-h // 4, h + h // 4)))
        grey = float(rng.uniform(50, 120))
        cv2.line(img, p0, p1, (grey, grey, grey), int(rng.integers(4, 12)), cv2.LINE_AA)
    return img, water


class _Scene:
    """Places non-overlapping objects on one image (label rectangles never overlap)."""

    def __init__(self, img: np.ndarray, classes: Sequence[str]) -> None:
        self.img = img
        self.hw = img.shape[:2]
        self.occupied = np.zeros(self.hw, bool)
        self.classes = list(classes)
        self.objects: List[SyntheticObject] = []

    def place(self, kind: str, center: Sequence[float], heading: float, length: float, width: float,
              color: Tuple[int, int, int], difficult_below: float = DIFFICULT_MAX_LENGTH) -> bool:
        """Draw the object unless its centre is off the image or its rectangle overlaps another.

        Args:
            kind: class name (must be among ``classes``).
            center: (x, y) pixels.
            heading: direction of the object's front, radians (image frame, y down).
            length, width: extent along / across the heading, pixels.
            difficult_below: objects whose long side is shorter are marked difficult.

        Returns:
            Whether the object was placed.
        """
        h, w = self.hw
        cx, cy = float(center[0]), float(center[1])
        if not (0.0 <= cx <= w - 1 and 0.0 <= cy <= h - 1):
            return False
        rot = _rotation(heading)
        parts, rect = _local_shape(kind, length, width)
        poly = np.round(rect @ rot.T + (cx, cy), 1)
        region = _region(poly, self.hw)
        if region is None:
            return False
        rows, cols, mask = region
        if (self.occupied[rows, cols] & mask).any():
            return False
        self.occupied[rows, cols] |= mask
        for part in parts:  # one call per part: fillPoly would leave their overlaps empty
            cv2.fillPoly(self.img, [_fixed(part @ rot.T + (cx, cy))], color, cv2.LINE_8, SHIFT)
        difficult = int(max(length, width) < difficult_below)
        self.objects.append(SyntheticObject(label=self.classes.index(kind), name=kind, poly=poly.reshape(8),
                                            difficult=difficult, color=tuple(int(v) for v in color)))
        return True


def _random_center(rng: np.random.Generator, hw: Tuple[int, int], where: Optional[np.ndarray] = None
                   ) -> Tuple[float, float]:
    """Uniform centre in the image, inside ``where`` (bool mask) when given and it can."""
    h, w = hw
    for _ in range(8 if where is not None else 1):
        x, y = rng.uniform(0, w - 1), rng.uniform(0, h - 1)
        if where is None or where[int(round(y)), int(round(x))]:
            break
    return x, y


def _parking_lot(scene: _Scene, rng: np.random.Generator, zoom: float = 1.0) -> None:
    """Rows of touching-but-not-overlapping cars, perpendicular or parallel to the row
    (every length multiplied by ``zoom``)."""
    h, w = scene.hw
    row_dir = rng.uniform(0.0, math.pi)
    u = np.array([math.cos(row_dir), math.sin(row_dir)])
    v = np.array([-u[1], u[0]])
    length, width = zoom * rng.uniform(8.5, 12.5), zoom * rng.uniform(4.2, 5.8)
    perpendicular = rng.uniform() < 0.7
    gap = zoom * rng.uniform(1.0, 2.5)
    pitch = (width if perpendicular else length) + gap
    depth = (length if perpendicular else width) + gap
    n_rows, n_cols = int(rng.integers(1, 4)), int(rng.integers(4, 13))
    origin = np.array(_random_center(rng, (h, w)))
    aisle = zoom * rng.uniform(2.0, 9.0)
    for r in range(n_rows):
        offset = r * depth + (r // 2) * aisle
        for c in range(n_cols):
            if rng.uniform() < 0.15:  # empty slot
                continue
            center = origin + u * (c * pitch) + v * offset
            axis = row_dir + (math.pi / 2 if perpendicular else 0.0) + rng.normal(0.0, 0.03)
            heading = axis + (math.pi if rng.uniform() < 0.5 else 0.0)
            scene.place('small-vehicle', center, heading, length * rng.uniform(0.95, 1.05), width,
                        _color('small-vehicle', rng), difficult_below=zoom * DIFFICULT_MAX_LENGTH)


def _truck_row(scene: _Scene, rng: np.random.Generator, zoom: float = 1.0) -> None:
    """Two to five large vehicles side by side (lengths multiplied by ``zoom``)."""
    heading = rng.uniform(0.0, 2.0 * math.pi)
    length, width = zoom * rng.uniform(20.0, 34.0), zoom * rng.uniform(6.0, 9.0)
    step = np.array([-math.sin(heading), math.cos(heading)]) * (width + zoom * rng.uniform(1.0, 3.0))
    origin = np.array(_random_center(rng, scene.hw))
    for k in range(int(rng.integers(2, 6))):
        scene.place('large-vehicle', origin + k * step, heading + rng.normal(0.0, 0.02), length, width,
                    _color('large-vehicle', rng), difficult_below=zoom * DIFFICULT_MAX_LENGTH)


def _single(scene: _Scene, rng: np.random.Generator, kind: str, water: Optional[np.ndarray],
            tiny: bool = False, zoom: float = 1.0, plane_span: Tuple[float, float] = (0.8, 1.1)) -> None:
    """One object of ``kind`` at a random free place (a few attempts); lengths multiplied by
    ``zoom``, plane wing spans drawn as ``plane_span`` times the plane's length."""
    for _ in range(5):
        if kind == 'plane':
            length = rng.uniform(24.0, 52.0)
            width = length * rng.uniform(*plane_span)
        elif kind == 'ship':
            length = rng.uniform(18.0, 64.0)
            width = max(length / rng.uniform(3.0, 6.0), 3.2)
        elif kind == 'large-vehicle':
            width = rng.uniform(6.0, 9.0)
            length = width * rng.uniform(2.5, 6.0)
        elif tiny:
            length, width = rng.uniform(5.0, 7.5), rng.uniform(2.6, 3.6)
        else:
            length, width = rng.uniform(8.0, 13.0), rng.uniform(4.0, 6.0)
        center = _random_center(rng, scene.hw, water if kind == 'ship' else None)
        if scene.place(kind, center, rng.uniform(0.0, 2.0 * math.pi), zoom * length, zoom * width,
                       _color(kind, rng), difficult_below=zoom * DIFFICULT_MAX_LENGTH):
            return


def render_image(rng: np.random.Generator, image_size: Tuple[int, int] = (256, 256),
                 classes: Sequence[str] = SYNTHETIC_CLASSES, empty: bool = False, zoom: float = 1.0,
                 plane_span: Tuple[float, float] = (0.8, 1.1)) -> Tuple[np.ndarray, List[SyntheticObject]]:
    """Render one synthetic aerial image.

    Args:
        rng: the image's own generator.
        image_size: (H, W).
        classes: object kinds to draw, a subset of :data:`SYNTHETIC_CLASSES`.
        empty: draw the background only.
        zoom: object scale: every object size, gap and aisle is multiplied by it and the
            numbers of objects and parking lots per image divided by it (not by its square: the
            scenes stay dense, about ``zoom`` times more of the image is covered); the
            ``difficult`` threshold scales with it.
        plane_span: range of a plane's wing span as a fraction of its length (about square
            by default; below 1 planes are longer than wide, so their long edge is the fuselage).

    Returns:
        image: (H, W, 3) uint8 RGB.
        objects: the drawn objects, in drawing order.
    """
    hw = (int(image_size[0]), int(image_size[1]))
    img, water = _background(rng, hw)
    scene = _Scene(img, classes)
    if empty:
        return img, []
    scale = hw[0] * hw[1] / 65536.0 / zoom  # object counts are per 256x256 at zoom 1
    has = set(classes)

    def count(low: int, high: int) -> int:
        return int(rng.integers(low, max(int(round(high * scale)), low) + 1))

    if 'plane' in has and rng.uniform() < 0.4:
        for _ in range(count(1, 4)):
            _single(scene, rng, 'plane', water, zoom=zoom, plane_span=plane_span)
    if 'ship' in has and (water is not None or rng.uniform() < 0.2):
        for _ in range(count(1, 6)):
            _single(scene, rng, 'ship', water, zoom=zoom)
    if 'large-vehicle' in has:
        if rng.uniform() < 0.35:
            _truck_row(scene, rng, zoom)
        for _ in range(count(0, 3)):
            _single(scene, rng, 'large-vehicle', water, zoom=zoom)
    if 'small-vehicle' in has:
        for _ in range(count(0, 2)):
            _parking_lot(scene, rng, zoom)
        for _ in range(count(0, 8)):
            _single(scene, rng, 'small-vehicle', water, zoom=zoom)
        for _ in range(count(0, 3)):
            _single(scene, rng, 'small-vehicle', water, tiny=True, zoom=zoom)
    return scene.img, scene.objects


def image_name(split: str, index: int) -> str:
    """File stem of image ``index`` (0-based) of ``split``: ``train00001`` ..."""
    return f'{split}{index + 1:05d}'


def render_sample(split: str, index: int, seed: int = 0, image_size: Tuple[int, int] = (256, 256),
                  classes: Sequence[str] = SYNTHETIC_CLASSES, empty_every: int = 25, zoom: float = 1.0,
                  plane_span: Tuple[float, float] = (0.8, 1.1)) -> Tuple[np.ndarray, List[SyntheticObject]]:
    """Image ``index`` of ``split`` exactly as :func:`ensure_synthetic_dota` writes it.

    Returns:
        ``(image (H, W, 3) uint8 RGB, objects)``, see :func:`render_image`.
    """
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), _SPLIT_CODES[split], int(index)]))
    empty = empty_every > 0 and index % empty_every == 1
    return render_image(rng, image_size, classes, empty, zoom=zoom, plane_span=plane_span)


def format_label_lines(objects: Sequence[SyntheticObject]) -> str:
    """DOTA labelTxt content (header lines + one line per object)."""
    lines = ['imagesource:synthetic', 'gsd:null']
    for obj in objects:
        coords = ' '.join(f'{v:.1f}' for v in obj.poly.tolist())
        lines.append(f'{coords} {obj.name} {obj.difficult}')
    return '\n'.join(lines) + '\n'


# ------------------------------------------------------------------ writing
def _write_split(out_dir: str, split: str, num_images: int, params: dict) -> None:
    img_dir = os.path.join(out_dir, split, 'images')
    ann_dir = os.path.join(out_dir, split, 'labelTxt')
    os.makedirs(img_dir)
    os.makedirs(ann_dir)
    for i in image_progress(num_images, split):
        img, objects = render_sample(split, i, params['seed'], tuple(params['image_size']),
                                     params['classes'], params['empty_every'], params.get('zoom', 1.0),
                                     tuple(params.get('plane_span', (0.8, 1.1))))
        name = image_name(split, i)
        ok, buf = cv2.imencode('.png', cv2.cvtColor(img, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_PNG_COMPRESSION, 1])
        if not ok:
            raise RuntimeError(f'could not encode synthetic image {split}/{name}.png')
        with open(os.path.join(img_dir, f'{name}.png'), 'wb') as f:
            f.write(buf.tobytes())
        with open(os.path.join(ann_dir, f'{name}.txt'), 'w', newline='\n') as f:
            f.write(format_label_lines(objects))


def synthetic_dota_paths(root: str) -> Dict[str, str]:
    """Paths of a synthetic DOTA dataset under ``root`` (whether or not it exists).

    Returns:
        dict with ``root``, ``train_img_dir``, ``train_ann_dir``, ``val_img_dir``,
        ``val_ann_dir``.
    """
    out = dict(root=root)
    for split in SPLITS:
        out[f'{split}_img_dir'] = os.path.join(root, split, 'images')
        out[f'{split}_ann_dir'] = os.path.join(root, split, 'labelTxt')
    return out


def ensure_synthetic_dota(root: str, num_train: int = 240, num_val: int = 60,
                          image_size: Tuple[int, int] = (256, 256), seed: int = 0,
                          classes: Sequence[str] = SYNTHETIC_CLASSES, empty_every: int = 25,
                          zoom: float = 1.0, plane_span: Tuple[float, float] = (0.8, 1.1)) -> Dict[str, str]:
    """Generate the synthetic DOTA dataset at ``root`` unless it is already complete.

    Args:
        root: output folder (created with its parents). An existing non-empty folder
            without the marker file is an error (never overwritten).
        num_train: number of training images.
        num_val: number of validation images.
        image_size: (H, W) of every image (sides >= 64).
        seed: global seed; same seed and arguments -> identical files.
        classes: object kinds, a subset of :data:`SYNTHETIC_CLASSES` (order = label
            order of :class:`~centerx_tasks.rotated.dota_dataset.DotaDataset` with
            ``metainfo=dict(classes=classes)``).
        empty_every: images with index ``i % empty_every == 1`` have no objects (0: none).
        zoom: object scale (see :func:`render_image`); 1 gives DOTA-like tiny vehicles
            (about 10x5 px), 2 objects that a 256-px, stride-4 model resolves (the CPU demo).
        plane_span: wing span / length range of the planes (see :func:`render_image`).

    Returns:
        :func:`synthetic_dota_paths` of ``root`` (absolute).
    """
    classes = [str(c) for c in classes]
    if not classes or len(set(classes)) != len(classes) or any(c not in SYNTHETIC_CLASSES for c in classes):
        raise ValueError(f'classes must be distinct names among {SYNTHETIC_CLASSES}, got {classes}')
    if num_train < 0 or num_val < 0 or min(image_size) < 64 or empty_every < 0:
        raise ValueError('need num_train, num_val, empty_every >= 0 and image sides >= 64, got '
                         f'{num_train}, {num_val}, {empty_every}, {tuple(image_size)}')
    span = (float(plane_span[0]), float(plane_span[1]))
    if not (math.isfinite(zoom) and 0.25 <= zoom <= 8.0) or not 0.2 <= span[0] <= span[1] <= 2.0:
        raise ValueError(f'need 0.25 <= zoom <= 8 and 0.2 <= plane_span[0] <= plane_span[1] <= 2, got '
                         f'zoom={zoom}, plane_span={tuple(plane_span)}')
    params = dict(version=FORMAT_VERSION, num_train=int(num_train), num_val=int(num_val),
                  image_size=[int(image_size[0]), int(image_size[1])], seed=int(seed),
                  classes=classes, empty_every=int(empty_every))
    if zoom != 1.0 or span != (0.8, 1.1):  # the defaults keep the markers of existing datasets valid
        params.update(zoom=float(zoom), plane_span=list(span))
    root = os.path.abspath(root)

    def write(tmp: str) -> None:
        _write_split(tmp, 'train', params['num_train'], params)
        _write_split(tmp, 'val', params['num_val'], params)

    build_atomically(root, params, write, f'synthetic DOTA dataset ({num_train} train, {num_val} val images)',
                     kind='synthetic DOTA dataset')
    return synthetic_dota_paths(root)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """``python -m centerx_tasks.rotated.synthetic --root DIR [--num-train N --num-val M ...]``."""
    generator_cli(ensure_synthetic_dota, __doc__.split('\n')[0], extra=('zoom',), argv=argv)


if __name__ == '__main__':
    main()
