"""Synthetic mono-3D generator: determinism, counts, geometry of the annotations, rendering."""
from __future__ import annotations

import colorsys
import json
import math
from pathlib import Path
from typing import Dict

import cv2
import numpy as np
import pytest
from nuscenes.utils.data_classes import Box
from pyquaternion import Quaternion

from centerx.data.transforms.loading import LoadImage
from centerx_tasks.box3d.camera_meta import CameraMeta
from centerx_tasks.box3d.mono3d_dataset import NUSCENES_CLASSES, NuScenesMono3DDataset
from centerx_tasks.box3d.mono3d_geometry import BOX_FACES
from centerx_tasks.box3d.synthetic import CLASS_SPECS, FRONT_HUE, ensure_synthetic_box3d

KWARGS = dict(num_train=8, num_val=3, image_size=(128, 224), seed=5, max_objects=8, empty_every=4)
H, W = KWARGS['image_size']
# devkit box axes (x forward, y left, z up) written in our box frame (heading, down, lateral)
DEVKIT_TO_OURS = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def ry(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def devkit_box(box3d) -> Box:
    """A devkit Box in the camera frame for a contract box (x, y, z, l, h, w, yaw)."""
    x, y, z, l, h, w, yaw = box3d
    return Box([x, y, z], [w, l, h], Quaternion(matrix=ry(yaw) @ DEVKIT_TO_OURS))


def tree_bytes(root: Path) -> Dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def generated(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('syn3d') / 'box3d'
    paths = ensure_synthetic_box3d(str(root), **KWARGS)
    assert paths['train_ann_file'] == str(root / 'annotations' / 'nus_mono3d_train.json')
    assert paths['img_root'] == str(root)
    return root


def load(root: Path, split: str) -> dict:
    return json.loads((root / 'annotations' / f'nus_mono3d_{split}.json').read_text())


def all_annotations(root: Path):
    for split in ('train', 'val'):
        data = load(root, split)
        images = {img['id']: img for img in data['images']}
        for ann in data['annotations']:
            yield images[ann['image_id']], ann


def test_deterministic(generated: Path, tmp_path: Path) -> None:
    again = tmp_path / 'again'
    ensure_synthetic_box3d(str(again), **KWARGS)
    a, b = tree_bytes(generated), tree_bytes(again)
    assert sorted(a) == sorted(b) and len(a) == 8 + 3 + 3
    assert all(a[k] == b[k] for k in a)
    assert ensure_synthetic_box3d(str(again), **KWARGS)['root'] == str(again)  # complete: kept
    other = tmp_path / 'other'
    ensure_synthetic_box3d(str(other), **dict(KWARGS, seed=6, num_train=1, num_val=0))
    assert (other / 'train' / '000001.png').read_bytes() != a['train/000001.png']
    (tmp_path / 'busy').mkdir()
    (tmp_path / 'busy' / 'x.txt').write_text('x')
    with pytest.raises(FileExistsError, match='not a complete synthetic dataset'):
        ensure_synthetic_box3d(str(tmp_path / 'busy'), **KWARGS)


def test_counts_and_dataset(generated: Path) -> None:
    load_image = LoadImage()
    tokens = set()
    for split, n in (('train', 8), ('val', 3)):
        data = load(generated, split)
        assert [img['file_name'] for img in data['images']] == [f'{split}/{i:06d}.png' for i in range(1, n + 1)]
        assert [c['name'] for c in data['categories']] == list(NUSCENES_CLASSES)
        ds = NuScenesMono3DDataset(ann_file=f'annotations/nus_mono3d_{split}.json', data_root=str(generated))
        assert len(ds) == n and ds.metainfo['bbox_cam3d_layout'] == 'centerx'
        assert sum(len(ds[i]['instances']['labels']) for i in range(n)) == len(data['annotations'])
        stamps = [ds[i]['task_metas'][0].timestamp for i in range(n)]
        assert stamps == sorted(stamps) and len(set(stamps)) == n
        for i in range(n):
            item = ds[i]
            (camera,) = item['task_metas']
            assert len(item['sample_token']) == 32 and item['img_id'] == f'{item["sample_token"]}/CAM_FRONT'
            tokens.add(item['sample_token'])
            assert (len(item['instances']['labels']) == 0) == (i % 4 == 1)
            rot = camera.ego2global[:3, :3]
            np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
            assert np.linalg.det(rot) == pytest.approx(1.0) and camera.ego2global[2, 3] == 0.0
            # the ground (camera y = 1.5) is the ego z = 0 plane
            ground_in_ego = camera.cam2ego @ np.array([3.0, 1.5, 10.0, 1.0])
            assert ground_in_ego[2] == pytest.approx(0.0)
            loaded = load_image(dict(item))
            assert loaded['img'].shape == (H, W, 3)
            np.testing.assert_allclose(loaded['meta'].task_meta(CameraMeta).cam2img, camera.cam2img)
        yaws = {round(float(ds[i]['task_metas'][0].ego2global[0, 0]), 6) for i in range(n)}
        assert len(yaws) == n  # every image has its own ego pose
    assert len(tokens) == 11
    cam2img = np.asarray(load(generated, 'train')['images'][0]['cam2img'])
    assert cam2img[0, 0] == pytest.approx(1266.417203046554 * W / 1600)


def test_boxes_are_projected_corners(generated: Path) -> None:
    count = 0
    for img, ann in all_annotations(generated):
        k = np.asarray(img['cam2img'])
        box = devkit_box(ann['bbox_cam3d'])
        # the contract's relation to a devkit Box holds for these boxes
        assert -box.orientation.yaw_pitch_roll[0] == pytest.approx(ann['bbox_cam3d'][6], abs=1e-9)
        corners = box.corners().T
        assert corners[:, 2].min() >= 1.0  # nothing behind (or at) the camera
        uvw = corners @ k.T
        uv = uvw[:, :2] / uvw[:, 2:]
        x1, y1 = np.clip(uv.min(0), 0, [W, H])
        x2, y2 = np.clip(uv.max(0), 0, [W, H])
        np.testing.assert_allclose(ann['bbox'], [x1, y1, x2 - x1, y2 - y1], atol=1e-6)
        assert min(x2 - x1, y2 - y1) >= 4.0
        c = k @ np.asarray(ann['bbox_cam3d'][:3])
        np.testing.assert_allclose(ann['center2d'], [c[0] / c[2], c[1] / c[2], c[2]], atol=1e-6)
        assert 0 <= ann['center2d'][0] <= W and 0 <= ann['center2d'][1] <= H
        count += 1
    assert count >= 20
    clipped = [a for _, a in all_annotations(generated)
               if a['bbox'][0] == 0 or a['bbox'][1] == 0 or a['bbox'][0] + a['bbox'][2] == W
               or a['bbox'][1] + a['bbox'][3] == H]
    assert clipped  # some objects leave the image


def test_front_face_colour(generated: Path) -> None:
    checked = back_checked = 0
    for split in ('train', 'val'):
        data = load(generated, split)
        for img in data['images']:
            image = cv2.cvtColor(cv2.imread(str(generated / img['file_name'])), cv2.COLOR_BGR2RGB)
            k = np.asarray(img['cam2img'])
            anns = [a for a in data['annotations'] if a['image_id'] == img['id']]
            for ann in anns:
                x, y, w, h = ann['bbox']
                dist = math.hypot(ann['bbox_cam3d'][0], ann['bbox_cam3d'][2])
                nearer = [a for a in anns if math.hypot(a['bbox_cam3d'][0], a['bbox_cam3d'][2]) < dist]
                if any(a['bbox'][0] < x + w and x < a['bbox'][0] + a['bbox'][2]
                       and a['bbox'][1] < y + h and y < a['bbox'][1] + a['bbox'][3] for a in nearer):
                    continue  # possibly occluded
                corners = devkit_box(ann['bbox_cam3d']).corners().T  # devkit: corners 0-3 face forward
                for face, expect_front in (('front', True), ('back', False)):
                    idx = [0, 1, 2, 3] if face == 'front' else [4, 5, 6, 7]
                    center3d = corners[idx].mean(0)
                    heading = corners[0] - corners[4]
                    normal = heading if face == 'front' else -heading
                    if normal @ center3d >= 0:
                        continue  # this face looks away from the camera
                    uv = corners[idx] @ k.T
                    poly = (uv[:, :2] / uv[:, 2:]).astype(np.float32)
                    c = k @ center3d
                    u, v = c[0] / c[2], c[1] / c[2]
                    if cv2.pointPolygonTest(cv2.convexHull(poly), (float(u), float(v)), True) < 2.0:
                        continue
                    if not (0 <= round(u) < W and 0 <= round(v) < H):
                        continue
                    pixel = image[int(round(v)), int(round(u))].tolist()
                    hue = colorsys.rgb_to_hsv(*(np.asarray(pixel) / 255.0))[0]
                    if expect_front:  # the amber front face, exactly as recorded
                        assert pixel == ann['front_color'], (img['file_name'], ann['id'])
                        assert abs(hue - FRONT_HUE) < 0.02
                        checked += 1
                    else:  # the back face has the body colour, never amber
                        assert abs(hue - FRONT_HUE) > 0.05, (img['file_name'], ann['id'], pixel)
                        back_checked += 1
    assert checked >= 5 and back_checked >= 5
    assert set(BOX_FACES) == {'front', 'back', 'top', 'bottom', 'side0', 'side1'}


def test_depth_yaw_classes_attributes(generated: Path) -> None:
    depths, yaws, names = [], [], set()
    for _, ann in all_annotations(generated):
        x, y, z, l, h, w, yaw = ann['bbox_cam3d']
        name = ann['category_name']
        names.add(name)
        depths.append(z)
        yaws.append(yaw)
        assert 5.0 <= z <= 60.0 and -math.pi <= yaw < math.pi
        assert y + h / 2 == pytest.approx(1.5)  # standing on the ground plane
        mean = np.asarray(CLASS_SPECS[name]['size'])
        assert np.all(np.abs(np.array([l, h, w]) / mean - 1) <= 0.15 + 1e-9)
        allowed = {a[0] for a in CLASS_SPECS[name]['attrs']}
        vx, vz = ann['velo_cam3d']
        if allowed:
            assert ann['attribute_name'] in allowed
        else:
            assert ann['attribute_name'] is None and ann['attribute_id'] == -1
        speed = math.hypot(vx, vz)
        if ann['attribute_name'] in ('vehicle.moving', 'pedestrian.moving', 'cycle.with_rider'):
            assert speed > 0.4
            assert (vx * math.cos(yaw) - vz * math.sin(yaw)) / speed == pytest.approx(1.0)  # along the heading
        else:
            assert speed == 0.0
        assert 1 <= ann['visibility'] <= 4 and ann['visible_fraction'] >= 0.3 - 1e-9
    assert min(depths) < 20 and max(depths) > 40
    quadrants = {int((y + math.pi) // (math.pi / 2)) for y in yaws}
    assert quadrants == {0, 1, 2, 3}
    assert len(names) >= 4 and names <= set(NUSCENES_CLASSES)


def test_generate_if_missing(tmp_path: Path) -> None:
    ds = NuScenesMono3DDataset(ann_file='annotations/nus_mono3d_val.json', data_root=str(tmp_path / 'gen'),
                               generate_if_missing=dict(num_train=0, num_val=2, image_size=(64, 96), seed=1))
    assert len(ds) == 2 and (tmp_path / 'gen' / '.complete').is_file()
    with pytest.raises(ValueError, match='classes must be distinct'):
        ensure_synthetic_box3d(str(tmp_path / 'bad'), classes=['car', 'tree'])
