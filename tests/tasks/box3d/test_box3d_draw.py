"""Projected cuboids for --show-dir: exact projection, near-plane clipping, the drawer hook-up."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from centerx.structures import DetSample, ImageMeta
from centerx.visualization import FIELD_DRAWERS, draw_predictions
from centerx_tasks.box3d.camera import box3d_corners
from centerx_tasks.box3d.camera_meta import CameraMeta
from centerx_tasks.box3d.draw import EDGES, MIN_DEPTH, project_cuboid_edges

K = np.array([[100.0, 0.0, 50.0], [0.0, 100.0, 50.0], [0.0, 0.0, 1.0]])


def sample_with(boxes: np.ndarray, cam2img=K) -> DetSample:
    pred = InstanceData(scores=torch.ones(len(boxes)), labels=torch.zeros(len(boxes), dtype=torch.long),
                        boxes3d=torch.as_tensor(boxes, dtype=torch.float32))
    metas = () if cam2img is None else (CameraMeta(cam2img=cam2img),)
    meta = ImageMeta(img_id=0, img_path='cam/front.jpg', ori_shape=(100, 100), task_metas=metas)
    return DetSample(meta=meta, preds={'objects': pred})


def test_the_twelve_edges_of_a_cuboid() -> None:
    assert len(EDGES) == 12
    assert np.bincount(np.array(EDGES).ravel(), minlength=8).tolist() == [3] * 8


def test_edges_project_the_corners_exactly() -> None:
    box = np.array([1.0, 0.5, 12.0, 4.0, 1.5, 2.0, 0.7])
    segments = project_cuboid_edges(box, K)
    corners = box3d_corners(torch.as_tensor(box)).numpy()
    uv = corners @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    expected = np.stack([uv[[i, j]] for i, j in EDGES])
    np.testing.assert_allclose(segments, expected, atol=1e-9)


def test_a_box_across_the_camera_plane_is_clipped() -> None:
    """Center at z = 0, 4 m deep: the 4 edges of the back face (z = -2) vanish, the 4 depth
    edges end on the plane z = MIN_DEPTH, the front face is whole."""
    box = np.array([0.0, 0.0, 0.0, 2.0, 2.0, 4.0, 0.0])  # yaw 0: w along camera z
    segments = project_cuboid_edges(box, K)
    assert segments.shape == (8, 2, 2) and np.isfinite(segments).all()
    # a clipped endpoint: x = +-1 at depth MIN_DEPTH -> u = 50 +- 100 / MIN_DEPTH
    assert np.isclose(np.abs(segments[..., 0] - 50).max(), 100 / MIN_DEPTH)


def test_cuboids_are_drawn_with_the_image_intrinsics() -> None:
    img = np.zeros((100, 100, 3), np.uint8)
    box = np.array([[0.0, 0.0, 10.0, 2.0, 2.0, 2.0, 0.0]])  # corners at x, y = +-1, z = 9 and 11
    out = draw_predictions(img, sample_with(box), ['car'], score_thr=0.5)
    assert out[50, 50 + 100 // 9].any()  # the near vertical edge at u = 50 + 100/9
    assert out[50 - 100 // 9, 50].any()  # the near top edge at v = 50 - 100/9
    assert not out[50, 50].any() and not out[5, 5].any()
    assert not img.any()


def test_a_box_behind_the_camera_draws_nothing() -> None:
    box = np.array([[0.0, 0.0, -10.0, 2.0, 2.0, 2.0, 0.0]])
    out = draw_predictions(np.zeros((100, 100, 3), np.uint8), sample_with(box), ['car'], score_thr=0.5)
    assert not out.any()  # neither the cuboid nor a label


def test_missing_intrinsics_name_the_image() -> None:
    assert 'boxes3d' in FIELD_DRAWERS
    box = np.array([[0.0, 0.0, 10.0, 2.0, 2.0, 2.0, 0.0]])
    with pytest.raises(ValueError, match='cam/front.jpg'):
        draw_predictions(np.zeros((100, 100, 3), np.uint8), sample_with(box, cam2img=None), ['car'])
