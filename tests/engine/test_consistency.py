"""Errors at build time: unknown task types, class mismatches, tasks the data cannot feed."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import centerx_tasks  # noqa: F401
from centerx.engine.consistency import DataModelCheckHook, check_classes, dataset_fields
from centerx.models import CenterNet


def model(tasks_cfg, classes=('a', 'b')):
    return CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 8, 8)), neck=dict(type='DeconvNeck', out_channels=8),
                     heads=[dict(name='objects', tasks=tasks_cfg, head_conv=8)], classes=classes)


class FakeDataset:
    def __init__(self, classes, fields):
        self.metainfo = dict(classes=classes)
        self.fields = fields

    def __len__(self):
        return 1

    def get_data_info(self, i):
        return dict(instances={f: np.zeros((0,)) for f in self.fields})


def runner(net, dataset):
    return SimpleNamespace(model=net, train_dataloader=SimpleNamespace(dataset=dataset))


def test_unknown_task_type_lists_registered_tasks_and_hints_custom_imports():
    with pytest.raises(KeyError, match=r"(?s)NoSuchTask.*Box2DTask.*RotatedBoxTask.*custom_imports"):
        model([dict(type='NoSuchTask')])


def test_head_class_not_in_model_classes():
    with pytest.raises(ValueError, match="head 'objects' names classes \\['z'\\]"):
        CenterNet(backbone=dict(type='TinyBackbone'), neck=dict(type='DeconvNeck', out_channels=8),
                  heads=[dict(name='objects', classes=['z'], tasks=[dict(type='Box2DTask')])], classes=('a',))


def test_class_count_mismatch_is_reported_with_both_lists():
    hook = DataModelCheckHook()
    with pytest.raises(ValueError, match=r"3 classes \['a', 'b', 'c'\] but the model has 2.*only in the dataset: \['c'\]"):
        hook.before_train(runner(model([dict(type='Box2DTask')]), FakeDataset(('a', 'b', 'c'), ['bboxes', 'labels'])))
    with pytest.raises(ValueError, match='different order'):
        check_classes(('a', 'b'), ('b', 'a'), 'here')


def test_task_whose_annotations_the_dataset_never_provides():
    hook = DataModelCheckHook()
    with pytest.raises(ValueError, match=r"provides the annotation fields \['bboxes', 'labels'\].*RotatedBoxTask.*\['polygons'\]"):
        hook.before_train(runner(model([dict(type='RotatedBoxTask')]), FakeDataset(('a', 'b'), ['bboxes', 'labels'])))
    hook.before_train(runner(model([dict(type='Box2DTask')]), FakeDataset(('a', 'b'), ['bboxes', 'labels'])))


def test_fields_of_a_mixing_dataset_are_the_union_of_its_sources():
    mixed = SimpleNamespace(sources=dict(x=FakeDataset(('a',), ['bboxes']), y=FakeDataset(('b',), ['polygons'])))
    assert dataset_fields(mixed) == {'bboxes', 'polygons'}
