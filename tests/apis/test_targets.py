"""What tools/browse_dataset.py draws: target heatmaps by the heads' render path, ground truth by
the tasks' drawers on the network input (cameras moved to the input by ``for_input_image``)."""
from __future__ import annotations

import numpy as np
import torch
from mmengine.structures import InstanceData

from centerx.apis import target_maps
from centerx.models import CenterNet
from centerx.structures import DetSample, ImageMeta
from centerx.visualization import IGNORED_COLOR, draw_ground_truth, heatmap_overlay, input_view
from centerx_tasks.box3d.camera_meta import CameraMeta

CLASSES = ('person', 'car')


def pose_model() -> CenterNet:
    torch.manual_seed(0)
    return CenterNet(classes=CLASSES, backbone=dict(type='TinyBackbone', channels=(8, 8, 8, 8)),
                     neck=dict(type='DeconvNeck', out_channels=8),
                     heads=[dict(name='person', classes=('person',), head_conv=8,
                                 tasks=[dict(type='Box2DTask'), dict(type='KeypointTask', num_keypoints=2)]),
                            dict(name='car', classes=('car',), head_conv=8, tasks=[dict(type='Box2DTask')])]).eval()


def person_sample() -> DetSample:
    gt = InstanceData(labels=torch.tensor([0]), bboxes=torch.tensor([[8.0, 16.0, 40.0, 48.0]]),
                      keypoints=torch.tensor([[[12.0, 20.0, 2.0], [36.0, 44.0, 2.0]]]))
    return DetSample(meta=ImageMeta(img_id=0, img_path='p.png', ori_shape=(64, 64), img_shape=(64, 64)), gt=gt)


def test_target_maps_are_the_heads_rendered_heatmaps_and_the_keypoint_heatmaps():
    model = pose_model()
    maps = target_maps(model, torch.zeros(3, 64, 64, dtype=torch.uint8), person_sample())
    assert [m.title for m in maps] == ['person', 'person/keypoints.kp_heatmap', 'car']
    person, joints, car = maps
    assert person.stride == 4 and person.heat.shape == (16, 16)
    assert person.heat.max() == 1.0 and np.argwhere(person.heat == 1.0).tolist() == [[8, 6]]  # center (24, 32) / 4
    peaks = {tuple(p) for p in np.argwhere(joints.heat > 0.99).tolist()}
    assert peaks == {(5, 3), (11, 9)}  # the keypoints' cells
    assert car.heat.max() == 0.0  # no car


def test_ground_truth_is_drawn_by_the_drawers_ignored_in_grey_and_absent_values_not_at_all():
    gt = InstanceData(labels=torch.tensor([1, 1, 0]), ignore=torch.tensor([False, True, False]),
                      bboxes=torch.tensor([[4.0, 4.0, 20.0, 20.0], [30.0, 30.0, 50.0, 50.0],
                                           [float('nan')] * 4]))
    sample = DetSample(meta=ImageMeta(img_id=0, img_path='', ori_shape=(64, 64), img_shape=(64, 64)), gt=gt)
    out = draw_ground_truth(np.zeros((64, 64, 3), np.uint8), sample, CLASSES)
    assert out[12, 4].any() and not out[12, 12].any()  # the first box's outline, not its inside
    assert tuple(out[40, 50]) == IGNORED_COLOR  # the ignored box's right edge
    empty = DetSample(meta=sample.meta, gt=InstanceData(labels=torch.tensor([0]), bboxes=torch.full((1, 4), float('nan'))))
    assert not draw_ground_truth(np.zeros((64, 64, 3), np.uint8), empty, CLASSES).any()


def test_the_input_view_carries_the_camera_of_the_flipped_and_scaled_input():
    K = np.array([[100.0, 0.0, 40.0], [0.0, 100.0, 30.0], [0.0, 0.0, 1.0]])
    flip_scale = np.array([[-0.5, 0.0, 40.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]])  # mirror an 80-wide image, halve it
    meta = ImageMeta(img_id=0, img_path='', ori_shape=(60, 80), img_shape=(30, 40), affine=flip_scale, flipped=True,
                     task_metas=[CameraMeta(cam2img=K, cam2ego=np.eye(4))])
    view = input_view(meta)
    assert view.ori_shape == (30, 40) and np.allclose(view.affine, np.eye(3))
    cam = view.task_meta(CameraMeta)
    point = np.array([2.0, 1.0, 10.0])  # camera frame of the original image
    pixel = K @ point
    expected = (flip_scale @ (pixel / pixel[2]))[:2]  # where the point lands in the input
    mirrored = point * [-1.0, 1.0, 1.0]  # the flipped sample's ground truth (the boxes3d kind mirrors x)
    got = cam.cam2img @ mirrored
    assert np.allclose(got[:2] / got[2], expected)
    assert cam.cam2ego is None  # the pose of the unmirrored camera is not carried over


def test_heatmap_overlay_puts_each_cell_on_its_stride_block():
    heat = np.zeros((4, 4), np.float32)
    heat[1, 2] = 1.0
    out = heatmap_overlay(np.zeros((16, 15, 3), np.uint8), heat, stride=4).astype(int)
    assert out.shape == (16, 15, 3)
    assert out[4:8, 8:12, 2].min() > 150 and out[:4, :, 2].max() < 50 and out[8:, :, 2].max() < 50
