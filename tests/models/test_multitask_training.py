"""Several heads on one backbone, trained on samples annotated for different tasks.

(a) A sample that lacks the annotations of a head's task contributes no loss to it: each
head's losses on a mixed batch equal its losses on its annotated image alone, and a head
whose task no image of the batch is annotated for gets exactly zero gradient.
(b) configs/multitask_synthetic.py (shrunk by tests/configs/multitask_tiny.py) trains and
prints every source's metric.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401  (registers the tasks)
from centerx.models.detector import CenterNet
from centerx.models.loss_groups import GroupLosses, LossGroup
from centerx.structures import DetSample, ImageMeta

REPO = Path(__file__).resolve().parents[2]
SIZE = 64


def two_head_model(keypoints: bool = False) -> CenterNet:
    torch.manual_seed(0)
    box_tasks = [dict(type='Box2DTask')]
    if keypoints:
        box_tasks.append(dict(type='KeypointTask', num_keypoints=3))
    return CenterNet(
        classes=('a', 'b', 'c'),
        backbone=dict(type='TinyBackbone', channels=(8, 16, 32, 32)),
        neck=dict(type='DeconvNeck', out_channels=16),
        heads=[dict(name='boxes', classes=['a', 'b'], tasks=box_tasks, head_conv=8),
               dict(name='rot', classes=['c'], tasks=[dict(type='RotatedBoxTask')],
                    kernel=dict(type='RotatedEllipticalGaussian'), head_conv=8)])


def meta(i: int) -> ImageMeta:
    return ImageMeta(img_id=i, img_path='', ori_shape=(SIZE, SIZE), img_shape=(SIZE, SIZE), pad_shape=(SIZE, SIZE))


def boxes_only(i: int = 0, keypoints: bool = False) -> DetSample:
    """Classes a and b with ``bboxes`` (no ``polygons`` field at all)."""
    gt = InstanceData(bboxes=torch.tensor([[4.0, 6.0, 30.0, 40.0], [34.0, 10.0, 60.0, 28.0]]),
                      labels=torch.tensor([0, 1]), ignore=torch.tensor([False, False]))
    if keypoints:
        gt.keypoints = torch.tensor([[[10.0, 12.0, 2.0], [20.0, 30.0, 2.0], [25.0, 35.0, 1.0]],
                                     [[40.0, 15.0, 2.0], [50.0, 20.0, 0.0], [55.0, 25.0, 2.0]]])
    return DetSample(meta=meta(i), gt=gt)


def polygons_only(i: int = 1) -> DetSample:
    """Class c with ``polygons`` (no ``bboxes`` field at all)."""
    gt = InstanceData(polygons=torch.tensor([[30.0, 30.0, 50.0, 34.0, 48.0, 44.0, 28.0, 40.0],
                                             [8.0, 40.0, 20.0, 44.0, 18.0, 56.0, 6.0, 52.0]]),
                      labels=torch.tensor([2, 2]), ignore=torch.tensor([False, False]))
    return DetSample(meta=meta(i), gt=gt)


def head_losses(grouped: GroupLosses, head: str) -> Dict[Tuple[Optional[str], str], float]:
    """``{(task or None for the heatmap, term): value}`` of the groups of ``head`` (by structure,
    :class:`LossGroup`, not by log-name prefix)."""
    out = {(group.task, term): float(value.detach())
           for group, terms in grouped.items() if group.head == head for term, value in terms.items()}
    assert out, f'no loss group of head {head!r} among {[g.label for g in grouped]}'
    return out


def assert_same(batch: Dict[str, float], alone: Dict[str, float]) -> None:
    assert batch.keys() == alone.keys()
    for key in batch:
        assert batch[key] == pytest.approx(alone[key], rel=1e-5, abs=1e-6), key


def mixed_batch_losses(model: CenterNet, samples: List[DetSample]) -> Tuple[GroupLosses, List[GroupLosses]]:
    """Grouped losses (``model.grouped_losses``) of the batch and of each image alone, from the
    same network outputs (eval-mode BatchNorm: an image's outputs do not depend on the rest of
    the batch)."""
    model.eval()
    x = torch.randn(len(samples), 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        batch = model.grouped_losses(x, samples)
        alone = [model.grouped_losses(x[i:i + 1], [samples[i]]) for i in range(len(samples))]
    return batch, alone


def test_each_head_learns_only_from_the_images_annotated_for_it():
    model = two_head_model()
    batch, (only_boxes, only_polygons) = mixed_batch_losses(model, [boxes_only(0), polygons_only(1)])
    assert {g: set(terms) for g, terms in batch.items()} == {
        LossGroup('boxes'): {'heatmap'}, LossGroup('boxes', 'box2d'): {'size', 'offset'},
        LossGroup('rot'): {'heatmap'}, LossGroup('rot', 'rotated'): {'size', 'angle', 'offset'}}
    assert_same(head_losses(batch, 'boxes'), head_losses(only_boxes, 'boxes'))
    assert_same(head_losses(batch, 'rot'), head_losses(only_polygons, 'rot'))
    # and the head's own losses are real, the other head's are zero on the unannotated image
    assert all(v > 0 for v in head_losses(batch, 'boxes').values())
    assert all(v > 0 for v in head_losses(batch, 'rot').values())
    assert all(v == 0 for v in head_losses(only_boxes, 'rot').values())
    assert all(v == 0 for v in head_losses(only_polygons, 'boxes').values())


def test_a_head_gets_exactly_zero_gradient_when_no_image_is_annotated_for_it():
    model = two_head_model()
    model.train()
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    grouped = model.grouped_losses(x, [boxes_only(0), boxes_only(1)])
    assert all(v == 0.0 for v in head_losses(grouped, 'rot').values())
    sum(v for terms in grouped.values() for v in terms.values()).backward()
    for name, p in model.heads['rot'].named_parameters():
        assert p.grad is None or bool((p.grad == 0).all()), name
    assert any(p.grad is not None and bool((p.grad != 0).any()) for p in model.heads['boxes'].parameters())
    assert any(p.grad is not None and bool((p.grad != 0).any()) for p in model.backbone.parameters())


def test_keypoint_rows_of_box_only_images_add_no_keypoint_loss():
    """A head with Box2DTask + KeypointTask: an image with boxes but no ``keypoints`` field
    trains the heatmap and boxes, not the keypoints."""
    model = two_head_model(keypoints=True)
    with_kp, without_kp = boxes_only(0, keypoints=True), boxes_only(1)
    batch, (alone_kp, alone_plain) = mixed_batch_losses(model, [with_kp, without_kp])
    keypoints = LossGroup('boxes', 'keypoints')
    assert set(batch[keypoints]) == {'kps', 'kp_offset', 'kp_heatmap'}
    for term in batch[keypoints]:
        assert float(batch[keypoints][term]) == pytest.approx(float(alone_kp[keypoints][term]), rel=1e-5, abs=1e-6), term
        assert float(alone_kp[keypoints][term]) > 0, term
        assert float(alone_plain[keypoints][term]) == 0.0, term


def test_images_of_another_task_add_no_keypoint_heatmap_loss():
    model = two_head_model(keypoints=True)
    batch, (alone_kp, _) = mixed_batch_losses(model, [boxes_only(0, keypoints=True), polygons_only(1)])
    assert_same(head_losses(batch, 'boxes'), head_losses(alone_kp, 'boxes'))


# ------------------------------------------------------------------ (b) a short training
@pytest.mark.slow
def test_multitask_config_trains_and_reports_every_source(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'),
                           str(REPO / 'tests' / 'configs' / 'multitask_tiny.py'), '--work-dir', 'run',
                           '--cfg-options', 'train_cfg.max_iters=25', 'train_cfg.val_interval=25'],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert 'Iter(train) [25/25]' in out
    val = [line for line in out.splitlines() if 'Iter(val)' in line and 'vehicles/dota/mAP' in line]
    assert val, out[-4000:]
    for key in ('shapes/coco/bbox_mAP', 'vehicles/dota/mAP', 'people/coco/kpt_AP', 'people/coco/bbox_mAP'):
        assert re.search(re.escape(key) + r': -?\d', val[-1]), (key, val[-1])
    # every head trained: its losses are logged
    for key in ('loss_shapes_heatmap', 'loss_vehicles_rotated_angle', 'loss_person_keypoints_kps',
                'weight_person__keypoints'):  # learned balancing (model.loss_balancing) is on
        assert key in out, key
    for root in ('synthetic_shapes', 'synthetic_dota_zoom2', 'synthetic_pose'):
        assert (tmp_path / 'data' / root / '.complete').is_file()
