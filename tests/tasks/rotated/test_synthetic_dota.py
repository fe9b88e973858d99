"""Synthetic DOTA generator: determinism, label contract, drawn pixels, concurrency."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest

from centerx_tasks.rotated.dota_labels import parse_dota_label_file
from centerx_tasks.rotated.polygon_iou import poly_iou_matrix
from centerx_tasks.rotated.synthetic import (SYNTHETIC_CLASSES, ensure_synthetic_dota, image_name, main,
                                     render_sample)

KWARGS = dict(num_train=16, num_val=4, image_size=(256, 256), seed=5, empty_every=8)
H, W = KWARGS['image_size']


def tree_bytes(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('syn') / 'dota'
    paths = ensure_synthetic_dota(str(root), **KWARGS)
    assert paths['train_img_dir'] == str(root / 'train' / 'images')
    assert paths['val_ann_dir'] == str(root / 'val' / 'labelTxt')
    return root


def labels(root: Path, split: str = 'train') -> List:
    n = KWARGS['num_train'] if split == 'train' else KWARGS['num_val']
    return [parse_dota_label_file(root / split / 'labelTxt' / f'{image_name(split, i)}.txt', SYNTHETIC_CLASSES)
            for i in range(n)]


def all_polys(root: Path) -> np.ndarray:
    return np.concatenate([f.polys for f in labels(root)]).reshape(-1, 4, 2).astype(np.float64)


def test_deterministic(generated: Path, tmp_path: Path) -> None:
    again = tmp_path / 'again'
    ensure_synthetic_dota(str(again), **KWARGS)
    a, b = tree_bytes(generated), tree_bytes(again)
    assert sorted(a) == sorted(b) and all(a[k] == b[k] for k in a)
    other = tmp_path / 'other'
    ensure_synthetic_dota(str(other), **dict(KWARGS, seed=6, num_train=2, num_val=0))
    assert tree_bytes(other)['train/images/train00001.png'] != a['train/images/train00001.png']


def test_counts_and_format(generated: Path) -> None:
    for split, n in (('train', 16), ('val', 4)):
        names = sorted(p.stem for p in (generated / split / 'images').iterdir())
        assert names == [image_name(split, i) for i in range(n)]
        assert sorted(p.stem for p in (generated / split / 'labelTxt').iterdir()) == names
    assert (generated / '.complete').is_file()
    text = (generated / 'train' / 'labelTxt' / 'train00001.txt').read_text().splitlines()
    assert text[:2] == ['imagesource:synthetic', 'gsd:null'] and len(text[2].split()) == 10
    files = labels(generated)
    assert cv2.imread(str(generated / 'train' / 'images' / 'train00001.png')).shape == (H, W, 3)
    counts = [len(f) for f in files]
    assert counts[1] == 0 and counts[9] == 0  # i % empty_every == 1
    assert min(c for i, c in enumerate(counts) if i % 8 != 1) > 3
    found = np.concatenate([f.labels for f in files])
    assert set(found.tolist()) == set(range(len(SYNTHETIC_CLASSES)))
    difficult = np.concatenate([f.difficult for f in files])
    assert 0 < difficult.sum() < 0.3 * len(difficult)


def test_polygons_are_clockwise_rectangles(generated: Path) -> None:
    polys = all_polys(generated)
    x, y = polys[..., 0], polys[..., 1]
    area2 = (x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1)
    assert (area2 > 0).all()  # clockwise on screen (y down)
    e1, e2 = polys[:, 1] - polys[:, 0], polys[:, 2] - polys[:, 1]
    cos = (e1 * e2).sum(1) / np.linalg.norm(e1, axis=1) / np.linalg.norm(e2, axis=1)
    assert np.abs(cos).max() < 0.06  # right angles, up to the 0.1 px rounding of tiny boxes
    np.testing.assert_allclose(polys[:, 2] - polys[:, 3], e1, atol=0.15)  # parallelogram
    sides = np.stack([np.linalg.norm(e1, axis=1), np.linalg.norm(e2, axis=1)], 1)
    aspect = sides.max(1) / sides.min(1)
    assert aspect.min() < 1.3 and aspect.max() > 4.5
    center = polys.mean(axis=1)
    assert (center >= 0).all() and (center[:, 0] <= W - 1).all() and (center[:, 1] <= H - 1).all()
    outside = (polys[..., 0] < 0) | (polys[..., 0] > W - 1) | (polys[..., 1] < 0) | (polys[..., 1] > H - 1)
    assert outside.any(axis=1).sum() >= 3  # cut by the border


def test_angles_cover_half_turn(generated: Path) -> None:
    polys = all_polys(generated)
    e1, e2 = polys[:, 1] - polys[:, 0], polys[:, 2] - polys[:, 1]
    long = np.where((np.linalg.norm(e1, axis=1) >= np.linalg.norm(e2, axis=1))[:, None], e1, e2)
    theta = np.mod(np.arctan2(long[:, 1], long[:, 0]), np.pi)
    hist = np.bincount((theta / np.pi * 12).astype(int).clip(0, 11), minlength=12)
    assert (hist > 0).all(), hist


def test_dense_rows_do_not_overlap(generated: Path) -> None:
    touching = 0
    for f in labels(generated):
        if len(f) < 2:
            continue
        iou = poly_iou_matrix(f.polys.astype(np.float64), f.polys.astype(np.float64))
        np.fill_diagonal(iou, 0)
        assert iou.max() < 0.05
        small = f.polys[f.labels == SYNTHETIC_CLASSES.index('small-vehicle')].reshape(-1, 4, 2).mean(1)
        d = np.linalg.norm(small[:, None] - small[None], axis=2) + np.eye(len(small)) * 1e9
        touching += int((d < 8.0).sum())
    assert touching >= 10  # parking-lot rows


def test_labels_lie_on_drawn_pixels(generated: Path) -> None:
    checked = 0
    for split, n in (('train', 16), ('val', 4)):
        for i in range(n):
            img, objects = render_sample(split, i, KWARGS['seed'], KWARGS['image_size'], SYNTHETIC_CLASSES,
                                         KWARGS['empty_every'])
            name = image_name(split, i)
            png = cv2.cvtColor(cv2.imread(str(generated / split / 'images' / f'{name}.png')), cv2.COLOR_BGR2RGB)
            np.testing.assert_array_equal(png, img)
            parsed = parse_dota_label_file(generated / split / 'labelTxt' / f'{name}.txt', SYNTHETIC_CLASSES)
            assert [o.label for o in objects] == parsed.labels.tolist()
            for obj, poly in zip(objects, parsed.polys):
                np.testing.assert_allclose(obj.poly, poly, atol=1e-4)
                cx, cy = np.round(poly.reshape(4, 2).mean(0)).astype(int)
                assert tuple(png[cy, cx]) == obj.color, (name, obj)
                checked += 1
    assert checked > 100


def test_existing_root(generated: Path, tmp_path: Path) -> None:
    marker = generated / '.complete'
    before = marker.stat().st_mtime_ns
    ensure_synthetic_dota(str(generated), **KWARGS)
    assert marker.stat().st_mtime_ns == before
    junk = tmp_path / 'junk'
    junk.mkdir()
    (junk / 'x.txt').write_text('mine')
    with pytest.raises(FileExistsError, match='not empty'):
        ensure_synthetic_dota(str(junk), **KWARGS)
    with pytest.raises(ValueError, match='classes'):
        ensure_synthetic_dota(str(tmp_path / 'bad'), classes=('plane', 'helicopter'))


def _worker(root: str, barrier) -> None:
    barrier.wait()
    ensure_synthetic_dota(root, **KWARGS)


def test_concurrent_generation(generated: Path, tmp_path: Path) -> None:
    ctx = mp.get_context('fork')
    barrier = ctx.Barrier(2)
    root = tmp_path / 'shared' / 'dota'
    procs = [ctx.Process(target=_worker, args=(str(root), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    assert tree_bytes(root) == tree_bytes(generated)
    assert os.listdir(root.parent) == ['dota']  # no temporary folders left behind


def test_cli_and_class_subset(tmp_path: Path, capsys) -> None:
    main(['--root', str(tmp_path / 'cli'), '--num-train', '3', '--num-val', '1', '--image-size', '64', '96'])
    assert 'train_ann_dir' in capsys.readouterr().out
    assert cv2.imread(str(tmp_path / 'cli' / 'val' / 'images' / 'val00001.png')).shape == (64, 96, 3)
    root = tmp_path / 'ships'
    ensure_synthetic_dota(str(root), num_train=6, num_val=0, classes=('ship',), empty_every=0)
    found = [parse_dota_label_file(p, ('ship',)) for p in sorted((root / 'train' / 'labelTxt').iterdir())]
    assert sum(len(f) for f in found) > 0


def _rbox_sides(root: Path) -> tuple:
    files = [parse_dota_label_file(p, SYNTHETIC_CLASSES) for p in sorted((root / 'train' / 'labelTxt').iterdir())]
    polys = np.concatenate([f.polys for f in files]).reshape(-1, 4, 2).astype(np.float64)
    e1 = np.linalg.norm(polys[:, 1] - polys[:, 0], axis=1)
    e2 = np.linalg.norm(polys[:, 2] - polys[:, 1], axis=1)
    return (np.maximum(e1, e2), np.minimum(e1, e2), np.concatenate([f.labels for f in files]),
            np.concatenate([f.difficult for f in files]), len(files))


def test_zoom_and_plane_span(generated: Path, tmp_path: Path) -> None:
    """zoom=2 doubles every object size (the difficult threshold with it), keeps scenes dense,
    records itself in the marker; plane_span makes planes longer than wide."""
    root = tmp_path / 'zoom2'
    ensure_synthetic_dota(str(root), **dict(KWARGS, zoom=2.0, plane_span=(0.6, 0.7)))
    long1, short1, labels1, diff1, n = _rbox_sides(generated)
    long2, short2, labels2, diff2, _ = _rbox_sides(root)
    small = SYNTHETIC_CLASSES.index('small-vehicle')
    assert 1.8 < np.median(long2[labels2 == small]) / np.median(long1[labels1 == small]) < 2.2
    assert np.mean(short2 < 8) < 0.2 < np.mean(short1 < 8)  # most objects resolvable at stride 4
    assert (long2[diff2 == 1] < 16.0).all() and (long2[diff2 == 0] >= 16.0).all()
    assert len(long2) / n > 5  # still several objects per image
    plane = labels2 == SYNTHETIC_CLASSES.index('plane')
    assert plane.sum() > 0
    np.testing.assert_array_less(short2[plane] / long2[plane], 0.75)
    marker = json.loads((root / '.complete').read_text())
    assert marker['zoom'] == 2.0 and marker['plane_span'] == [0.6, 0.7]
    assert 'zoom' not in json.loads((generated / '.complete').read_text())  # defaults: old markers valid
    with pytest.raises(ValueError, match='zoom'):
        ensure_synthetic_dota(str(tmp_path / 'bad'), zoom=0.0)
