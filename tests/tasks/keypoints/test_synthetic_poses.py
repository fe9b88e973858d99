"""Synthetic pose generator: determinism, annotation contract, drawn keypoints, concurrency."""
from __future__ import annotations

import colorsys
import json
import math
import multiprocessing as mp
import os
from pathlib import Path
from typing import Dict

import cv2
import numpy as np
import pytest

from centerx_tasks.keypoints.coco_meta import COCO_KEYPOINT_NAMES, COCO_PERSON_CATEGORY
from centerx_tasks.keypoints.synthetic import LEFT, RIGHT, ensure_synthetic_poses, main, render_sample

KWARGS = dict(num_train=24, num_val=4, image_size=(112, 144), seed=5)
H, W = KWARGS['image_size']
K = 17


def tree_bytes(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('poses') / 'poses'
    paths = ensure_synthetic_poses(str(root), **KWARGS)
    assert paths['val_ann_file'] == str(root / 'annotations' / 'val.json')
    assert paths['train_img_dir'] == str(root / 'train')
    return root


def load(root: Path, split: str) -> dict:
    return json.loads((root / 'annotations' / f'{split}.json').read_text())


def rgb(root: Path, split: str, file_name: str) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(root / split / file_name)), cv2.COLOR_BGR2RGB)


def test_deterministic(generated: Path, tmp_path: Path) -> None:
    small = dict(KWARGS, num_train=3, num_val=1)
    a_root, b_root = tmp_path / 'a', tmp_path / 'b'
    ensure_synthetic_poses(str(a_root), **small)
    ensure_synthetic_poses(str(b_root), **small)
    a, b = tree_bytes(a_root), tree_bytes(b_root)
    assert sorted(a) == sorted(b) and len(a) == 3 + 1 + 3
    assert all(a[k] == b[k] for k in a)
    full = tree_bytes(generated)  # image i does not depend on the number of images
    assert a['train/000003.png'] == full['train/000003.png'] and a['val/000001.png'] == full['val/000001.png']
    ensure_synthetic_poses(str(tmp_path / 'c'), **dict(small, seed=6))
    assert tree_bytes(tmp_path / 'c')['train/000001.png'] != a['train/000001.png']


def test_counts_and_format(generated: Path) -> None:
    for split, n in (('train', 24), ('val', 4)):
        data = load(generated, split)
        assert [img['id'] for img in data['images']] == list(range(1, n + 1))
        assert all((img['height'], img['width']) == (H, W) for img in data['images'])
        assert all(rgb(generated, split, img['file_name']).shape == (H, W, 3) for img in data['images'])
        assert [a['id'] for a in data['annotations']] == list(range(1, len(data['annotations']) + 1))
        assert data['categories'] == [json.loads(json.dumps(COCO_PERSON_CATEGORY))]
        for a in data['annotations']:
            x, y, w, h = a['bbox']
            assert all(isinstance(v, int) for v in a['bbox']) and w >= 1 and h >= 1
            assert 0 <= x and 0 <= y and x + w <= W and y + h <= H
            assert a['area'] == w * h and a['iscrowd'] == 0 and a['category_id'] == 1
            kp = np.asarray(a['keypoints'], float).reshape(K, 3)
            assert set(kp[:, 2]) <= {0, 1, 2} and a['num_keypoints'] == int((kp[:, 2] > 0).sum())
            assert (kp[kp[:, 2] == 0] == 0).all()  # unlabeled written as 0, 0, 0
            lab = kp[kp[:, 2] > 0]
            assert ((lab[:, 0] >= 0) & (lab[:, 0] < W) & (lab[:, 1] >= 0) & (lab[:, 1] < H)).all()
            assert len(a['keypoint_colors']) == K
    data = load(generated, 'train')
    per_image = np.bincount([a['image_id'] for a in data['annotations']], minlength=25)[1:]
    assert per_image[1] == 0 and per_image[11] == 0 and per_image[21] == 0  # empty_every = 10
    assert per_image.max() <= 4 and (per_image >= 2).sum() >= 3
    v = np.concatenate([np.asarray(a['keypoints'][2::3]) for a in data['annotations']])
    counts = np.bincount(v.astype(int), minlength=3)
    assert counts[2] > counts[1] > 0 and counts[0] > 0
    boxes = np.array([a['bbox'] for a in data['annotations']], float)
    touching = (boxes[:, 0] == 0) | (boxes[:, 1] == 0) | (boxes[:, 0] + boxes[:, 2] == W) \
        | (boxes[:, 1] + boxes[:, 3] == H)
    assert 0 < touching.sum() < len(boxes)  # some persons cross the border
    heights = boxes[:, 3]
    assert heights.max() >= 60 and heights.min() <= 40


def test_visible_keypoints_show_their_joint_colour(generated: Path) -> None:
    """v = 2: the pixel at (floor(x), floor(y)) has the joint's colour; joint colours are red
    on the person's left, blue on the right; every labeled keypoint lies in (or next to) its box."""
    data = load(generated, 'train')
    images = {img['id']: rgb(generated, 'train', img['file_name']) for img in data['images']}
    checked = 0
    for a in data['annotations']:
        kp = np.asarray(a['keypoints'], float).reshape(K, 3)
        colors = np.asarray(a['keypoint_colors'])
        x, y, w, h = a['bbox']
        for k in np.flatnonzero(kp[:, 2] == 2):
            col, row = int(math.floor(kp[k, 0])), int(math.floor(kp[k, 1]))
            assert images[a['image_id']][row, col].tolist() == colors[k].tolist(), (a['id'], k)
            assert x <= col < x + w and y <= row < y + h
            checked += 1
        for k in np.flatnonzero(kp[:, 2] > 0):
            assert x - 1 <= kp[k, 0] <= x + w + 1 and y - 1 <= kp[k, 1] <= y + h + 1
        for group, (h0, h1) in ((LEFT, (0.0, 0.07)), (RIGHT, (0.56, 0.66))):
            for k in group:
                hue = colorsys.rgb_to_hsv(*(colors[k] / 255.0))[0]
                assert h0 - 0.01 <= hue <= h1 + 0.01, (COCO_KEYPOINT_NAMES[k], colors[k])
    assert checked >= 100


def test_outside_and_back_view_keypoints_are_unlabeled(generated: Path) -> None:
    data = load(generated, 'train')
    by_image: Dict[int, list] = {}
    for a in data['annotations']:
        by_image.setdefault(a['image_id'], []).append(a)
    outside = backs = 0
    for index in range(KWARGS['num_train']):
        img, persons = render_sample('train', index, seed=KWARGS['seed'], image_size=(H, W))
        anns = by_image.get(index + 1, [])
        assert len(anns) == len(persons)
        if index < 3:
            assert (img == rgb(generated, 'train', f'{index + 1:06d}.png')).all()
        for a, p in zip(anns, persons):
            kp = np.asarray(a['keypoints'], float).reshape(K, 3)
            assert a['bbox'] == p['bbox']
            joints = p['joints']
            out = (joints[:, 0] < 0) | (joints[:, 0] >= W) | (joints[:, 1] < 0) | (joints[:, 1] >= H)
            assert (kp[out, 2] == 0).all()
            outside += int(out.sum())
            labeled = kp[:, 2] > 0
            np.testing.assert_allclose(kp[labeled, :2], joints[labeled], atol=0.006)
            if p['back']:
                assert (kp[:3, 2] == 0).all()  # nose and eyes are not drawn from the back
                backs += 1
    assert outside > 0 and backs > 0


def test_existing_root(generated: Path, tmp_path: Path) -> None:
    marker = generated / '.complete'
    before = marker.stat().st_mtime_ns
    ensure_synthetic_poses(str(generated), **KWARGS)  # complete -> nothing to do
    assert marker.stat().st_mtime_ns == before
    junk = tmp_path / 'junk'
    junk.mkdir()
    (junk / 'x.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='not empty'):
        ensure_synthetic_poses(str(junk), **KWARGS)
    with pytest.raises(ValueError, match='image sides >= 32'):
        ensure_synthetic_poses(str(tmp_path / 'tiny'), image_size=(16, 16))


def _worker(root: str, barrier) -> None:
    barrier.wait()
    ensure_synthetic_poses(root, **dict(KWARGS, num_train=6, num_val=2))


def test_concurrent_generation(tmp_path: Path) -> None:
    ctx = mp.get_context('fork')
    barrier = ctx.Barrier(2)
    root = tmp_path / 'shared' / 'poses'
    procs = [ctx.Process(target=_worker, args=(str(root), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    ensure_synthetic_poses(str(tmp_path / 'alone'), **dict(KWARGS, num_train=6, num_val=2))
    assert tree_bytes(root) == tree_bytes(tmp_path / 'alone')
    assert os.listdir(root.parent) == ['poses']  # no temporary folders left behind


def test_cli(tmp_path: Path, capsys) -> None:
    main(['--root', str(tmp_path / 'cli'), '--num-train', '2', '--num-val', '1', '--image-size', '40', '50'])
    assert 'train_ann_file' in capsys.readouterr().out
    assert len(load(tmp_path / 'cli', 'val')['images']) == 1
    assert cv2.imread(str(tmp_path / 'cli' / 'train' / '000002.png')).shape == (40, 50, 3)


def test_height_range(generated: Path, tmp_path: Path) -> None:
    """height_range sets the figures' heights (log-uniform within it), is recorded in the marker
    only when it is not the default, and is checked."""
    from centerx_tasks.keypoints.synthetic import DEFAULT_HEIGHT_RANGE
    heights = [p['height'] for i in range(12)
               for p in render_sample('train', i, seed=0, image_size=(256, 256), height_range=(80.0, 120.0))[1]]
    assert len(heights) > 10 and min(heights) >= 80.0 and max(heights) <= 120.0
    default = [p['height'] for i in range(12) for p in render_sample('train', i, seed=0, image_size=(256, 256))[1]]
    assert min(default) < 80.0 and min(default) >= DEFAULT_HEIGHT_RANGE[0]
    root = tmp_path / 'tall'
    ensure_synthetic_poses(str(root), **dict(KWARGS, num_val=0, height_range=(40.0, 60.0)))
    assert json.loads((root / '.complete').read_text())['height_range'] == [40.0, 60.0]
    for i in range(KWARGS['num_train']):  # the files are what render_sample draws with that range
        img, _ = render_sample('train', i, seed=KWARGS['seed'], image_size=(H, W), height_range=(40.0, 60.0))
        assert np.array_equal(rgb(root, 'train', f'{i + 1:06d}.png'), img)
    cli = tmp_path / 'cli_tall'
    main(['--root', str(cli), '--num-train', '2', '--num-val', '0', '--height-range', '40', '60'])
    assert json.loads((cli / '.complete').read_text())['height_range'] == [40.0, 60.0]
    assert 'height_range' not in json.loads((generated / '.complete').read_text())
    with pytest.raises(ValueError, match='height_range'):
        ensure_synthetic_poses(str(tmp_path / 'bad'), height_range=(60.0, 40.0))
    with pytest.raises(ValueError, match='height_range'):
        render_sample('train', 0, height_range=(60.0, 40.0))


def test_cli_height_range_takes_two_numbers(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(['--root', str(tmp_path / 'one'), '--height-range', '40'])
    assert 'expected 2 arguments' in capsys.readouterr().err
    assert not (tmp_path / 'one').exists()
