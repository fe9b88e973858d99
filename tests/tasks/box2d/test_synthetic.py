"""Synthetic COCO generator: determinism, annotation correctness, concurrency."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path
from typing import Dict

import cv2
import numpy as np
import pytest

from centerx_tasks.box2d.synthetic import DEFAULT_CLASSES, ensure_synthetic_coco, main

KWARGS = dict(num_train=12, num_val=4, image_size=(96, 128), seed=3)
H, W = KWARGS['image_size']


def tree_bytes(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('syn') / 'shapes'
    paths = ensure_synthetic_coco(str(root), **KWARGS)
    assert paths['train_ann_file'] == str(root / 'annotations' / 'train.json')
    return root


def load(root: Path, split: str) -> dict:
    return json.loads((root / 'annotations' / f'{split}.json').read_text())


def test_deterministic(generated: Path, tmp_path: Path) -> None:
    again = tmp_path / 'again'
    ensure_synthetic_coco(str(again), **KWARGS)
    a, b = tree_bytes(generated), tree_bytes(again)
    assert sorted(a) == sorted(b) and len(a) == 12 + 4 + 3
    assert all(a[k] == b[k] for k in a)
    other = tmp_path / 'other_seed'
    ensure_synthetic_coco(str(other), **dict(KWARGS, seed=4))
    assert tree_bytes(other)['train/000001.png'] != a['train/000001.png']


def test_counts_and_ids(generated: Path) -> None:
    for split, n in (('train', 12), ('val', 4)):
        data = load(generated, split)
        assert [img['id'] for img in data['images']] == list(range(1, n + 1))
        assert all((img['height'], img['width']) == (H, W) for img in data['images'])
        assert all((generated / split / img['file_name']).is_file() for img in data['images'])
        assert [a['id'] for a in data['annotations']] == list(range(1, len(data['annotations']) + 1))
        assert [(c['id'], c['name']) for c in data['categories']] == list(enumerate(DEFAULT_CLASSES, 1))
        assert all(a['iscrowd'] == 0 for a in data['annotations'])
    image = cv2.imread(str(generated / 'train' / '000001.png'))
    assert image.shape == (H, W, 3)


def test_boxes_valid_and_varied(generated: Path) -> None:
    data = load(generated, 'train')
    boxes = np.array([a['bbox'] for a in data['annotations']], float)
    x, y, w, h = boxes.T
    assert (x >= 0).all() and (y >= 0).all() and (x + w <= W).all() and (y + h <= H).all()
    assert (w >= 1).all() and (h >= 1).all()
    touching = (x == 0) | (y == 0) | (x + w == W) | (y + h == H)
    assert 0 < touching.sum() < len(boxes)
    per_image = np.bincount([a['image_id'] for a in data['annotations']], minlength=13)[1:]
    assert (per_image == 0).sum() >= 1 and per_image.max() > 1  # empty images exist
    assert len({a['category_id'] for a in data['annotations']}) >= 4
    assert max(w.max(), h.max()) >= 30 and min(w.min(), h.min()) <= 12


def test_boxes_match_drawn_pixels(generated: Path) -> None:
    """For shapes no later shape overlaps: tight box of the fill colour == bbox, count == area."""
    data = load(generated, 'train')
    checked = 0
    for img in data['images']:
        anns = [a for a in data['annotations'] if a['image_id'] == img['id']]
        rgb = cv2.cvtColor(cv2.imread(str(generated / 'train' / img['file_name'])), cv2.COLOR_BGR2RGB)
        for k, a in enumerate(anns):
            x, y, w, h = a['bbox']
            later = [b['bbox'] for b in anns[k + 1:]]
            if any(bx < x + w and x < bx + bw and by < y + h and y < by + bh for bx, by, bw, bh in later):
                continue
            mask = (rgb == np.array(a['color'], np.uint8)).all(axis=2)
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            assert [cols[0], rows[0], cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1] == a['bbox']
            assert mask.sum() == a['area']
            checked += 1
    assert checked >= 10


def test_existing_root(generated: Path, tmp_path: Path) -> None:
    marker = generated / '.complete'
    before = marker.stat().st_mtime_ns
    ensure_synthetic_coco(str(generated), **KWARGS)  # complete -> nothing to do
    assert marker.stat().st_mtime_ns == before
    junk = tmp_path / 'junk'
    junk.mkdir()
    (junk / 'x.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='not empty'):
        ensure_synthetic_coco(str(junk), **KWARGS)
    empty = tmp_path / 'empty'
    empty.mkdir()
    ensure_synthetic_coco(str(empty), num_train=1, num_val=1, image_size=(32, 32))
    assert (empty / '.complete').is_file()


def _worker(root: str, barrier) -> None:
    barrier.wait()
    ensure_synthetic_coco(root, **KWARGS)


def test_concurrent_generation(generated: Path, tmp_path: Path) -> None:
    ctx = mp.get_context('fork')
    barrier = ctx.Barrier(2)
    root = tmp_path / 'shared' / 'shapes'
    procs = [ctx.Process(target=_worker, args=(str(root), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert tree_bytes(root) == tree_bytes(generated)
    assert os.listdir(root.parent) == ['shapes']  # no temporary folders left behind


def test_cli(tmp_path: Path, capsys) -> None:
    main(['--root', str(tmp_path / 'cli'), '--num-train', '2', '--num-val', '1', '--image-size', '40', '50'])
    assert 'train_ann_file' in capsys.readouterr().out
    assert len(load(tmp_path / 'cli', 'val')['images']) == 1
    assert cv2.imread(str(tmp_path / 'cli' / 'train' / '000002.png')).shape == (40, 50, 3)
    demo = tmp_path / 'cli_demo'  # the demo's options (configs/box2d_synthetic.py) from the command line
    main(['--root', str(demo), '--num-train', '2', '--num-val', '0', '--classes', 'circle', 'cross',
          '--min-diameter', '16', '--class-hues'])
    marker = json.loads((demo / '.complete').read_text())
    assert (marker['classes'], marker['min_diameter'], marker['class_hues']) == (['circle', 'cross'], 16.0, True)
    main(['--root', str(tmp_path / 'cli_plain'), '--num-train', '1', '--num-val', '0', '--no-class-hues'])
    assert 'class_hues' not in json.loads((tmp_path / 'cli_plain' / '.complete').read_text())


def test_min_diameter(generated: Path, tmp_path: Path) -> None:
    """min_diameter raises the smallest shape size (boxes cut by the border may still be thin),
    is recorded in the marker, and is checked."""
    root = tmp_path / 'big'
    ensure_synthetic_coco(str(root), **dict(KWARGS, image_size=(256, 256), num_val=0, min_diameter=20.0))
    anns = load(root, 'train')['annotations']
    inside = [a['bbox'] for a in anns if a['bbox'][0] > 0 and a['bbox'][1] > 0
              and a['bbox'][0] + a['bbox'][2] < 256 and a['bbox'][1] + a['bbox'][3] < 256]
    assert len(inside) > 10
    assert min(max(w, h) for _, _, w, h in inside) >= 0.8 * 20  # a star's or triangle's box is a bit smaller
    default = [max(a['bbox'][2:]) for a in load(generated, 'train')['annotations']]
    assert min(default) < 16
    assert json.loads((root / '.complete').read_text())['min_diameter'] == 20.0
    assert 'min_diameter' not in json.loads((generated / '.complete').read_text())
    with pytest.raises(ValueError, match='min_diameter'):
        ensure_synthetic_coco(str(tmp_path / 'bad'), min_diameter=200.0)


def test_square_and_cross_kinds() -> None:
    """The two extra kinds: a square's box is square whatever its rotation and it is convex; a plus
    sign is concave (well under its convex hull's area)."""
    from centerx_tasks.box2d.synthetic import SHAPES, _shape_mask
    # the classes of a default dataset (and so its marker) are those of the first version
    assert DEFAULT_CLASSES == ('circle', 'rectangle', 'triangle', 'ellipse', 'star')
    assert {'square', 'cross'} <= set(SHAPES) and set(DEFAULT_CLASSES) <= set(SHAPES)
    for seed in range(8):
        solidity = {}
        for kind in ('square', 'cross'):
            mask = _shape_mask(kind, (64.0, 64.0), 30.0, np.random.default_rng(seed), (128, 128))
            rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
            w, h = cols[-1] - cols[0] + 1, rows[-1] - rows[0] + 1
            if kind == 'square':
                assert abs(w - h) <= 1, (seed, w, h)
            points = np.argwhere(mask > 0)[:, ::-1].astype(np.int32)
            solidity[kind] = mask.sum() / cv2.contourArea(cv2.convexHull(points))
        assert solidity['square'] > 0.95 and solidity['cross'] < 0.8, (seed, solidity)


def test_class_hues(tmp_path: Path) -> None:
    """class_hues puts class k of n at hues within 0.06 of k / n (shapes unchanged: the same
    boxes as without it), is recorded in the marker and absent from a default one."""
    import colorsys
    kwargs = dict(KWARGS, image_size=(128, 128), num_val=0, classes=('circle', 'square', 'cross', 'star'))
    plain, hued = tmp_path / 'plain', tmp_path / 'hued'
    ensure_synthetic_coco(str(plain), **kwargs)
    ensure_synthetic_coco(str(hued), **kwargs, class_hues=True)
    a, b = load(plain, 'train')['annotations'], load(hued, 'train')['annotations']
    assert [x['bbox'] for x in a] == [x['bbox'] for x in b] and len(b) > 20
    for ann in b:
        hue = colorsys.rgb_to_hsv(*(c / 255.0 for c in ann['color']))[0]
        centre = (ann['category_id'] - 1) / 4
        assert min(abs(hue - centre), 1 - abs(hue - centre)) < 0.06 + 0.01, ann
    assert json.loads((hued / '.complete').read_text())['class_hues'] is True
    assert 'class_hues' not in json.loads((plain / '.complete').read_text())
