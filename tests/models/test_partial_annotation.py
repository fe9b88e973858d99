"""One presence mask says what each image is annotated for: per field and per class.

(a) ``concat_instances`` records, per image, the fields it carries (with zero rows too) and
    the head classes its source annotates; tasks read it through ``Task.annotated_images``.
(b) A class that an image's source does not annotate gets no negative heatmap loss on that
    image, and does on the images that annotate it.
(c) Every registered task ignores the objects of images not annotated for it: its losses on a
    batch equal its losses on the annotated image alone.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import List

import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401  (registers the built-in tasks)
from centerx.models import CenterNet
from centerx.models.loss_groups import LossGroup
from centerx.registry import TASKS
from centerx.structures import DetSample, ImageMeta
from centerx.task import Task, concat_instances, presence_of

TUTORIAL = Path(__file__).resolve().parents[2] / 'docs' / 'examples' / 'circles'
if (TUTORIAL / 'centerx_circles').is_dir():
    sys.path.insert(0, str(TUTORIAL))
    import centerx_circles  # noqa: F401,E402  (the tutorial's plugin registers itself)

SIZE = 64
BOX_A, BOX_B = [4.0, 6.0, 30.0, 40.0], [34.0, 10.0, 60.0, 28.0]


def meta(i: int, **extra) -> ImageMeta:
    return ImageMeta(img_id=i, img_path='', ori_shape=(SIZE, SIZE), img_shape=(SIZE, SIZE), pad_shape=(SIZE, SIZE),
                     **extra)


def boxes(rows: List[List[float]], labels: List[int]) -> InstanceData:
    return InstanceData(bboxes=torch.tensor(rows).reshape(-1, 4), labels=torch.tensor(labels, dtype=torch.int64),
                        ignore=torch.zeros(len(labels), dtype=torch.bool))


# ------------------------------------------------------------------ (a) the mask
def test_presence_per_image_and_field():
    with_boxes = boxes([BOX_A], [0])
    empty_boxes = boxes([], [])                                          # annotated, no objects
    other_class = boxes([BOX_B], [2])                                    # no row on the head
    no_boxes = InstanceData(labels=torch.tensor([1]), ignore=torch.tensor([False]))  # not annotated
    label_map = torch.tensor([0, 1, -1])
    gt = concat_instances([with_boxes, empty_boxes, other_class, no_boxes], label_map)
    assert gt.batch_idx.tolist() == [0, 3]
    assert Task.annotated_images(gt, 'bboxes', 4).tolist() == [True, True, True, False]
    assert Task.annotated_images(gt, 'polygons', 4).tolist() == [False] * 4
    assert torch.isnan(gt.bboxes[1]).all()                               # filler of the unannotated image
    assert presence_of(gt, 4).class_mask(2).all()                        # no annotated_labels: every class
    with pytest.raises(ValueError, match='batch of 3'):
        Task.annotated_images(gt, 'bboxes', 3)
    # a hand-made table (no concat_instances) counts as annotated for what it carries
    hand = InstanceData(batch_idx=torch.tensor([0]), bboxes=torch.tensor([BOX_A]), labels=torch.tensor([0]))
    assert Task.annotated_images(hand, 'bboxes', 2).tolist() == [True, True]
    assert Task.annotated_images(hand, 'keypoints', 2).tolist() == [False, False]


def test_class_mask_follows_the_head_channels():
    label_map = torch.tensor([-1, 1, 0])                                 # dataset 'c' -> channel 0, 'b' -> 1
    gt = concat_instances([boxes([BOX_A], [2]), boxes([BOX_B], [1])], label_map, [(2,), None])
    assert presence_of(gt, 2).class_mask(2).tolist() == [[True, False], [True, True]]
    with pytest.raises(ValueError, match=r'image 0 of the batch has objects of labels \[1\]'):
        concat_instances([boxes([BOX_A], [1])], label_map, [(2,)])
    with pytest.raises(ValueError, match=r'annotated_labels \[5\] are outside'):
        concat_instances([boxes([BOX_A], [1])], label_map, [(1, 5)])
    with pytest.raises(ValueError, match='needs the label_map'):
        concat_instances([boxes([BOX_A], [1])], None, [(1,)])


def test_dataset_classes_merged_into_one_head_channel_combine_with_or():
    """Dataset 'car' and 'van' -> head channel 0, 'b' -> 1: an image annotating either merged class
    is annotated for channel 0, whichever of the two comes last in the label map."""
    car, van, other = 0, 1, 2                                            # dataset labels
    for label_map in (torch.tensor([0, 0, 1]), torch.tensor([1, 1, 0])):  # merged channel 0 / 1
        merged, rest = int(label_map[car]), int(label_map[other])
        gt = concat_instances([boxes([BOX_A], [car]), boxes([BOX_B], [van]), boxes([], []), boxes([], [])],
                              label_map, [(car,), (van,), (other,), None])
        mask = presence_of(gt, 4).class_mask(2)                         # (B, head channels)
        assert mask[:, merged].tolist() == [True, True, False, True], label_map   # car only, van only
        assert mask[:, rest].tolist() == [False, False, True, True], label_map
        assert gt.labels.tolist() == [merged, merged]
    with pytest.raises(ValueError, match=r'maps no dataset label to head channels \[1\]'):
        concat_instances([boxes([BOX_A], [0])], torch.tensor([0, 2]), [(0,)])


def test_samples_keep_their_annotated_labels_on_the_way_to_the_device():
    sample = DetSample(meta=meta(0), gt=boxes([BOX_A], [0]), annotated_labels=(0,))
    assert sample.to('cpu').annotated_labels == (0,)


# ------------------------------------------------------------------ (b) per class
def car_person_model() -> CenterNet:
    torch.manual_seed(0)
    return CenterNet(classes=('car', 'person'), backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                     neck=dict(type='DeconvNeck', out_channels=8),
                     heads=[dict(name='h', tasks=[dict(type='Box2DTask')], head_conv=8)])


def heatmap_grad(model: CenterNet, samples: List[DetSample]) -> torch.Tensor:
    """(B, C, H, W) gradient of the head's heatmap loss with respect to its logits."""
    model.eval()
    x = torch.randn(len(samples), 3, SIZE, SIZE, generator=torch.Generator().manual_seed(3))
    feat = model.extract_feat(x)
    grid = model._grid(x, feat, samples)
    head = model.heads['h']
    outputs = head(feat)
    outputs['heatmap'].retain_grad()
    gt = concat_instances([s.gt for s in samples], model.label_map('h'), [s.annotated_labels for s in samples])
    head.loss(outputs, gt, grid)[LossGroup('h')]['heatmap'].backward()
    return outputs['heatmap'].grad


def test_a_class_its_source_does_not_annotate_gets_no_negative_loss():
    """Source A labels cars only, source B cars and persons, on one car + person head."""
    model = car_person_model()
    car_only = DetSample(meta=meta(0), gt=boxes([BOX_A], [0]), annotated_labels=(0,))
    both = DetSample(meta=meta(1), gt=boxes([BOX_A], [0]), annotated_labels=(0, 1))
    grad = heatmap_grad(model, [car_only, both])
    assert bool((grad[0, 1] == 0).all())                 # A's person channel: unlabeled, not negative
    assert bool((grad[0, 0] != 0).any())                 # A's car channel trains
    assert bool((grad[1, 1] != 0).any())                 # B's person channel: negatives
    # without annotated_labels A's person channel is a negative again
    grad = heatmap_grad(model, [DetSample(meta=meta(0), gt=boxes([BOX_A], [0])), both])
    assert bool((grad[0, 1] != 0).any())


def test_model_loss_reads_annotated_labels_from_the_samples():
    model = car_person_model()
    x = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(4))
    model.eval()
    with torch.no_grad():
        full = model.loss(x, [DetSample(meta=meta(0), gt=boxes([BOX_A], [0]))])['loss_heatmap']
        cars = model.loss(x, [DetSample(meta=meta(0), gt=boxes([BOX_A], [0]), annotated_labels=(0,))])['loss_heatmap']
    assert 0 < float(cars) < float(full)


# ------------------------------------------------------------------ (c) every task
def build(task_type: str):
    task_cls = TASKS.get(task_type)
    tasks = [dict(type=task_type)] if task_cls.companion is None else [dict(type=task_cls.companion),
                                                                       dict(type=task_type)]
    torch.manual_seed(0)
    model = CenterNet(classes=('car', 'pedestrian'), backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                      neck=dict(type='DeconvNeck', out_channels=8), heads=[dict(name='h', tasks=tasks, head_conv=8)])
    task = [t for t in model.heads['h'].tasks.values() if type(t).__name__ == task_type][0]
    return model, task


@pytest.mark.parametrize('task_type', sorted(TASKS.module_dict))
def test_every_task_ignores_objects_of_images_not_annotated_for_it(task_type):
    model, task = build(task_type)
    head = model.heads['h']
    center_requires = set(head.tasks[head.center_task].requires)
    dropped = set(task.requires) - (set() if task.name == head.center_task else center_requires)
    gen = torch.Generator().manual_seed(0)
    batch = []
    for i, n in enumerate((4, 3)):
        gt = InstanceData()
        for key, value in task.example_gt(n, (SIZE, SIZE), gen).items():
            if i == 0 or key not in dropped:                # image 1 keeps its objects, not the task's fields
                gt.set_field(value.to(torch.float32), key)
        gt.labels = torch.randint(0, 2, (n,), generator=gen)
        gt.ignore = torch.zeros(n, dtype=torch.bool)
        batch.append(DetSample(meta=meta(i, **task.example_meta((SIZE, SIZE))), gt=gt))
    assert dropped and not any(f in batch[1].gt for f in dropped)
    model.eval()
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        mixed = model.grouped_losses(x, batch)
        alone = model.grouped_losses(x[:1], batch[:1])
    groups = [LossGroup('h', task.name)] + ([LossGroup('h')] if task.name == head.center_task else [])
    for group in groups:
        assert mixed[group].keys() == alone[group].keys()
        for term in alone[group]:
            assert float(mixed[group][term]) == pytest.approx(float(alone[group][term]), rel=1e-5, abs=1e-6), \
                (group.label, term)
        assert any(float(v) > 0 for v in alone[group].values()), group.label
