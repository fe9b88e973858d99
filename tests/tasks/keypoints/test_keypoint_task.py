"""KeypointTask targets and losses on hand-made persons, and the ``keypoints`` annotation kind."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks.box2d.task  # noqa: F401  (registers Box2DTask)
import centerx_tasks.keypoints.annotation_kind  # noqa: F401  (registers the 'keypoints' kind)
from centerx.data import WarpContext, warp_instances
from centerx.data.transforms import RandomFlip
from centerx.heatmap import CornerNetGaussian
from centerx.registry import ANNOTATION_KINDS, TASKS
from centerx.structures import ImageMeta
from centerx.task import Grid, concat_instances
from centerx_tasks.box2d.task import Box2DTask
from centerx_tasks.keypoints.annotation_kind import KeypointKind, flip_permutation
from centerx_tasks.keypoints.task import KeypointTask

STRIDE = 4
GRID = Grid(batch_size=1, shape=(16, 16), stride=STRIDE, input_shape=(64, 64))


def make_gt(boxes, keypoints, ignore=None, batch_idx=None) -> InstanceData:
    n = len(boxes)
    gt = InstanceData()
    gt.bboxes = torch.tensor(boxes, dtype=torch.float32).reshape(n, 4)
    gt.labels = torch.zeros(n, dtype=torch.int64)
    gt.ignore = torch.tensor(ignore if ignore is not None else [False] * n, dtype=torch.bool)
    keypoints = torch.tensor(np.asarray(keypoints), dtype=torch.float32)
    gt.keypoints = keypoints.reshape(n, keypoints.shape[-2], 3)
    gt.batch_idx = torch.tensor(batch_idx if batch_idx is not None else [0] * n, dtype=torch.int64)
    return gt


def encode(task: KeypointTask, gt: InstanceData, grid: Grid = GRID):
    centers = Box2DTask().centers(gt, grid)
    return centers, task.encode(gt, centers, grid)


# person box [9, 10, 41, 58] px -> grid [2.25, 2.5, 10.25, 14.5], center (6.25, 8.5), cell (6, 8)
BOX = [9.0, 10.0, 41.0, 58.0]
KPS = [[20.0, 30.0, 2.0],   # grid (5, 7.5): kps (-1, -0.5), cell (5, 7), offset (0, 0.5)
       [30.0, 14.0, 1.0],   # grid (7.5, 3.5): kps (1.5, -4.5), cell (7, 3), offset (0.5, 0.5)
       [22.0, 40.0, 0.0],   # unlabeled
       [70.0, 20.0, 2.0],   # right of the 64 px input: off the grid
       [-2.0, 20.0, 2.0]]   # left of the input


def test_registered() -> None:
    assert TASKS.get('KeypointTask') is KeypointTask
    assert ANNOTATION_KINDS.get('keypoints') is KeypointKind
    task = KeypointTask(num_keypoints=5)
    assert task.maps == {'kps': 10, 'kp_heatmap': 5, 'kp_offset': 2}
    assert task.requires == ('keypoints',) and task.provides == ('keypoints',)
    assert not task.places_centers


def test_encode_exact_targets() -> None:
    task = KeypointTask(num_keypoints=5)
    centers, t = encode(task, make_gt([BOX], [KPS]))
    assert centers.xy_int.tolist() == [[6, 8]]
    torch.testing.assert_close(t['kps'][0], torch.tensor([-1.0, -0.5, 1.5, -4.5, 0, 0, 0, 0, 0, 0]))
    assert t['kps_weight'][0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert t['kp_weight'][0].tolist() == [1, 1, 0, 0, 0]
    assert t['kp_cells'][0, :2].tolist() == [[5, 7], [7, 3]]
    torch.testing.assert_close(t['kp_offset'][0, :2], torch.tensor([[0.0, 0.5], [0.5, 0.5]]))
    # keypoint heatmaps: a peak of 1 at each labeled keypoint's cell, in its joint's channel only
    heat = task.render_heatmap(t, centers, GRID)
    assert heat.shape == (1, 5, 16, 16)
    assert heat[0, 0, 7, 5] == 1 and heat[0, 1, 3, 7] == 1
    assert (heat == 1).sum() == 2
    assert heat[0, 2:].max() == 0  # unlabeled and off-grid keypoints draw nothing
    # the Gaussian spreads over the person's CornerNet radius (size (8, 12) cells)
    r = int(CornerNetGaussian()(centers.sizes).radius[0, 0])
    assert r >= 1
    nz = heat[0, 0].nonzero()
    assert nz[:, 1].min() == 5 - r and nz[:, 1].max() == 5 + r
    assert nz[:, 0].min() == 7 - r and nz[:, 0].max() == 7 + r


def test_keypoint_on_grid_boundaries() -> None:
    """x = 0 is on the grid, x = W is not (cells cover [c, c + 1))."""
    task = KeypointTask(num_keypoints=4)
    kps = [[0.0, 20.0, 2], [64.0, 20.0, 2], [63.9, 0.0, 2], [20.0, 64.0, 2]]
    _, t = encode(task, make_gt([[0.0, 0.0, 64.0, 64.0]], [kps]))
    assert t['kp_weight'][0].tolist() == [1, 0, 1, 0]


def test_person_without_labeled_keypoints_and_nearby_persons() -> None:
    task = KeypointTask(num_keypoints=2)
    boxes = [BOX, [13.0, 10.0, 45.0, 58.0], [40.0, 40.0, 60.0, 60.0]]  # centers (6.25, 8.5), (7.25, 8.5), ...
    kps = [[[20.0, 30.0, 2], [30.0, 14.0, 2]],
           [[24.0, 30.0, 2], [34.0, 14.0, 1]],   # same joints, one cell to the right
           [[50.0, 50.0, 0], [0.0, 0.0, 0]]]     # no labeled keypoint
    centers, t = encode(task, make_gt(boxes, kps))
    assert centers.valid.all()
    assert centers.xy_int[:2].tolist() == [[6, 8], [7, 8]]  # adjacent cells
    # each person regresses its own keypoints from its own cell
    torch.testing.assert_close(t['kps'][0], torch.tensor([-1.0, -0.5, 1.5, -4.5]))
    torch.testing.assert_close(t['kps'][1], torch.tensor([-1.0, -0.5, 1.5, -4.5]))
    assert t['kp_cells'][1].tolist() == [[6, 7], [8, 3]]
    assert t['kps_weight'][2].sum() == 0 and t['kp_weight'][2].sum() == 0
    heat = task.render_heatmap(t, centers, GRID)
    assert (heat == 1).sum() == 4
    assert heat[0, 0, 7, 5] == 1 and heat[0, 0, 7, 6] == 1
    maps = task.perfect_maps(t, centers, GRID)
    torch.testing.assert_close(maps['kps'][0, :, 8, 6], t['kps'][0])
    torch.testing.assert_close(maps['kps'][0, :, 8, 7], t['kps'][1])
    assert maps['kps'][0, :, 12, 12].abs().sum() == 0  # the third person's cell holds zeros


def test_invalid_and_ignored_persons_get_no_targets() -> None:
    task = KeypointTask(num_keypoints=2)
    boxes = [BOX, [100.0, 100.0, 120.0, 120.0], [40.0, 40.0, 60.0, 60.0]]  # 2nd off the input, 3rd crowd
    kps = [[[20.0, 30.0, 2], [30.0, 14.0, 2]], [[20.0, 30.0, 2], [30.0, 14.0, 2]],
           [[50.0, 50.0, 2], [45.0, 45.0, 2]]]
    centers, t = encode(task, make_gt(boxes, kps, ignore=[False, False, True]))
    assert centers.valid.tolist() == [True, False, False]
    assert t['kp_weight'].tolist() == [[1, 1], [0, 0], [0, 0]]
    # non-finite keypoints are unlabeled, not NaN targets
    gt = make_gt([BOX], [[[float('nan'), 30.0, 2], [30.0, float('inf'), 2]]])
    _, t = encode(task, gt)
    assert t['kp_weight'].sum() == 0 and torch.isfinite(t['kps']).all() and torch.isfinite(t['kp_offset']).all()


def test_wrong_keypoint_count_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match='num_keypoints'):
        encode(KeypointTask(num_keypoints=17), make_gt([BOX], [KPS]))


def _preds(task: KeypointTask, grid: Grid = GRID, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    B, (H, W) = grid.batch_size, grid.shape
    return {name: torch.randn(B, c, H, W, generator=g).requires_grad_(True) for name, c in task.maps.items()}


def test_loss_finite_and_differentiable() -> None:
    task = KeypointTask(num_keypoints=5, loss_weights=dict(kps=2.0))
    centers, t = encode(task, make_gt([BOX], [KPS]))
    preds = _preds(task)
    losses = task.loss(preds, t, centers, GRID)
    assert set(losses) == {'loss_kps', 'loss_kp_heatmap', 'loss_kp_offset'}
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in preds.values())
    # normalization: the kps loss is the mean over the 4 labeled coordinates (times its weight 2)
    at = preds['kps'][0, :, 8, 6].detach()
    expected = 2 * (at[:4] - t['kps'][0, :4]).abs().mean()
    torch.testing.assert_close(losses['loss_kps'].detach(), expected)
    # a perfect kps / kp_offset prediction has zero regression loss
    perfect = task.perfect_maps(t, centers, GRID)
    zero = task.loss({**perfect, 'kp_heatmap': preds['kp_heatmap']}, t, centers, GRID)
    assert zero['loss_kps'] == 0 and zero['loss_kp_offset'] == 0


@pytest.mark.parametrize('case', ['no_labeled', 'no_persons'])
def test_zero_weight_paths_are_differentiable(case: str) -> None:
    task = KeypointTask(num_keypoints=3)
    if case == 'no_labeled':
        gt = make_gt([BOX], [[[20.0, 30.0, 0], [0, 0, 0], [90.0, 20.0, 2]]])
    else:
        gt = make_gt(np.zeros((0, 4)), np.zeros((0, 3, 3)))
    centers, t = encode(task, gt)
    preds = _preds(task)
    losses = task.loss(preds, t, centers, GRID)
    assert losses['loss_kps'] == 0 and losses['loss_kp_offset'] == 0
    assert torch.isfinite(losses['loss_kp_heatmap']) and losses['loss_kp_heatmap'] > 0  # negatives only
    sum(losses.values()).backward()
    for p in preds.values():
        assert p.grad is not None and torch.isfinite(p.grad).all()
    assert preds['kps'].grad.abs().sum() == 0


def test_images_without_keypoints_and_crowds_add_no_heatmap_loss() -> None:
    task = KeypointTask(num_keypoints=2)
    grid = Grid(batch_size=3, shape=(16, 16), stride=STRIDE, input_shape=(64, 64))
    a = InstanceData(bboxes=torch.tensor([BOX]), labels=torch.tensor([0]), ignore=torch.tensor([False]),
                     keypoints=torch.tensor([[[20.0, 30.0, 2], [30.0, 14.0, 2]]]))
    b = InstanceData(bboxes=torch.tensor([BOX]), labels=torch.tensor([0]), ignore=torch.tensor([False]))  # no kps
    c = InstanceData(bboxes=torch.tensor([[8.0, 8.0, 40.0, 40.0]]), labels=torch.tensor([0]),
                     ignore=torch.tensor([True]), keypoints=torch.zeros(1, 2, 3))  # a crowd
    gt = concat_instances([a, b, c])
    assert task.annotated_images(gt, 'keypoints', 3).tolist() == [True, False, True]
    centers, t = encode(task, gt, grid)
    assert t['kp_weight'].tolist() == [[1, 1], [0, 0], [0, 0]]
    preds = _preds(task, grid)
    base = task.loss(preds, t, centers, grid)['loss_kp_heatmap']
    with torch.no_grad():
        preds['kp_heatmap'][1] += 5.0                 # anything in the unannotated image
        preds['kp_heatmap'][2, :, 3:9, 3:9] += 5.0    # inside the crowd box (grid [2, 10))
    torch.testing.assert_close(task.loss(preds, t, centers, grid)['loss_kp_heatmap'], base)
    with torch.no_grad():
        preds['kp_heatmap'][2, :, 12:, 12:] += 5.0    # outside it: counts
    assert task.loss(preds, t, centers, grid)['loss_kp_heatmap'] > base


def test_batch_without_keypoint_annotations_adds_no_loss() -> None:
    """A box-only batch (no image has ``keypoints``): every keypoint loss is zero, still differentiable."""
    task = KeypointTask(num_keypoints=2)
    gt = concat_instances([InstanceData(bboxes=torch.tensor([BOX]), labels=torch.tensor([0]),
                                        ignore=torch.tensor([False]))])
    centers, t = encode(task, gt)
    assert t['image_ignored'].all() and t['kp_weight'].sum() == 0
    preds = _preds(task)
    losses = task.loss(preds, t, centers, GRID)
    assert all(v == 0 for v in losses.values())
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in preds.values())


def test_init_branch_bias() -> None:
    from centerx.models.center_head import conv_branch
    task = KeypointTask(num_keypoints=3)
    branch = conv_branch(8, 8, 3)
    task.init_branch('kp_heatmap', branch)
    assert torch.allclose(branch[-1].bias, torch.full((3,), -2.19))
    branch = conv_branch(8, 8, 6)
    task.init_branch('kps', branch)
    assert branch[-1].bias.abs().sum() == 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match='num_keypoints'):
        KeypointTask(num_keypoints=0)
    with pytest.raises(ValueError, match='out of range'):
        KeypointTask(num_keypoints=3, flip_pairs=[[1, 3]])
    with pytest.raises(ValueError, match='unknown loss_weights'):
        KeypointTask(num_keypoints=3, loss_weights=dict(hm_hp=1.0))
    with pytest.raises(ValueError, match='flip_pairs'):
        KeypointTask(num_keypoints=3).flip_output_maps({'kps': torch.zeros(1, 6, 2, 2),
                                                        'kp_heatmap': torch.zeros(1, 3, 2, 2)})


# ---------------------------------------------------------------- the annotation kind
NAMES5 = ['head', 'left_hand', 'right_hand', 'left_foot', 'right_foot']
PAIRS5 = [[1, 2], [3, 4]]


def _results(kps, metainfo, w=100, h=80):
    kps = np.asarray(kps, np.float32).reshape(1, -1, 3)
    return dict(img=np.zeros((h, w, 3), np.uint8),
                meta=ImageMeta(img_id=1, img_path='mem', ori_shape=(h, w), img_shape=(h, w), pad_shape=(h, w)),
                instances=dict(bboxes=np.array([[10, 10, 60, 70]], np.float32), labels=np.array([0]),
                               ignore=np.array([False]), keypoints=kps),
                metainfo=metainfo)


def test_kind_flip_swaps_pairs_and_mirrors_x() -> None:
    kps = [[30, 20, 2], [20, 40, 2], [50, 41, 1], [25.5, 70, 0], [44.25, 69, 2]]
    out = RandomFlip(prob=1.0)(_results(kps, dict(keypoint_names=NAMES5, flip_pairs=PAIRS5)))
    got = out['instances']['keypoints'][0]
    k = np.asarray(kps, np.float32)
    perm = [0, 2, 1, 4, 3]
    np.testing.assert_allclose(got[:, 0], 100 - k[perm, 0])
    np.testing.assert_allclose(got[:, 1], k[perm, 1])
    np.testing.assert_array_equal(got[:, 2], k[perm, 2])  # visibility travels with its point
    # 'left_hand' is now the mirrored right hand
    assert got[NAMES5.index('left_hand')].tolist() == [50.0, 41.0, 1.0]
    assert got.dtype == np.float32


def test_kind_affine_without_flip_and_no_clipping() -> None:
    matrix = np.array([[0.5, 0.0, 10.0], [0.0, 0.5, -4.0], [0.0, 0.0, 1.0]])
    kps = np.array([[[30, 20, 2], [300, -50, 1], [0, 0, 0]]], np.float32)
    got = KeypointKind().warp(kps, matrix, WarpContext(out_shape=(40, 50)))
    np.testing.assert_allclose(got[0], [[25, 6, 2], [160, -29, 1], [10, -4, 0]])


def test_kind_flip_needs_flip_pairs() -> None:
    with pytest.raises(ValueError, match='flip_pairs'):
        RandomFlip(prob=1.0)(_results([[30, 20, 2]] * 5, dict(keypoint_names=NAMES5)))
    # no left/right pairs, declared explicitly: x mirrors, nothing swaps
    out = RandomFlip(prob=1.0)(_results([[30, 20, 2], [10, 10, 2]], dict(flip_pairs=[])))
    np.testing.assert_allclose(out['instances']['keypoints'][0, :, 0], [70, 90])
    # without a flip, no flip_pairs are needed
    warp_instances(dict(keypoints=np.zeros((1, 5, 3), np.float32)), np.eye(3), WarpContext(out_shape=(8, 8)))


def test_kind_custom_k_and_empty() -> None:
    ctx = WarpContext(out_shape=(80, 100), flip=True, metainfo=dict(keypoint_names=NAMES5, flip_pairs=PAIRS5))
    flip = np.array([[-1.0, 0, 100], [0, 1, 0], [0, 0, 1]])
    empty = KeypointKind().warp(np.zeros((0, 5, 3), np.float32), flip, ctx)
    assert empty.shape == (0, 5, 3)
    assert KeypointKind().warp(np.zeros((0,), np.float32), flip, ctx).shape == (0, 5, 3)
    kps = np.random.default_rng(0).uniform(0, 80, (3, 5, 3)).astype(np.float32)
    twice = KeypointKind().warp(KeypointKind().warp(kps, flip, ctx), flip, ctx)
    np.testing.assert_allclose(twice, kps, atol=1e-5)  # a flip is an involution
    with pytest.raises(ValueError, match=r'\(N, K, 3\)'):
        KeypointKind().warp(np.zeros((2, 10), np.float32), flip, ctx)


def test_flip_permutation_validation() -> None:
    assert flip_permutation(5, PAIRS5) == [0, 2, 1, 4, 3]
    assert flip_permutation(3, []) == [0, 1, 2]
    assert flip_permutation(0, None) == []
    for bad in ([[1, 1]], [[1, 2], [2, 3]], [[0, 5]], [[1, 2, 3]]):
        with pytest.raises(ValueError):
            flip_permutation(5, bad)
    with pytest.raises(ValueError, match=r'flip_pairs=\[\]'):
        flip_permutation(5, None)


def test_a_non_gaussian_keypoint_kernel_is_refused_at_build() -> None:
    with pytest.raises(ValueError, match='keypoint heatmap kernel must be a Gaussian, got CenternessKernel'):
        KeypointTask(num_keypoints=3, kernel=dict(type='CenternessKernel'))
    KeypointTask(num_keypoints=3, kernel=dict(type='EllipticalGaussian'))  # any Gaussian builds
