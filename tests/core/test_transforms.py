"""Geometric transforms move images, boxes and ``meta.affine`` consistently; packing and loading."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from centerx.data.geometry import apply_to_points
from centerx.data.transforms import (CenterAffine, LoadImage, PackDetInputs, RandomCenterAffine,
                                     RandomFlip)
from centerx.structures import DetSample, ImageMeta

RECT_COLOR = (10, 200, 30)
BG_COLOR = (90, 60, 120)


def make_results(h: int = 120, w: int = 160, rect=(40, 30, 90, 70)) -> dict:
    """A flat background with one filled rectangle covering pixels [x1, x2) x [y1, y2)."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = BG_COLOR
    x1, y1, x2, y2 = rect
    img[y1:y2, x1:x2] = RECT_COLOR
    return dict(img=img, meta=ImageMeta(img_id=1, img_path='mem.png', ori_shape=(h, w), img_shape=(h, w),
                                        pad_shape=(h, w)),
                instances=dict(bboxes=np.array([rect], np.float32), labels=np.array([3], np.int64),
                               ignore=np.array([False])))


def colour_at(img: np.ndarray, pt) -> tuple:
    return tuple(int(v) for v in img[int(np.floor(pt[1])), int(np.floor(pt[0]))])


def test_random_flip_boxes_image_and_affine() -> None:
    res = make_results()
    rng = np.random.default_rng(0)
    res['img'] = rng.integers(0, 256, res['img'].shape, dtype=np.uint8)
    original = res['img'].copy()
    out = RandomFlip(prob=1.0)(res)
    assert np.array_equal(out['img'], original[:, ::-1])
    np.testing.assert_array_equal(out['instances']['bboxes'], [[160 - 90, 30, 160 - 40, 70]])
    assert out['instances']['labels'].tolist() == [3] and out['instances']['ignore'].tolist() == [False]
    meta = out['meta']
    assert meta.flipped and meta.img_shape == (120, 160)
    # every original pixel center lands on the pixel that now holds its colour
    for c, r in [(0, 0), (159, 0), (17, 33), (80, 119), (158, 60)]:
        pt = apply_to_points(np.array([c + 0.5, r + 0.5]), meta.affine)
        assert colour_at(out['img'], pt) == tuple(int(v) for v in original[r, c])
    # twice is the identity
    out = RandomFlip(prob=1.0)(out)
    assert np.array_equal(out['img'], original) and not out['meta'].flipped
    np.testing.assert_allclose(out['meta'].affine, np.eye(3))
    np.testing.assert_array_equal(out['instances']['bboxes'], [[40, 30, 90, 70]])


def test_random_flip_prob_zero_is_noop() -> None:
    res = make_results()
    img = res['img'].copy()
    out = RandomFlip(prob=0.0)(res)
    assert np.array_equal(out['img'], img) and not out['meta'].flipped


def _interior_grid(box, margin: float, n: int = 7) -> np.ndarray:
    x1, y1, x2, y2 = box
    xs = np.linspace(x1 + margin, x2 - margin, n)
    ys = np.linspace(y1 + margin, y2 - margin, n)
    return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)


@pytest.mark.parametrize('seed', [0, 1, 2, 3, 4])
@pytest.mark.parametrize('mode', ['random_crop', 'shift_scale'])
def test_random_center_affine_keeps_rectangle_under_its_box(seed: int, mode: str) -> None:
    np.random.seed(seed)
    res = make_results()
    out = RandomCenterAffine(input_size=(96, 80), mode=mode, border=32)(res)
    img, meta = out['img'], out['meta']
    assert img.shape == (80, 96, 3) and meta.img_shape == (80, 96)
    box = out['instances']['bboxes'][0]
    # the box is the rectangle's corners through meta.affine
    corners = apply_to_points(np.array([[40.0, 30.0], [90.0, 70.0]]), meta.affine)
    np.testing.assert_allclose(box, corners.reshape(-1), atol=1e-3)
    # sample the interior of the warped box (1.5 px from its edges, inside the image)
    pts = _interior_grid(box, 1.5)
    pts = pts[(pts[:, 0] >= 0) & (pts[:, 0] < 96) & (pts[:, 1] >= 0) & (pts[:, 1] < 80)]
    assert len(pts) > 0, 'the crop should keep part of the rectangle for these seeds'
    for pt in pts:
        assert colour_at(img, pt) == RECT_COLOR, (pt, box)
    # just outside the box (1.5 px) is background or the border fill, never the rectangle
    x1, y1, x2, y2 = box
    outside = np.array([[x1 - 1.5, (y1 + y2) / 2], [x2 + 1.5, (y1 + y2) / 2],
                        [(x1 + x2) / 2, y1 - 1.5], [(x1 + x2) / 2, y2 + 1.5]])
    for pt in outside:
        if 0 <= pt[0] < 96 and 0 <= pt[1] < 80:
            assert colour_at(img, pt) in (BG_COLOR, (0, 0, 0)), pt


def test_random_center_affine_rotation_maps_points_by_affine() -> None:
    np.random.seed(11)
    res = make_results()
    out = RandomCenterAffine(input_size=(128, 128), mode='shift_scale', rotation=30.0, shift=0.0,
                             scale=0.0)(res)
    meta = out['meta']
    lin = meta.affine[:2, :2]
    assert abs(lin[0, 1]) > 0.05, 'expected a rotated warp for this seed'
    # points well inside the rectangle land on rectangle-coloured pixels
    for pt in _interior_grid((40, 30, 90, 70), 3.0):
        q = apply_to_points(pt, meta.affine)
        if 0 <= q[0] < 128 and 0 <= q[1] < 128:
            assert colour_at(out['img'], q) == RECT_COLOR
    # the box is the bound of the rotated corners
    corners = apply_to_points(np.array([[40.0, 30.0], [90.0, 30.0], [90.0, 70.0], [40.0, 70.0]]), meta.affine)
    np.testing.assert_allclose(out['instances']['bboxes'][0],
                               np.concatenate([corners.min(0), corners.max(0)]), atol=1e-3)


def test_center_affine_letterbox_and_inverse() -> None:
    res = make_results(h=100, w=200, rect=(20, 10, 60, 50))
    out = CenterAffine(input_size=(128, 96))(res)
    meta = out['meta']
    assert out['img'].shape == (96, 128, 3) and meta.img_shape == (96, 128)
    np.testing.assert_allclose(meta.inverse_affine @ meta.affine, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(meta.affine @ meta.inverse_affine, np.eye(3), atol=1e-12)
    # scale 128 / 200, image center -> input center, so the top-left corner -> (0, 48 - 32)
    np.testing.assert_allclose(apply_to_points(np.array([100.0, 50.0]), meta.affine), [64, 48])
    np.testing.assert_allclose(apply_to_points(np.array([0.0, 0.0]), meta.affine), [0, 16])
    np.testing.assert_allclose(out['instances']['bboxes'][0], np.array([20, 10, 60, 50]) * 0.64 + [0, 16, 0, 16],
                               atol=1e-4)
    # letterbox bands are the border value; content is the resized image
    assert tuple(out['img'][2, 64]) == (0, 0, 0) and tuple(out['img'][93, 64]) == (0, 0, 0)
    assert tuple(out['img'][48, 100]) == BG_COLOR
    assert colour_at(out['img'], apply_to_points(np.array([40.0, 30.0]), meta.affine)) == RECT_COLOR


def test_center_affine_without_size_pads_to_divisor() -> None:
    res = make_results(h=100, w=200)
    img = res['img'].copy()
    out = CenterAffine(input_size=None, size_divisor=32)(res)
    assert out['img'].shape == (128, 224, 3)
    assert np.array_equal(out['img'][:100, :200], img)
    assert not out['img'][100:].any() and not out['img'][:, 200:].any()
    np.testing.assert_allclose(out['meta'].affine, np.eye(3))


def test_affines_compose_in_order() -> None:
    np.random.seed(5)
    res = make_results()
    out = RandomFlip(prob=1.0)(res)
    flip = out['meta'].affine.copy()
    out = RandomCenterAffine(input_size=(96, 96), mode='shift_scale')(out)
    assert out['meta'].flipped
    box = out['instances']['bboxes'][0]
    c = apply_to_points(np.array([[40.0, 30.0], [90.0, 70.0]]), out['meta'].affine)
    np.testing.assert_allclose(box, np.concatenate([c.min(0), c.max(0)]), atol=1e-3)
    assert not np.allclose(out['meta'].affine, flip)
    np.testing.assert_allclose(out['meta'].inverse_affine @ out['meta'].affine, np.eye(3), atol=1e-10)


def test_pack_det_inputs_keeps_every_field() -> None:
    n = 5
    rng = np.random.default_rng(0)
    res = make_results()
    res['instances'] = dict(bboxes=rng.uniform(0, 50, (n, 4)),  # float64
                            labels=np.arange(n, dtype=np.int32),
                            ignore=np.array([True, False, False, True, False]),
                            difficult=np.array([0, 1, 0, 0, 1], np.uint8),
                            keypoints=rng.uniform(0, 50, (n, 3, 3)).astype(np.float16))
    out = PackDetInputs()(res)
    assert set(out) == {'inputs', 'data_samples'}
    assert out['inputs'].shape == (3, 120, 160) and out['inputs'].dtype == torch.uint8
    assert torch.equal(out['inputs'], torch.from_numpy(res['img']).permute(2, 0, 1))
    sample = out['data_samples']
    assert isinstance(sample, DetSample) and sample.meta is res['meta']
    gt = sample.gt
    assert set(gt.keys()) == {'bboxes', 'labels', 'ignore', 'difficult', 'keypoints'}
    assert len(gt) == n
    assert gt.bboxes.dtype == torch.float32 and gt.bboxes.shape == (n, 4)
    np.testing.assert_allclose(gt.bboxes.numpy(), res['instances']['bboxes'], rtol=1e-6)
    assert gt.labels.dtype == torch.int64 and gt.labels.tolist() == list(range(n))
    assert gt.ignore.dtype == torch.bool and gt.ignore.tolist() == [True, False, False, True, False]
    assert gt.difficult.dtype == torch.int64 and gt.difficult.tolist() == [0, 1, 0, 0, 1]
    assert gt.keypoints.dtype == torch.float32 and gt.keypoints.shape == (n, 3, 3)


def test_pack_det_inputs_gray_and_empty() -> None:
    res = make_results()
    res['img'] = res['img'][..., 0]
    res['instances'] = dict(bboxes=np.zeros((0, 4), np.float32), labels=np.zeros(0, np.int64))
    out = PackDetInputs()(res)
    assert out['inputs'].shape == (1, 120, 160)
    assert len(out['data_samples'].gt) == 0 and out['data_samples'].gt.bboxes.shape == (0, 4)


@pytest.mark.parametrize('transform', [RandomFlip(prob=1.0), CenterAffine(input_size=(64, 64)),
                                       RandomCenterAffine(input_size=(64, 64))])
def test_unregistered_annotation_field_raises_naming_it(transform) -> None:
    np.random.seed(0)
    res = make_results()
    res['instances']['widget_corners'] = np.zeros((1, 4, 2), np.float32)
    with pytest.raises(KeyError, match='widget_corners'):
        transform(res)


def test_load_image_missing_file(tmp_path: Path) -> None:
    path = str(tmp_path / 'nope' / 'missing.png')
    with pytest.raises(FileNotFoundError) as info:
        LoadImage()(dict(img_path=path, img_id=7))
    assert path in str(info.value) and 'img_id=7' in str(info.value)


def test_load_image_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / 'corrupt.png'
    path.write_bytes(b'\x89PNG\r\n\x1a\n this is not really a png')
    with pytest.raises(ValueError) as info:
        LoadImage()(dict(img_path=str(path), img_id=8))
    assert str(path) in str(info.value)


def test_load_image_reads_bgr_and_starts_meta(tmp_path: Path) -> None:
    img = np.zeros((20, 30, 3), np.uint8)
    img[5:10, 3:8] = (1, 2, 3)
    path = str(tmp_path / 'ok.png')
    assert cv2.imwrite(path, img)
    out = LoadImage()(dict(img_path=path, img_id=3, height=20, width=30))
    assert np.array_equal(out['img'], img)
    meta = out['meta']
    assert meta.ori_shape == (20, 30) and meta.img_id == 3 and meta.img_path == path
    np.testing.assert_allclose(meta.affine, np.eye(3))
    assert out['instances'] == {}
    with pytest.raises(ValueError, match='ok.png'):
        LoadImage()(dict(img_path=path, img_id=3, height=21, width=30))


@pytest.mark.parametrize('hw,input_size', [((100, 100), (128, 64)), ((100, 200), (128, 48))])
def test_center_affine_fits_whole_image_for_wide_inputs(hw, input_size) -> None:
    h, w = hw
    res = make_results(h=h, w=w, rect=(10, 10, 30, 30))
    out = CenterAffine(input_size=input_size)(res)
    corners = apply_to_points(np.array([[0.0, 0.0], [float(w), float(h)]]), out['meta'].affine)
    assert corners.min() >= -1e-6
    assert corners[1, 0] <= input_size[0] + 1e-6 and corners[1, 1] <= input_size[1] + 1e-6


@pytest.mark.parametrize('hw,input_size', [((100, 100), (64, 128)), ((100, 200), (128, 96)), ((200, 100), (96, 96))])
def test_center_affine_fits_whole_image_for_tall_or_square_inputs(hw, input_size) -> None:
    h, w = hw
    res = make_results(h=h, w=w, rect=(10, 10, 30, 30))
    out = CenterAffine(input_size=input_size)(res)
    corners = apply_to_points(np.array([[0.0, 0.0], [float(w), float(h)]]), out['meta'].affine)
    assert corners.min() >= -1e-6
    assert corners[1, 0] <= input_size[0] + 1e-6 and corners[1, 1] <= input_size[1] + 1e-6
    # and it is centred
    np.testing.assert_allclose(corners.mean(0), [input_size[0] / 2, input_size[1] / 2], atol=1e-9)


def _centroid(img: np.ndarray) -> np.ndarray:
    """Intensity centroid (x, y) in continuous pixel coordinates (pixel i covers [i, i + 1))."""
    v = img.astype(np.float64)
    ys, xs = np.mgrid[0:v.shape[0], 0:v.shape[1]]
    return np.array([((xs + 0.5) * v).sum(), ((ys + 0.5) * v).sum()]) / v.sum()


@pytest.mark.parametrize('scale_to', [(64, 64), (80, 80)])
def test_image_warp_is_subpixel_aligned_with_annotations(scale_to) -> None:
    """The image content moves exactly like annotation coordinates (half-pixel convention)."""
    img = np.zeros((32, 32, 3), np.uint8)
    img[10:13, 20:23] = 200  # a 3x3 block: pixels [20, 23) x [10, 13), center (21.5, 11.5)
    res = dict(img=img, meta=ImageMeta(img_id=1, img_path='', ori_shape=(32, 32), img_shape=(32, 32)),
               instances=dict(bboxes=np.array([[20, 10, 23, 13]], np.float32)))
    out = CenterAffine(input_size=scale_to)(res)
    expected = apply_to_points(np.array([21.5, 11.5]), out['meta'].affine)
    np.testing.assert_allclose(_centroid(out['img'][..., 0]), expected, atol=0.02)
    box = out['instances']['bboxes'][0]
    np.testing.assert_allclose((box[:2] + box[2:]) / 2, expected, atol=1e-4)
