"""Errors at build time: unknown task types, class mismatches, tasks the data cannot feed."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from mmengine.evaluator import BaseMetric, Evaluator

import centerx_tasks  # noqa: F401
from centerx.engine.consistency import (DataModelCheckHook, check_classes, check_flip_support, check_metric_fields,
                                        dataset_fields, leaf_metrics)
from centerx.evaluation import PerSourceMetric
from centerx.models import CenterNet
from centerx.task import Task
from centerx_tasks.box2d.coco_metric import CocoBboxMetric
from centerx_tasks.box2d.task import Box2DTask
from centerx_tasks.rotated.dota_metric import DotaMetric


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


# ---------------------------------------------------------------- metric fields and flip TTA
class NoFlipBox2DTask(Box2DTask):
    """A box task that, like a plugin written without TTA in mind, has no flip_output_maps."""

    flip_output_maps = Task.flip_output_maps


class FieldlessPluginMetric(BaseMetric):
    """A plugin metric that declares no prediction field: not checked."""

    def process(self, data_batch, data_samples):
        pass

    def compute_metrics(self, results):
        return {}


class CirclePluginMetric(FieldlessPluginMetric):
    prediction_field = 'circles'


def runner_with_validation(net, evaluator, train=('a', 'b')):
    dataset = FakeDataset(train, ['bboxes', 'polygons'])
    return SimpleNamespace(model=net, train_dataloader=SimpleNamespace(dataset=dataset),
                           val_loop=object(), val_dataloader=SimpleNamespace(dataset=dataset),
                           val_evaluator=evaluator)


def test_metric_of_a_field_no_head_provides_stops_training_before_the_first_iteration():
    boxes_only = model([dict(type='Box2DTask')])
    with pytest.raises(ValueError, match=r"val_evaluator: DotaMetric evaluates 'polygons', but no task of the model "
                                         r"provides it \(provided: bboxes by head 'objects' Box2DTask \('box2d'\)\)"):
        DataModelCheckHook().before_train(runner_with_validation(boxes_only, Evaluator([DotaMetric()])))
    with pytest.raises(ValueError, match="CirclePluginMetric evaluates 'circles'"):  # a plugin metric is checked too
        DataModelCheckHook().before_val(runner_with_validation(boxes_only, [CirclePluginMetric()]))
    DataModelCheckHook().before_train(runner_with_validation(boxes_only, Evaluator([CocoBboxMetric()])))
    DataModelCheckHook().before_val(runner_with_validation(boxes_only, [FieldlessPluginMetric()]))
    rotated = model([dict(type='RotatedBoxTask')])
    DataModelCheckHook().before_train(runner_with_validation(rotated, Evaluator([DotaMetric()])))


def test_metrics_inside_a_per_source_metric_are_checked():
    per_source = PerSourceMetric(metrics=dict(shapes=dict(type='CocoBboxMetric'), planes=dict(type='DotaMetric')))
    assert [type(m).__name__ for m in leaf_metrics(Evaluator([per_source]))] == ['CocoBboxMetric', 'DotaMetric']
    with pytest.raises(ValueError, match=r"test_evaluator: DotaMetric evaluates 'polygons'"):
        check_metric_fields(list(model([dict(type='Box2DTask')]).heads.values()), Evaluator([per_source]),
                            'test_evaluator')


def test_flip_tta_with_a_task_lacking_flip_output_maps_fails_before_training():
    def net(flip):
        return CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 8, 8)),
                         neck=dict(type='DeconvNeck', out_channels=8), classes=('a', 'b'), test_cfg=dict(flip=flip),
                         heads=[dict(name='objects', tasks=[NoFlipBox2DTask(name='plain')], head_conv=8)])
    data = FakeDataset(('a', 'b'), ['bboxes'])
    with pytest.raises(ValueError, match=r"test_cfg.flip=True .* head 'objects' task NoFlipBox2DTask \('plain'\): "
                                         '.*does not implement flip_output_maps'):
        DataModelCheckHook().before_train(runner(net(True), data))
    with pytest.raises(ValueError, match='NoFlipBox2DTask'):
        DataModelCheckHook().before_test(SimpleNamespace(model=net(True), test_dataloader=SimpleNamespace(dataset=data)))
    DataModelCheckHook().before_train(runner(net(False), data))
    flip_ok = model([dict(type='Box2DTask'), dict(type='KeypointTask', num_keypoints=3, flip_pairs=[[1, 2]])])
    check_flip_support(list(flip_ok.heads.values()), dict(flip=True))


def test_flip_tta_with_a_keypoint_task_without_flip_pairs_fails_before_training():
    """KeypointTask implements flip_output_maps but cannot mirror joints without flip_pairs: the
    build-time check asks its check_flip_support, not only whether the method is overridden."""
    def net(kp_cfg, flip=True):
        return CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 8, 8)),
                         neck=dict(type='DeconvNeck', out_channels=8), classes=('a', 'b'), test_cfg=dict(flip=flip),
                         heads=[dict(name='people', head_conv=8, tasks=[dict(type='Box2DTask'), kp_cfg])])
    data = FakeDataset(('a', 'b'), ['bboxes', 'keypoints'])
    without_pairs = dict(type='KeypointTask', num_keypoints=3)
    with pytest.raises(ValueError, match=r"test_cfg.flip=True .* head 'people' task KeypointTask \('keypoints'\): "
                                         r'.*has no flip_pairs.*set flip_pairs in its config'):
        DataModelCheckHook().before_train(runner(net(without_pairs), data))
    with pytest.raises(ValueError, match='has no flip_pairs'):
        check_flip_support(list(net(without_pairs).heads.values()), dict(flip=True))
    DataModelCheckHook().before_train(runner(net(without_pairs, flip=False), data))  # no TTA: no pairs needed
    for pairs in ([[0, 2]], []):  # a pair, or a keypoint set declared to have none
        DataModelCheckHook().before_train(runner(net(dict(without_pairs, flip_pairs=pairs)), data))


def test_a_real_run_stops_before_its_first_iteration_when_validation_cannot_work(tmp_path, monkeypatch):
    """Through the tools' runner: a metric of a field no task provides fails in before_train."""
    from pathlib import Path

    from centerx.engine.launch import build_runner, load_config
    monkeypatch.chdir(tmp_path)
    cfg = load_config(str(Path(__file__).resolve().parents[1] / 'configs' / 'box2d_tiny.py'),
                      work_dir=str(tmp_path / 'work'))
    cfg.val_evaluator = dict(type='DotaMetric')
    runner = build_runner(cfg)
    with pytest.raises(ValueError, match=r"val_evaluator: DotaMetric evaluates 'polygons', but no task"):
        runner.train()
    assert runner.iter == 0
