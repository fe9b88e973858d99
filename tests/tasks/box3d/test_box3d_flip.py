"""Horizontal flip of monocular 3D samples: mirrored boxes, the flipped input camera, and
decoding back to the original camera frame."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

import centerx_tasks.box3d.annotation_kinds  # noqa: F401  (registers the 3D annotation kinds)
import centerx_tasks.box3d.task  # noqa: F401  (registers Box3DTask)
from centerx.data.transforms import CenterAffine, LoadImage, PackDetInputs, RandomFlip
from centerx.models import CenterNet
from centerx.task import concat_instances
from centerx_tasks.box3d.camera import box3d_corners, mirror_boxes3d_np
from centerx_tasks.box3d.camera_meta import input_cam2img
from centerx_tasks.box3d.info_dataset import NuScenesInfoDataset

DEMO = Path(os.environ['CENTERX_FIXTURES']) / 'nuscenes' / 'demo'
PKL = DEMO / 'n015-2018-07-24-11-22-45+0800.pkl'


def make_dataset(pipeline, cameras='all') -> NuScenesInfoDataset:
    if not PKL.is_file():
        pytest.skip(f'nuScenes fixture not found at {PKL.resolve()}')
    return NuScenesInfoDataset(ann_file=str(PKL), data_prefix=dict(img=str(DEMO) + '/'), cameras=cameras,
                               test_mode=True, pipeline=pipeline)


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    p = points.astype(np.float64) @ K.T
    return p[..., :2] / p[..., 2:]


def test_flip_mirrors_boxes_and_input_camera_projects_onto_flipped_pixels() -> None:
    plain = make_dataset([LoadImage(), PackDetInputs()], cameras=('CAM_FRONT', 'CAM_FRONT_RIGHT'))
    flipped = make_dataset([LoadImage(), RandomFlip(prob=1.0), PackDetInputs()],
                           cameras=('CAM_FRONT', 'CAM_FRONT_RIGHT'))
    for i in range(len(plain)):
        a, b = plain[i], flipped[i]
        ma, mb = a['data_samples'].meta, b['data_samples'].meta
        assert not ma.flipped and mb.flipped
        W = ma.ori_shape[1]
        boxes, fboxes = a['data_samples'].gt.boxes3d.numpy(), b['data_samples'].gt.boxes3d.numpy()
        np.testing.assert_allclose(fboxes, mirror_boxes3d_np(boxes), atol=1e-6)
        np.testing.assert_allclose(b['data_samples'].gt.velocities[:, 0].numpy(),
                                   -a['data_samples'].gt.velocities[:, 0].numpy())
        uv = project(boxes[:, :3], input_cam2img(ma))
        fuv = project(fboxes[:, :3], input_cam2img(mb))
        np.testing.assert_allclose(fuv[:, 0], W - uv[:, 0], atol=1e-3)
        np.testing.assert_allclose(fuv[:, 1], uv[:, 1], atol=1e-3)
        # the flipped image shows at the mirrored projection what the original shows at the center
        img = a['inputs'].numpy().transpose(1, 2, 0)
        fimg = b['inputs'].numpy().transpose(1, 2, 0)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < ma.ori_shape[0])
        cols, rows = np.floor(uv[inside, 0]).astype(int), np.floor(uv[inside, 1]).astype(int)
        fcols = np.floor(fuv[inside, 0]).astype(int)
        assert inside.sum() > 5
        np.testing.assert_array_equal(fimg[rows, fcols], img[rows, cols])
        # the mirrored 3D corners projected by the flipped camera enclose the flipped 2D boxes
        corners = box3d_corners(torch.from_numpy(fboxes).double()).numpy()
        pc = project(corners, input_cam2img(mb))
        rect = np.concatenate([pc.min(1), pc.max(1)], 1)
        rect[:, 0::2] = rect[:, 0::2].clip(0, W)
        rect[:, 1::2] = rect[:, 1::2].clip(0, ma.ori_shape[0])
        fb = b['data_samples'].gt.bboxes.numpy()
        np.testing.assert_allclose(fb, np.stack([W - a['data_samples'].gt.bboxes[:, 2].numpy(),
                                                 a['data_samples'].gt.bboxes[:, 1].numpy(),
                                                 W - a['data_samples'].gt.bboxes[:, 0].numpy(),
                                                 a['data_samples'].gt.bboxes[:, 3].numpy()], 1), atol=1e-3)
        err = np.abs(rect - fb).max(1)
        assert np.median(err) < 2.0


def test_flip_then_resize_projection() -> None:
    size = (640, 384)
    plain = make_dataset([LoadImage(), CenterAffine(input_size=size), PackDetInputs()], cameras=('CAM_FRONT',))
    flipped = make_dataset([LoadImage(), RandomFlip(prob=1.0), CenterAffine(input_size=size), PackDetInputs()],
                           cameras=('CAM_FRONT',))
    a, b = plain[0]['data_samples'], flipped[0]['data_samples']
    uv = project(a.gt.boxes3d[:, :3].numpy(), input_cam2img(a.meta))
    fuv = project(b.gt.boxes3d[:, :3].numpy(), input_cam2img(b.meta))
    # both letterboxed the same way: mirrored about the input's center column
    cx = size[0] / 2.0
    np.testing.assert_allclose(fuv[:, 0] - cx, cx - uv[:, 0], atol=1e-3)
    np.testing.assert_allclose(fuv[:, 1], uv[:, 1], atol=1e-3)


def test_flipped_round_trip_decodes_original_camera_frame() -> None:
    ds = make_dataset([LoadImage(), RandomFlip(prob=1.0), CenterAffine(input_size=(800, 448)), PackDetInputs()])
    classes = ds.metainfo['classes']
    torch.manual_seed(0)
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                      neck=dict(type='DeconvNeck', out_channels=(8, 8, 8)),
                      heads=[dict(name='objects', head_conv=8,
                                  tasks=[dict(type='Box3DTask', velocity=True)])],
                      classes=classes).eval()
    items = [ds[i] for i in range(len(ds))]
    data = model.data_preprocessor(dict(inputs=[it['inputs'] for it in items],
                                        data_samples=[it['data_samples'] for it in items]))
    inputs, samples = data['inputs'], data['data_samples']
    with torch.no_grad():
        feat = model.extract_feat(inputs)
    grid = model._grid(inputs, feat, samples)
    head = model.heads['objects']
    task = head.tasks['box3d']
    gt = concat_instances([s.gt for s in samples], model.label_map('objects'))
    centers = head.place_centers(gt, grid)
    heat, _ = head.render(centers, grid)
    maps = task.perfect_maps(task.encode(gt, centers, grid), centers, grid)
    outputs = {'objects': {'heatmap': torch.logit(heat.clamp(1e-6, 1 - 1e-6)), 'box3d': maps}}
    model.attach_predictions(model.decode_outputs(outputs, CenterNet.decode_context(grid, samples, inputs.device)),
                             samples)
    key = centers.batch_idx * (grid.shape[0] * grid.shape[1]) + centers.cell_index(grid)
    cells, counts = torch.unique(key[centers.valid], return_counts=True)
    check = (centers.valid & ~torch.isin(key, cells[counts > 1])).numpy()
    worst = np.zeros(4)
    row = checked = 0
    for i, sample in enumerate(samples):
        info = ds.get_data_info(i)['instances']  # the original, unflipped annotations
        pred = sample.preds['objects']
        keep = pred.scores > 0.5
        boxes, labels, vel = pred.boxes3d[keep].double().numpy(), pred.labels[keep].numpy(), pred.velocities[keep]
        for box, label, v in zip(info['boxes3d'].astype(np.float64), info['labels'], info['velocities']):
            if check[row]:
                dist = np.where(labels == label, np.linalg.norm(boxes[:, :3] - box[:3], axis=1), np.inf)
                k = int(dist.argmin())
                dyaw = abs((boxes[k, 6] - box[6] + np.pi) % (2 * np.pi) - np.pi)
                dv = float(np.abs(vel[k].numpy() - v).max()) if np.isfinite(v).all() else 0.0
                worst = np.maximum(worst, [dist[k], dyaw, np.abs(boxes[k, 3:6] / box[3:6] - 1).max(), dv])
                checked += 1
            row += 1
    print(f'\nflipped round trip: {checked} objects checked, worst center {worst[0]:.2e} m, yaw {worst[1]:.2e} rad, '
          f'size {worst[2]:.2e}, velocity {worst[3]:.2e} m/s; excluded {task.exclusions}')
    assert checked >= 70
    assert worst[0] < 0.05 and worst[1] < 0.01 and worst[2] < 1e-3 and worst[3] < 1e-5
