"""CameraMeta: the per-task meta of 3D images; checked on construction, moved to the network
input when read, and required by Box3DTask wherever an image has 3D boxes."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from centerx.data.geometry import center_scale_affine, hflip_matrix
from centerx.structures import ImageMeta
from centerx.task import Grid
from centerx_tasks.box3d.camera import mirror_boxes3d_np
from centerx_tasks.box3d.camera_meta import CameraMeta, input_cam2img
from centerx_tasks.box3d.task import Box3DTask

K = np.array([[300.0, 0.0, 160.0], [0.0, 300.0, 100.0], [0.0, 0.0, 1.0]])


def project(points: np.ndarray, k: np.ndarray) -> np.ndarray:
    uvw = points @ k.T
    return uvw[:, :2] / uvw[:, 2:]


@pytest.mark.parametrize('bad, message', [
    (dict(cam2img=np.eye(4)), r'cam2img must be a finite 3x3 matrix, got shape \(4, 4\)'),
    (dict(cam2img=np.full((3, 3), np.nan)), 'cam2img .* non-finite'),
    (dict(cam2img=None), 'cam2img is required'),
    (dict(cam2img=K, cam2ego=np.eye(3)), 'cam2ego must be a finite 4x4'),
    (dict(cam2img=K, ego2global=np.full((4, 4), np.inf)), 'ego2global .* non-finite'),
])
def test_bad_cameras_are_refused_by_field(bad: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CameraMeta(**bad)


@pytest.mark.parametrize('flip', [False, True])
def test_input_camera_projects_where_the_warp_moves_the_original_projection(flip: bool) -> None:
    """Letterbox (and a flip before it): the input camera sees the (mirrored) scene where the
    affine puts what the original camera sees."""
    meta = ImageMeta(img_id=1, img_path='cam.png', ori_shape=(200, 320), task_metas=[CameraMeta(cam2img=K)])
    if flip:
        meta.compose(hflip_matrix(320), (200, 320), flip=True)
    meta.compose(center_scale_affine((160.0, 100.0), 320.0, (128, 128)), (128, 128))
    boxes = np.array([[1.0, 0.5, 12.0, 4.0, 1.5, 2.0, 0.3], [-3.0, 1.0, 25.0, 4.0, 1.5, 2.0, -1.0]])
    scene = mirror_boxes3d_np(boxes) if flip else boxes
    got = project(scene[:, :3], input_cam2img(meta))
    want = project(boxes[:, :3], K)
    if flip:
        want[:, 0] = 320 - want[:, 0]
    want = np.c_[want, np.ones(len(want))] @ center_scale_affine((160.0, 100.0), 320.0, (128, 128)).T
    np.testing.assert_allclose(got, want[:, :2], atol=1e-9)
    assert meta.task_meta(CameraMeta).cam2img is not None
    np.testing.assert_array_equal(meta.task_meta(CameraMeta).cam2img, K)  # the original camera is kept


def test_an_image_with_3d_boxes_but_no_camera_is_named() -> None:
    task = Box3DTask()
    with_cam = ImageMeta(img_id='a', img_path='a.png', ori_shape=(200, 320), img_shape=(200, 320),
                         task_metas=[CameraMeta(cam2img=K)])
    without = ImageMeta(img_id='b', img_path='b.png', ori_shape=(200, 320), img_shape=(200, 320))
    grid = Grid(batch_size=2, shape=(50, 80), stride=4, input_shape=(200, 320), metas=[with_cam, without])
    box = [0.0, 0.0, 10.0, 4.0, 1.5, 2.0, 0.0]
    gt = InstanceData(boxes3d=torch.tensor([box, box]), labels=torch.zeros(2, dtype=torch.int64),
                      ignore=torch.zeros(2, dtype=torch.bool), batch_idx=torch.tensor([0, 1]))
    with pytest.raises(LookupError, match=r"b.png.*carries no CameraMeta"):
        task.centers(gt, grid)
    # an image without 3D boxes (another task's data) needs no camera
    only_first = InstanceData(boxes3d=torch.tensor([box, [float('nan')] * 7]),
                              labels=torch.zeros(2, dtype=torch.int64), ignore=torch.zeros(2, dtype=torch.bool),
                              batch_idx=torch.tensor([0, 1]))
    assert task.centers(only_first, grid).valid.tolist() == [True, False]
