"""Box3DTask pieces: camera helpers, encodings, the exclusion rule, losses and annotation kinds."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks.box3d.annotation_kinds  # noqa: F401  (registers boxes3d / velocities / attr_labels)
from centerx.data import WarpContext, warp_instances
from centerx.data.geometry import hflip_matrix
from centerx.decode import Peaks
from centerx.registry import TASKS
from centerx.structures import ImageMeta
from centerx.task import DecodeContext, Grid
from centerx_tasks.box3d.camera import (alpha_to_yaw, box3d_corners, boxes3d_to_rects, invert_3x3, mirror_boxes3d,
                                mirror_boxes3d_np, project_points, unproject, wrap_angle, yaw_to_alpha)
from centerx_tasks.box3d.camera_meta import CAMERA_INPUT, CameraMeta, input_cam2img
from centerx_tasks.box3d.class_stats import (CLASS_ATTRIBUTES, DEFAULT_ATTRIBUTES, DEVKIT_DETECTION_NAMES, INFO_CLASSES,
                                     NUSCENES_ATTRIBUTES, NUSCENES_CLASSES, NUSCENES_MEAN_SIZES,
                                     mean_size_table)
from centerx_tasks.box3d.task import Box3DTask

K_NUS = np.array([[1266.4, 0.0, 816.3], [0.0, 1266.4, 491.5], [0.0, 0.0, 1.0]])


def angle_diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return wrap_angle(a - b).abs()


def random_boxes(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xyz = torch.stack([torch.empty(n).uniform_(-20, 20, generator=g), torch.empty(n).uniform_(-2, 3, generator=g),
                       torch.empty(n).uniform_(1, 60, generator=g)], 1)
    dims = torch.empty(n, 3).uniform_(0.3, 12, generator=g)
    yaw = torch.empty(n, 1).uniform_(-math.pi, math.pi, generator=g)
    return torch.cat([xyz, dims, yaw], 1).double()


# ---------------------------------------------------------------- camera helpers
def test_project_unproject_identity() -> None:
    pts = random_boxes(500)[:, :3]
    for flip in (1.0, -1.0):  # a flipped input camera has a negative fx
        K = torch.tensor(K_NUS).double() * 0.5
        K[2, 2] = 1.0
        K[0, 0] *= flip
        uv = project_points(pts, K)
        back = unproject(uv, pts[:, 2], K)
        assert torch.allclose(back, pts, atol=1e-9)
    # general K (third row not (0, 0, 1)) and batched broadcasting
    Kb = torch.randn(4, 1, 3, 3).double() + 3 * torch.eye(3).double()
    p = pts[:40].view(4, 10, 3)
    uv = project_points(p, Kb)
    depth = p[..., 2]
    assert torch.allclose(project_points(unproject(uv, depth, Kb), Kb), uv, atol=1e-7)


def test_invert_3x3_matches_linalg() -> None:
    A = torch.randn(50, 3, 3).double() + 2 * torch.eye(3).double()
    assert torch.allclose(invert_3x3(A), torch.linalg.inv(A), atol=1e-9)


def test_corners_convention() -> None:
    box = torch.tensor([[1.0, 2.0, 10.0, 4.0, 1.5, 2.0, 0.0]]).double()
    c = box3d_corners(box)[0]
    assert c.shape == (8, 3)
    assert torch.allclose(c.mean(0), box[0, :3])  # gravity center
    ext = c.max(0).values - c.min(0).values
    assert torch.allclose(ext, torch.tensor([4.0, 1.5, 2.0]).double())  # yaw 0: l along x, h along y, w along z
    # yaw = -pi/2: l along +z (heading away from the camera)
    box[0, 6] = -math.pi / 2
    ext = box3d_corners(box)[0].max(0).values - box3d_corners(box)[0].min(0).values
    assert torch.allclose(ext, torch.tensor([2.0, 1.5, 4.0]).double(), atol=1e-12)
    # heading (the +l face) is (cos yaw, 0, -sin yaw) for every yaw
    boxes = random_boxes(100, seed=1)
    corners = box3d_corners(boxes)
    front = corners[:, 4:].mean(1) - boxes[:, :3]  # sx = +1 corners are rows 4..7
    yaw = boxes[:, 6]
    heading = torch.stack([torch.cos(yaw), torch.zeros_like(yaw), -torch.sin(yaw)], 1) * boxes[:, 3:4] / 2
    assert torch.allclose(front, heading, atol=1e-9)
    # edges keep their lengths under rotation
    assert torch.allclose((corners[:, 4] - corners[:, 0]).norm(dim=1), boxes[:, 3])
    assert torch.allclose((corners[:, 1] - corners[:, 0]).norm(dim=1), boxes[:, 5])


def test_rects_enclose_projected_corners() -> None:
    boxes = random_boxes(50, seed=2)
    boxes[:, 2] += 20  # all corners in front
    K = torch.tensor(K_NUS).double()
    rects = boxes3d_to_rects(boxes, K)
    uv = project_points(box3d_corners(boxes), K)
    assert torch.allclose(rects[:, :2], uv.min(1).values) and torch.allclose(rects[:, 2:], uv.max(1).values)


def test_alpha_yaw_round_trip_all_yaws_and_positions() -> None:
    yaw = torch.linspace(-math.pi, math.pi, 73).double()
    x = torch.linspace(-30, 30, 13).double()
    z = torch.tensor([0.5, 5.0, 40.0]).double()
    Y, X, Z = torch.meshgrid(yaw, x, z, indexing='ij')
    alpha = yaw_to_alpha(Y, X, Z)
    assert (alpha >= -math.pi).all() and (alpha < math.pi).all()
    assert angle_diff(alpha_to_yaw(alpha, X, Z), Y).max() < 1e-9
    # an object heading straight away from the camera along its viewing ray has alpha = -pi/2
    phi = torch.atan2(X, Z)
    away = wrap_angle(phi - math.pi / 2)  # heading (cos yaw, -sin yaw) == (sin phi, cos phi)
    assert angle_diff(yaw_to_alpha(away, X, Z), torch.full_like(X, -math.pi / 2)).max() < 1e-9


def test_mirror_twice_is_identity_and_mirrors_corners() -> None:
    boxes = random_boxes(200, seed=3)
    twice = mirror_boxes3d(mirror_boxes3d(boxes))
    assert torch.allclose(twice[:, :6], boxes[:, :6])
    assert angle_diff(twice[:, 6], boxes[:, 6]).max() < 1e-9
    # the mirrored box's corners are the mirrored corners (as a set)
    m = box3d_corners(mirror_boxes3d(boxes))
    ref = box3d_corners(boxes) * torch.tensor([-1.0, 1.0, 1.0]).double()
    d = (m[:, :, None, :] - ref[:, None, :, :]).norm(dim=-1)  # (N, 8, 8)
    assert d.min(dim=2).values.max() < 1e-9
    # alpha -> pi - alpha
    a = yaw_to_alpha(boxes[:, 6], boxes[:, 0], boxes[:, 2])
    mb = mirror_boxes3d(boxes)
    assert angle_diff(yaw_to_alpha(mb[:, 6], mb[:, 0], mb[:, 2]), math.pi - a).max() < 1e-9
    # numpy version agrees
    np.testing.assert_allclose(mirror_boxes3d_np(boxes.numpy()), mirror_boxes3d(boxes).numpy(), atol=1e-5)


# ---------------------------------------------------------------- encodings
@pytest.mark.parametrize('encoding', ['inverse_sigmoid', 'log', 'linear'])
def test_depth_encoding_round_trip(encoding: str) -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES, depth_encoding=encoding)
    depth = torch.linspace(0.2, 120.0, 500)
    assert torch.allclose(task.decode_depth(task.encode_depth(depth)), depth, rtol=1e-5)


def test_inverse_sigmoid_is_centernet_formula() -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES, depth_encoding='inverse_sigmoid')
    o = torch.linspace(-6, 6, 101, dtype=torch.float64)
    assert torch.allclose(task.decode_depth(o), 1 / torch.sigmoid(o) - 1, rtol=1e-9)


def test_dims_log_ratio_round_trip() -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES)
    labels = torch.arange(10).repeat(20)
    dims = torch.rand(200, 3) * 10 + 0.1
    enc = task.encode_dims(dims, labels)
    assert torch.allclose(task.decode_dims(enc, labels), dims, rtol=1e-6)
    mean = task.encode_dims(task.mean_sizes.clone(), torch.arange(10))
    assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-7)  # a mean-size box encodes to 0


@pytest.mark.parametrize('orientation', ['sincos', 'multibin'])
def test_orientation_round_trip(orientation: str) -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES, orientation=orientation)
    assert task.maps['rot'] == (2 if orientation == 'sincos' else 8)
    alpha = torch.linspace(-math.pi, math.pi, 721)[:-1].double()
    enc = task.encode_alpha(alpha)
    assert angle_diff(task.decode_alpha(enc), alpha).max() < 1e-9
    if orientation == 'multibin':
        assert ((enc[:, 1] + enc[:, 5]) >= 1).all()  # the two bins cover every angle
        # a network that picks bin 2 by a clear margin reads bin 2's residual
        logits = enc.clone()
        logits[:, 4:6] = torch.tensor([-5.0, 5.0]).double()
        inside2 = enc[:, 5] > 0
        assert angle_diff(task.decode_alpha(logits)[inside2], alpha[inside2]).max() < 1e-9


# ---------------------------------------------------------------- centers and the exclusion rule
def _meta(shape=(256, 512), flipped=False) -> ImageMeta:
    m = ImageMeta(img_id='a', img_path='', ori_shape=shape, img_shape=shape, pad_shape=shape,
                  task_metas=[CameraMeta(cam2img=np.array([[400.0, 0, 256], [0, 400.0, 128], [0, 0, 1]]))])
    if flipped:
        m.compose(hflip_matrix(shape[1]), shape, flip=True)
    return m


def _gt(boxes, labels=None, ignore=None, bboxes=None) -> InstanceData:
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 7)
    n = len(boxes)
    gt = InstanceData(boxes3d=boxes,
                      labels=torch.tensor(labels if labels is not None else [0] * n, dtype=torch.int64),
                      ignore=torch.tensor(ignore if ignore is not None else [False] * n),
                      batch_idx=torch.zeros(n, dtype=torch.int64))
    if bboxes is not None:
        gt.bboxes = torch.tensor(bboxes, dtype=torch.float32)
    return gt


def _grid(metas, shape=(256, 512)) -> Grid:
    return Grid(batch_size=len(metas), shape=(shape[0] // 4, shape[1] // 4), stride=4, input_shape=shape,
                metas=list(metas))


def test_behind_camera_and_outside_image_place_no_peak() -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES)
    boxes = [[0.0, 0.0, 10.0, 4.0, 1.5, 2.0, 0.0],    # visible, projects to (256, 128)
             [0.0, 0.0, -5.0, 4.0, 1.5, 2.0, 0.0],    # behind the camera
             [0.0, 0.0, 0.05, 4.0, 1.5, 2.0, 0.0],    # in front but closer than min_depth
             [20.0, 0.0, 10.0, 4.0, 1.5, 2.0, 0.0],   # u = 256 + 800 -> right of the image
             [0.0, -4.0, 10.0, 4.0, 1.5, 2.0, 0.0],   # v = 128 - 160 -> above the image
             [0.0, 0.0, 10.0, 4.0, 1.5, 2.0, 0.0],    # visible but ignored
             [float('nan')] * 7]                      # unusable
    gt = _gt(boxes, ignore=[False] * 5 + [True, False])
    grid = _grid([_meta()])
    c = task.centers(gt, grid)
    assert c.valid.tolist() == [True, False, False, False, False, False, False]
    assert c.ignore.tolist() == [False] * 5 + [True, False]
    assert task.exclusions == {'behind_camera': 2, 'outside_image': 2}
    assert torch.allclose(c.xy[0], torch.tensor([64.0, 32.0]))
    t = task.encode(gt, c, grid)
    assert t['weight'].tolist() == [1.0] + [0.0] * 6
    for name in task.maps:
        assert torch.isfinite(t[name]).all()


def test_kernel_sizes_from_2d_box_else_projected_box() -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES)
    box = [0.0, 0.0, 10.0, 4.0, 1.5, 2.0, 0.0]
    grid = _grid([_meta()])
    with_2d = task.centers(_gt([box], bboxes=[[200.0, 100.0, 240.0, 120.0]]), grid)
    assert torch.allclose(with_2d.sizes, torch.tensor([[10.0, 5.0]]))
    without = task.centers(_gt([box]), grid)
    rect = boxes3d_to_rects(torch.tensor([box]), torch.tensor(input_cam2img(_meta()), dtype=torch.float32)) / 4
    assert torch.allclose(without.sizes, rect[:, 2:] - rect[:, :2], atol=1e-4)
    # NaN 2D box rows fall back to the projected box
    mixed = task.centers(_gt([box], bboxes=[[float('nan')] * 4]), grid)
    assert torch.allclose(mixed.sizes, without.sizes)


def test_box2d_center_mode_offsets_reach_the_projected_center() -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES, center='box2d')
    box = [2.0, 0.5, 10.0, 4.0, 1.5, 2.0, 0.3]
    gt = _gt([box], bboxes=[[100.0, 90.0, 300.0, 200.0]])
    grid = _grid([_meta()])
    c = task.centers(gt, grid)
    assert torch.allclose(c.xy, torch.tensor([[50.0, 36.25]]))
    t = task.encode(gt, c, grid)
    uv = project_points(torch.tensor(box[:3]), torch.tensor(input_cam2img(_meta()), dtype=torch.float32)) / 4
    assert torch.allclose(t['offset'][0], uv - c.xy_int[0].float(), atol=1e-5)
    assert not (0 <= t['offset'][0]).all() or not (t['offset'][0] < 1).all()


def test_missing_metas_raise_only_when_needed() -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES)
    grid = Grid(batch_size=1, shape=(64, 128), stride=4, input_shape=(256, 512))
    with pytest.raises(ValueError, match='camera'):
        task.centers(_gt([[0.0, 0.0, 10.0, 4.0, 1.5, 2.0, 0.0]]), grid)
    empty = task.centers(_gt(np.zeros((0, 7))), grid)
    assert empty.valid.numel() == 0


def _perfect_round_trip(task: Box3DTask, gt: InstanceData, metas, shape=(256, 512)):
    grid = _grid(metas, shape)
    c = task.centers(gt, grid)
    t = task.encode(gt, c, grid)
    maps = task.perfect_maps(t, c, grid)
    xy = c.xy_int
    peaks = Peaks(scores=torch.ones(1, len(gt)), labels=gt.labels[None], xs=xy[None, :, 0], ys=xy[None, :, 1],
                  index=(xy[:, 1] * grid.shape[1] + xy[:, 0])[None])
    ctx = DecodeContext(grid=grid, inverse_affine=torch.eye(3)[None], metas=list(metas))
    return task.decode(maps, peaks, ctx), maps, t, c, grid


@pytest.mark.parametrize('flipped', [False, True])
@pytest.mark.parametrize('orientation', ['sincos', 'multibin'])
def test_decode_inverts_encode(flipped: bool, orientation: str) -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES, orientation=orientation, velocity=True, num_attributes=8)
    original = torch.tensor([[-3.0, 1.0, 12.0, 4.5, 1.6, 1.9, 2.5], [4.0, 0.5, 30.0, 0.7, 1.8, 0.6, -0.4],
                             [1.0, -0.5, 6.0, 10.0, 3.5, 2.9, -3.1]])
    vel = torch.tensor([[1.0, -2.0], [0.5, 0.1], [-3.0, 0.0]])
    boxes = mirror_boxes3d(original) if flipped else original  # what the flip transform hands the task
    gt = _gt(boxes.tolist(), labels=[0, 7, 3])
    gt.velocities = vel * torch.tensor([-1.0, 1.0]) if flipped else vel
    gt.attr_labels = torch.tensor([5, 2, -1])
    out, *_ = _perfect_round_trip(task, gt, [_meta(flipped=flipped)])
    dec = out['boxes3d'][0]
    assert (dec[:, :3] - original[:, :3]).norm(dim=1).max() < 1e-3
    assert torch.allclose(dec[:, 3:6], original[:, 3:6], rtol=1e-5)
    assert angle_diff(dec[:, 6], original[:, 6]).max() < 1e-5
    assert torch.allclose(out['velocities'][0], vel, atol=1e-6)
    assert out['attr_labels'][0, :2].tolist() == [5, 2]


def test_decode_uses_context_tensors_when_given() -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES)
    gt = _gt([[1.0, 0.5, 12.0, 4.5, 1.6, 1.9, 0.5]])
    meta = _meta(flipped=True)
    out, maps, t, c, grid = _perfect_round_trip(task, gt, [meta])
    xy = c.xy_int
    peaks = Peaks(scores=torch.ones(1, 1), labels=gt.labels[None], xs=xy[None, :, 0], ys=xy[None, :, 1],
                  index=(xy[:, 1] * grid.shape[1] + xy[:, 0])[None])
    ctx = DecodeContext(grid=grid, inverse_affine=torch.eye(3)[None], metas=[])
    ctx.task_inputs[CAMERA_INPUT] = torch.tensor(input_cam2img(meta), dtype=torch.float32)[None]
    ctx.flipped = torch.tensor([True])
    assert torch.allclose(task.decode(maps, peaks, ctx)['boxes3d'], out['boxes3d'])
    with pytest.raises(ValueError, match='camera'):
        task.decode(maps, peaks, DecodeContext(grid=grid, inverse_affine=torch.eye(3)[None]))


@pytest.mark.parametrize('orientation', ['sincos', 'multibin'])
def test_losses_zero_at_perfect_maps_and_backward(orientation: str) -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES, orientation=orientation, velocity=True, num_attributes=8)
    gt = _gt([[-3.0, 1.0, 12.0, 4.5, 1.6, 1.9, 2.5], [4.0, 0.5, 30.0, 0.7, 1.8, 0.6, -0.4],
              [0.0, 0.0, -4.0, 1.0, 1.0, 1.0, 0.0]], labels=[0, 7, 1])
    gt.velocities = torch.tensor([[1.0, -2.0], [float('nan')] * 2, [0.0, 0.0]])
    gt.attr_labels = torch.tensor([5, -1, 6])
    _, maps, t, c, grid = _perfect_round_trip(task, gt, [_meta()])
    losses = task.loss(maps, t, c, grid)
    assert set(losses) == {'loss_offset', 'loss_depth', 'loss_dims', 'loss_rot', 'loss_velocity', 'loss_attr'}
    for k in ('loss_offset', 'loss_depth', 'loss_dims', 'loss_velocity'):
        assert float(losses[k]) < 1e-5, k
    if orientation == 'sincos':
        assert float(losses['loss_rot']) < 1e-6
    preds = {k: torch.randn_like(v, requires_grad=True) for k, v in maps.items()}
    total = sum(task.loss(preds, t, c, grid).values())
    total.backward()
    assert all(torch.isfinite(p.grad).all() for p in preds.values())


def test_loss_with_no_objects_is_zero_and_connected() -> None:
    task = Box3DTask(classes=NUSCENES_CLASSES, velocity=True, num_attributes=8, orientation='multibin')
    grid = _grid([_meta()])
    gt = _gt(np.zeros((0, 7)))
    c = task.centers(gt, grid)
    t = task.encode(gt, c, grid)
    preds = {k: torch.randn(1, ch, *grid.shape, requires_grad=True) for k, ch in task.maps.items()}
    losses = task.loss(preds, t, c, grid)
    total = sum(losses.values())
    assert float(total.detach()) == 0.0
    total.backward()


def test_constructor_validation_and_registry() -> None:
    assert TASKS.get('Box3DTask') is Box3DTask
    built = TASKS.build(dict(type='Box3DTask', classes=['car', 'pedestrian'], loss_weights=dict(depth=0.5)))
    assert built.mean_sizes.shape == (2, 3) and built.loss_weights['depth'] == 0.5
    for bad in (dict(depth_encoding='sqrt'), dict(orientation='quat'), dict(center='bottom'),
                dict(classes=['car', 'unicorn']), dict(mean_sizes={'car': (1.0, 2.0)}, classes=['car']),
                dict(loss_weights=dict(heatmap=1.0))):
        with pytest.raises(ValueError):
            Box3DTask(**bad)
    custom = Box3DTask(classes=['unicorn'], mean_sizes={'unicorn': (2.0, 1.5, 0.5)})
    assert custom.mean_sizes.tolist() == [[2.0, 1.5, 0.5]]


def test_class_stats() -> None:
    assert sorted(NUSCENES_CLASSES) == sorted(DEVKIT_DETECTION_NAMES) == sorted(INFO_CLASSES)
    assert sorted(NUSCENES_MEAN_SIZES) == sorted(NUSCENES_CLASSES)
    assert len(NUSCENES_ATTRIBUTES) == 8
    assert set(DEFAULT_ATTRIBUTES) == set(CLASS_ATTRIBUTES) == set(NUSCENES_CLASSES)
    for c, attr in DEFAULT_ATTRIBUTES.items():
        assert attr == '' or attr in CLASS_ATTRIBUTES[c]
    table = mean_size_table(NUSCENES_CLASSES)
    assert table.shape == (10, 3) and (table > 0).all()
    l, h, w = NUSCENES_MEAN_SIZES['car']
    assert l > w and 1.5 < h < 2.0  # (l, h, w) order
    assert NUSCENES_MEAN_SIZES['pedestrian'][1] > NUSCENES_MEAN_SIZES['pedestrian'][0]


# ---------------------------------------------------------------- annotation kinds
def test_annotation_kinds_flip_and_refuse_rotation() -> None:
    inst = {'boxes3d': np.array([[1.0, 0.5, 10.0, 4.0, 1.5, 2.0, 0.3]], np.float32),
            'velocities': np.array([[1.0, 2.0]], np.float32), 'attr_labels': np.array([3])}
    flipped = warp_instances(inst, hflip_matrix(100), WarpContext(out_shape=(50, 100), flip=True))
    np.testing.assert_allclose(flipped['boxes3d'], mirror_boxes3d_np(inst['boxes3d']))
    np.testing.assert_allclose(flipped['velocities'], [[-1.0, 2.0]])
    assert flipped['attr_labels'].tolist() == [3]
    scaled = warp_instances(inst, np.diag([0.5, 0.7, 1.0]), WarpContext(out_shape=(35, 50)))
    np.testing.assert_array_equal(scaled['boxes3d'], inst['boxes3d'])
    rot = np.array([[0.9, 0.1, 0.0], [-0.1, 0.9, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(ValueError, match='rotat'):
        warp_instances(inst, rot, WarpContext(out_shape=(50, 100)))
    with pytest.raises(ValueError, match='flip'):
        warp_instances(inst, hflip_matrix(100), WarpContext(out_shape=(50, 100), flip=False))


def test_decode_traces_with_camera_and_flip_as_inputs() -> None:
    """decode is plain tensor ops: traced once, it follows new cameras and flip flags."""
    import warnings
    task = Box3DTask(classes=NUSCENES_CLASSES, orientation='multibin', velocity=True, num_attributes=8)
    grid = Grid(batch_size=2, shape=(16, 32), stride=4, input_shape=(64, 128))
    names = list(task.maps)

    def run(index, labels, K, flipped, *maps):
        ys = torch.div(index, 32, rounding_mode='floor')
        peaks = Peaks(scores=torch.ones_like(index, dtype=torch.float32), labels=labels, xs=index - ys * 32, ys=ys,
                      index=index)
        ctx = DecodeContext(grid=grid, inverse_affine=torch.eye(3).expand(2, 3, 3))
        ctx.task_inputs[CAMERA_INPUT], ctx.flipped = K, flipped
        out = task.decode(dict(zip(names, maps)), peaks, ctx)
        return out['boxes3d'], out['velocities'], out['attr_labels']

    g = torch.Generator().manual_seed(0)

    def inputs(scale: float, flipped):
        maps = [torch.randn(2, task.maps[n], 16, 32, generator=g) * 0.3 for n in names]
        K = torch.tensor([[[100.0, 0, 64], [0, 100, 32], [0, 0, 1]]] * 2) * scale
        K[:, 2, 2] = 1.0
        return (torch.randint(0, 512, (2, 7), generator=g), torch.randint(0, 10, (2, 7), generator=g), K,
                torch.tensor(flipped), *maps)

    with warnings.catch_warnings():
        warnings.simplefilter('error', torch.jit.TracerWarning)
        warnings.simplefilter('ignore', DeprecationWarning)
        traced = torch.jit.trace(run, inputs(1.0, [False, True]))
    other = inputs(1.7, [True, False])
    for a, b in zip(traced(*other), run(*other)):
        assert torch.allclose(a.float(), b.float(), atol=1e-5)


@pytest.mark.parametrize('orientation', ['sincos', 'multibin'])
def test_flip_output_maps_mirror_back(orientation: str) -> None:
    """Perfect maps of the flipped sample, mirrored back, equal those of the original
    (offsets excepted) at every object's cell."""
    task = Box3DTask(classes=NUSCENES_CLASSES, orientation=orientation, velocity=True, num_attributes=8)
    # projected centers off cell borders (a center on a border mirrors into the next cell)
    boxes = torch.tensor([[-3.1, 1.0, 12.0, 4.5, 1.6, 1.9, 2.5], [4.1, 0.5, 30.0, 0.7, 1.8, 0.6, -0.4],
                          [1.3, -0.5, 6.0, 10.0, 3.5, 2.9, -3.1], [0.7, 0.2, 9.0, 2.0, 1.0, 0.8, 0.9]])
    vel = torch.tensor([[1.0, -2.0], [0.5, 0.1], [-3.0, 0.0], [0.2, 0.3]])
    attrs = torch.tensor([5, 2, 6, 0])
    labels = [0, 7, 3, 1]
    gt = _gt(boxes.tolist(), labels=labels)
    gt.velocities, gt.attr_labels = vel, attrs
    fgt = _gt(mirror_boxes3d(boxes).tolist(), labels=labels)
    fgt.velocities, fgt.attr_labels = vel * torch.tensor([-1.0, 1.0]), attrs
    _, maps, _, c, grid = _perfect_round_trip(task, gt, [_meta()])
    _, fmaps, _, fc, _ = _perfect_round_trip(task, fgt, [_meta(flipped=True)])
    assert c.valid.all() and fc.valid.all()
    back = task.flip_output_maps(fmaps)
    assert set(back) == set(task.maps) - {'offset'}
    for name, value in back.items():
        a, b = c.gather(maps[name], grid), c.gather(value, grid)
        assert torch.allclose(a, b, atol=1e-5), name


def _head_model(classes, task_cfg: dict):
    from centerx.models import CenterNet
    return CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                     neck=dict(type='DeconvNeck', out_channels=8),
                     heads=[dict(name='objects', tasks=[dict(type='Box3DTask', **task_cfg)], head_conv=8)],
                     classes=tuple(classes))


def test_head_hands_its_classes_to_the_mean_sizes() -> None:
    task = _head_model(('pedestrian', 'car'), {}).heads['objects'].tasks['box3d']
    assert task.classes == ('pedestrian', 'car')
    expected = torch.tensor([NUSCENES_MEAN_SIZES['pedestrian'], NUSCENES_MEAN_SIZES['car']])
    torch.testing.assert_close(task.mean_sizes, expected)


def test_head_with_a_class_without_statistics_refuses_at_build_time() -> None:
    with pytest.raises(ValueError, match=r"head 'objects'.*unicorn"):
        _head_model(('car', 'unicorn'), {})
    given = _head_model(('car', 'unicorn'), dict(mean_sizes={'car': (4.0, 1.5, 1.8), 'unicorn': (2.0, 1.6, 0.6)}))
    assert given.heads['objects'].tasks['box3d'].mean_sizes.tolist()[1] == pytest.approx([2.0, 1.6, 0.6])
    with pytest.raises(ValueError, match='leave classes out'):
        _head_model(('pedestrian', 'car'), dict(classes=('car', 'pedestrian')))


def test_label_out_of_range_is_an_error_naming_it() -> None:
    task = Box3DTask(classes=('car', 'pedestrian'))
    K = np.array([[100.0, 0, 80], [0, 100.0, 64], [0, 0, 1]])
    grid = Grid(batch_size=1, shape=(32, 40), stride=4, input_shape=(128, 160),
                metas=[ImageMeta(img_id=0, img_path='', ori_shape=(128, 160), img_shape=(128, 160),
                                 task_metas=(CameraMeta(cam2img=K),))])
    gt = InstanceData(boxes3d=torch.tensor([[0.0, 0.0, 10.0, 4.0, 1.5, 1.8, 0.0]]), labels=torch.tensor([2]),
                      ignore=torch.tensor([False]), batch_idx=torch.tensor([0]))
    with pytest.raises(ValueError, match=r'labels \[2\] are outside'):
        task.encode(gt, task.centers(gt, grid), grid)
