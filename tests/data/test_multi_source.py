"""MultiSourceDataset (label remapping by name, index map, metainfo, errors) and
PerSourceMetric (routing, label remapping back, sub-metric results, distributed collection)."""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import DefaultSampler, pseudo_collate
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.structures import InstanceData
from torch.utils.data import DataLoader

import centerx_tasks  # noqa: F401  (registers datasets and metrics)
from centerx.data import MultiSourceDataset
from centerx.data.transforms import LoadImage, PackDetInputs
from centerx.evaluation import PerSourceMetric
from centerx.registry import DATASETS, EVALUATOR, METRICS
from centerx.structures import DetSample, ImageMeta

# Source A: categories cat (id 1), dog (id 2). Source B: dog (id 7), bird (id 3).
# B's classes sorted by id are (bird, dog): its label 1 is 'dog', A's label 1 is 'dog' too,
# but its label 0 is 'bird' where A's is 'cat'.
A = dict(images=[dict(id=1, file_name='a1.png', height=32, width=32),
                 dict(id=2, file_name='a2.png', height=32, width=32)],
         annotations=[dict(id=1, image_id=1, category_id=1, bbox=[2, 2, 10, 10]),
                      dict(id=2, image_id=1, category_id=2, bbox=[14, 14, 10, 8]),
                      dict(id=3, image_id=2, category_id=2, bbox=[4, 4, 20, 20])],
         categories=[dict(id=1, name='cat'), dict(id=2, name='dog')])
B = dict(images=[dict(id=1, file_name='b1.png', height=32, width=32),
                 dict(id=2, file_name='b2.png', height=32, width=32),
                 dict(id=3, file_name='b3.png', height=32, width=32)],
         annotations=[dict(id=1, image_id=1, category_id=7, bbox=[2, 2, 10, 10]),
                      dict(id=2, image_id=2, category_id=3, bbox=[6, 6, 12, 12]),
                      dict(id=3, image_id=3, category_id=3, bbox=[1, 1, 5, 5]),
                      dict(id=4, image_id=3, category_id=7, bbox=[10, 10, 20, 20])],
         categories=[dict(id=7, name='dog'), dict(id=3, name='bird')])
UNION = ('bird', 'cat', 'dog')  # the order of neither source


def write_source(root: Path, data: dict) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    (root / 'ann.json').write_text(json.dumps(data))
    for img in data['images']:
        cv2.imwrite(str(root / img['file_name']), np.full((img['height'], img['width'], 3), 128, np.uint8))
    return dict(type='CocoDetDataset', data_root=str(root), ann_file='ann.json', data_prefix=dict(img=''),
                test_mode=True)


@pytest.fixture
def sources(tmp_path: Path) -> Dict[str, dict]:
    return dict(a=write_source(tmp_path / 'a', A), b=write_source(tmp_path / 'b', B))


def build(sources, **kwargs) -> MultiSourceDataset:
    return DATASETS.build(dict(type='MultiSourceDataset', sources=sources, **kwargs))


# ------------------------------------------------------------------ dataset
def test_labels_are_remapped_by_class_name(sources):
    ds = build(sources, classes=UNION)
    names = [[UNION[int(v)] for v in ds.get_data_info(i)['instances']['labels']] for i in range(len(ds))]
    assert names == [['cat', 'dog'], ['dog'], ['dog'], ['bird'], ['bird', 'dog']]
    # the sources' own labels are untouched
    assert ds.sources['b'].get_data_info(2)['instances']['labels'].tolist() == [0, 1]
    assert ds.label_map('a').tolist() == [1, 2] and ds.label_map('b').tolist() == [0, 2]


def test_packed_samples_carry_union_labels_and_their_source(sources):
    pipeline = [LoadImage(), PackDetInputs()]
    ds = build(sources, classes=UNION, pipeline=pipeline)
    item = ds[4]
    sample = item['data_samples']
    assert isinstance(sample, DetSample)
    assert sample.gt.labels.tolist() == [0, 2]  # bird, dog
    assert set(sample.gt.keys()) == {'bboxes', 'labels', 'ignore'}
    assert sample.meta.extras['source'] == 'b'
    assert sample.meta.extras['source_index'] == 2 and sample.meta.extras['dataset_index'] == 4
    assert sample.annotated_labels == (0, 2) and 'annotated_labels' not in sample.meta.extras
    assert ds[0]['data_samples'].meta.extras['source'] == 'a'
    assert ds[0]['data_samples'].annotated_labels == (1, 2)
    assert ds[0]['data_samples'].gt.labels.tolist() == [1, 2]


def test_unpacked_items_are_remapped_too(sources):
    ds = build(sources, classes=UNION)  # no pipeline: the items are the data_info dicts
    item = ds[3]
    assert item['source'] == 'b' and item['source_index'] == 1 and item['dataset_index'] == 3
    assert item['annotated_labels'] == (0, 2)
    assert item['instances']['labels'].tolist() == [0]
    assert item['metainfo']['classes'] == ('bird', 'dog')  # the source's own metainfo for its pipeline


def test_length_and_index_mapping(sources):
    ds = build(sources, classes=UNION)
    assert len(ds) == 2 + 3
    assert [ds.locate(i) for i in range(5)] == [('a', 0), ('a', 1), ('b', 0), ('b', 1), ('b', 2)]
    assert ds.locate(-1) == ('b', 2)
    with pytest.raises(IndexError):
        ds.locate(5)
    with pytest.raises(IndexError):
        ds[-6]
    for i in range(len(ds)):
        name, local = ds.locate(i)
        info = ds.get_data_info(i)
        assert info['source'] == name and info['source_index'] == local and info['dataset_index'] == i
        assert info['img_path'] == ds.sources[name].get_data_info(local)['img_path']
    assert ds.get_cat_ids(4) == [0, 2]


def test_metainfo(sources):
    ds = build(sources, classes=UNION)
    meta = ds.metainfo
    assert meta['classes'] == UNION and len(meta['palette']) == 3
    assert set(meta['sources']) == {'a', 'b'}
    assert meta['sources']['a']['classes'] == ('cat', 'dog')
    assert meta['sources']['b']['classes'] == ('bird', 'dog')
    assert meta['sources']['b']['cat_ids'] == (3, 7)
    assert meta['sources']['a']['ann_file'].endswith(os.path.join('a', 'ann.json'))
    meta['sources']['a']['classes'] = ('x',)  # a copy
    assert ds.metainfo['sources']['a']['classes'] == ('cat', 'dog')


def test_default_classes_are_the_union_in_order(sources):
    assert build(sources).classes == ('cat', 'dog', 'bird')


def test_a_source_class_missing_from_the_union_is_an_error_naming_both_lists(sources):
    with pytest.raises(ValueError) as err:
        build(sources, classes=('cat', 'dog'))
    msg = str(err.value)
    assert "'b'" in msg and "['bird']" in msg and "['cat', 'dog']" in msg and "['bird', 'dog']" in msg
    with pytest.raises(ValueError, match='distinct'):
        build(sources, classes=('cat', 'cat', 'dog', 'bird'))


def test_lazy_init_defers_loading(sources):
    ds = build(sources, classes=UNION, lazy_init=True)
    assert not ds._fully_initialized and not ds.sources['a']._fully_initialized
    assert len(ds) == 5 and ds._fully_initialized


def test_works_with_mmengine_samplers_and_dataloader(sources):
    pipeline = [LoadImage(), PackDetInputs()]
    ds = build(sources, classes=UNION, pipeline=pipeline)
    loader = DataLoader(ds, batch_size=2, sampler=DefaultSampler(ds, shuffle=True, seed=0),
                        collate_fn=pseudo_collate)
    seen = [s.meta.extras['dataset_index'] for batch in loader for s in batch['data_samples']]
    assert sorted(seen) == list(range(5))


# ------------------------------------------------------------------ metric: a recording sub-metric
@METRICS.register_module(name='RecordingMetricForMultiSourceTests', force=True)
class RecordingMetric(BaseMetric):
    """Stores (source, dataset index, prediction label names) of every sample it sees."""

    default_prefix = 'rec'

    def process(self, data_batch, data_samples) -> None:
        classes = self.dataset_meta['classes']
        for s in data_samples:
            labels = [classes[int(v)] for p in s.preds.values() for v in p.labels]
            self.results.append(dict(source=s.meta.extras['source'], index=s.meta.extras.get('dataset_index'),
                                     labels=labels))

    def compute_metrics(self, results: list) -> dict:
        return dict(n=len(results), sources=sorted({r['source'] for r in results}),
                    indices=[r['index'] for r in results], labels=[r['labels'] for r in results])


def fake_sample(ds: MultiSourceDataset, idx: int, pred_labels: List[int]) -> DetSample:
    info = ds.get_data_info(idx)
    meta = ImageMeta(img_id=info['img_id'], img_path=info['img_path'], ori_shape=(32, 32),
                     extras=dict(source=info['source'], dataset_index=idx))
    n = len(pred_labels)
    pred = InstanceData(bboxes=torch.zeros(n, 4), scores=torch.ones(n),
                        labels=torch.tensor(pred_labels, dtype=torch.long))
    return DetSample(meta=meta, preds={'head': pred})


def test_routing_never_mixes_sources_and_maps_labels_back(sources):
    ds = build(sources, classes=UNION)
    metric = PerSourceMetric(metrics=dict(a=dict(type='RecordingMetricForMultiSourceTests'),
                                          b=dict(type='RecordingMetricForMultiSourceTests')))
    metric.dataset_meta = ds.metainfo
    assert metric.metrics['a'].dataset_meta['classes'] == ('cat', 'dog')
    # every sample predicts all three union classes: bird (0), cat (1), dog (2)
    samples = [fake_sample(ds, i, [0, 1, 2]) for i in range(len(ds))]
    metric.process({}, samples[:3])
    metric.process({}, samples[3:])
    for s in samples:  # the samples are not modified
        assert s.preds['head'].labels.tolist() == [0, 1, 2]
    out = metric.evaluate(len(ds))
    assert out['a/rec/n'] == 2 and out['b/rec/n'] == 3
    assert out['a/rec/sources'] == ['a'] and out['b/rec/sources'] == ['b']
    assert out['a/rec/indices'] == [0, 1] and out['b/rec/indices'] == [2, 3, 4]
    # source a has no 'bird': dropped; its label names come from its own classes
    assert out['a/rec/labels'] == [['cat', 'dog']] * 2
    assert out['b/rec/labels'] == [['bird', 'dog']] * 3
    assert not metric.results and not metric.metrics['a'].results


def test_sample_without_source_or_of_unknown_source_is_an_error(sources):
    ds = build(sources, classes=UNION)
    metric = PerSourceMetric(metrics=dict(a=dict(type='RecordingMetricForMultiSourceTests')))
    metric.dataset_meta = ds.metainfo
    sample = fake_sample(ds, 0, [1])
    sample.meta.extras = {}
    with pytest.raises(ValueError, match='source'):
        metric.process({}, [sample])
    sample.meta.extras = {'source': 'zzz'}
    with pytest.raises(ValueError, match='zzz'):
        metric.process({}, [sample])
    metric.process({}, [fake_sample(ds, 3, [0])])  # source b has no metric: skipped
    assert metric.evaluate(len(ds))['a/rec/n'] == 0
    bad = PerSourceMetric(metrics=dict(c=dict(type='RecordingMetricForMultiSourceTests')))
    with pytest.raises(ValueError, match="'c'"):
        bad.dataset_meta = ds.metainfo


def test_runner_style_evaluator_config_builds(sources):
    """A dict with a ``metrics`` key is an Evaluator config to mmengine's Runner."""
    from mmengine.registry import init_default_scope
    init_default_scope('centerx')
    ev = EVALUATOR.build(dict(type='PerSourceMetric', metrics=dict(a=dict(type='RecordingMetricForMultiSourceTests'))))
    assert isinstance(ev, Evaluator) and isinstance(ev.metrics[0], PerSourceMetric)


# ------------------------------------------------------------------ metric: real sub-metrics, perfect predictions
@pytest.fixture(scope='module')
def synthetic_val(tmp_path_factory) -> MultiSourceDataset:
    from centerx_tasks.box2d.synthetic import ensure_synthetic_coco
    from centerx_tasks.keypoints.synthetic import ensure_synthetic_poses
    from centerx_tasks.rotated.synthetic import ensure_synthetic_dota
    root = tmp_path_factory.mktemp('synthetic')
    shapes = ensure_synthetic_coco(str(root / 'shapes'), num_train=0, num_val=6, image_size=(64, 64), max_objects=3)
    dota = ensure_synthetic_dota(str(root / 'dota'), num_train=0, num_val=6, image_size=(64, 64))
    poses = ensure_synthetic_poses(str(root / 'poses'), num_train=0, num_val=6, image_size=(64, 64), max_persons=2)
    shape_classes = ('circle', 'rectangle', 'triangle', 'ellipse', 'star')
    vehicle_classes = ('small-vehicle', 'large-vehicle', 'ship', 'plane')
    return build(dict(
        shapes=dict(type='CocoDetDataset', ann_file=shapes['val_ann_file'], data_prefix=dict(img=shapes['val_img_dir']),
                    metainfo=dict(classes=shape_classes), test_mode=True),
        vehicles=dict(type='DotaDataset', data_root=os.path.dirname(dota['val_img_dir']),
                      metainfo=dict(classes=vehicle_classes), test_mode=True),
        people=dict(type='CocoKeypointsDataset', ann_file=poses['val_ann_file'],
                    data_prefix=dict(img=poses['val_img_dir']), metainfo=dict(classes=('person',)), test_mode=True)),
        classes=('person',) + vehicle_classes + shape_classes)


def perfect_sample(ds: MultiSourceDataset, idx: int) -> DetSample:
    """Ground truth as predictions of a three-head model, plus a confident wrong-class
    prediction of every other source's classes that must never reach this source's metric."""
    info = ds.get_data_info(idx)
    inst = info['instances']
    n = len(inst['labels'])
    labels = torch.as_tensor(inst['labels'], dtype=torch.long)
    meta = ImageMeta(img_id=info['img_id'], img_path=info['img_path'], ori_shape=(info['height'], info['width']),
                     extras=dict(source=info['source'], dataset_index=idx))
    preds = {}
    if 'polygons' in inst:
        preds['vehicles'] = InstanceData(polygons=torch.as_tensor(inst['polygons']), scores=torch.ones(n),
                                         labels=labels)
    else:
        head = InstanceData(bboxes=torch.as_tensor(inst['bboxes']), scores=torch.ones(n), labels=labels)
        if 'keypoints' in inst:
            kp = torch.as_tensor(inst['keypoints']).clone()
            kp[..., 2] = 1.0
            head.keypoints = kp
        preds['people' if 'keypoints' in inst else 'shapes'] = head
    own = ds.label_map(info['source']).tolist()
    foreign = [c for c in range(len(ds.classes)) if c not in own]
    box = torch.tensor([[5.0, 5.0, 40.0, 40.0]]).repeat(len(foreign), 1)
    poly = torch.tensor([[5.0, 5.0, 40.0, 5.0, 40.0, 40.0, 5.0, 40.0]]).repeat(len(foreign), 1)
    preds['wrong'] = InstanceData(bboxes=box, polygons=poly, keypoints=torch.full((len(foreign), 17, 3), 20.0),
                                  scores=torch.full((len(foreign),), 2.0),
                                  labels=torch.tensor(foreign, dtype=torch.long))
    return DetSample(meta=meta, preds=preds)


def test_perfect_predictions_score_one_on_every_source(synthetic_val):
    ds = synthetic_val
    ev = Evaluator(PerSourceMetric(metrics=dict(shapes=dict(type='CocoBboxMetric'), vehicles=dict(type='DotaMetric'),
                                                people=dict(type='CocoKeypointsMetric'))))
    ev.dataset_meta = ds.metainfo
    samples = [perfect_sample(ds, i) for i in range(len(ds))]
    for start in range(0, len(samples), 4):  # batches mixing sources
        ev.process(samples[start:start + 4])
    out = ev.evaluate(len(ds))
    assert out['shapes/coco/bbox_mAP'] == pytest.approx(1.0)
    assert out['vehicles/dota/mAP'] == pytest.approx(1.0)
    assert out['people/coco/kpt_AP'] == pytest.approx(1.0)
    assert out['people/coco/bbox_mAP'] == pytest.approx(1.0)
    assert 'wrong' in samples[0].preds and len(samples[0].preds['wrong']) == len(ds.classes) - 5


# ------------------------------------------------------------------ metric: two processes
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, port: int, workdir: str, meta: dict, queue) -> None:
    import torch.distributed as dist
    os.chdir(workdir)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}', rank=rank, world_size=2)
    try:
        metric = PerSourceMetric(metrics=dict(a=dict(type='RecordingMetricForMultiSourceTests'),
                                              b=dict(type='RecordingMetricForMultiSourceTests')))
        metric.dataset_meta = meta
        # DefaultSampler over 5 items and 2 ranks: rank 0 gets 0, 2, 4 and rank 1 gets 1, 3 and
        # the padding repeat 0
        indices = [0, 2, 4] if rank == 0 else [1, 3, 0]
        sources = ['a', 'a', 'b', 'b', 'b']
        samples = []
        for i in indices:
            meta_i = ImageMeta(img_id=i, img_path='', ori_shape=(32, 32),
                               extras=dict(source=sources[i], dataset_index=i))
            pred = InstanceData(labels=torch.tensor([2]), scores=torch.ones(1))
            samples.append(DetSample(meta=meta_i, preds={'h': pred}))
        metric.process({}, samples)
        queue.put((rank, metric.evaluate(5)))
    finally:
        dist.destroy_process_group()


def test_distributed_collection_drops_padding_and_keeps_every_source(sources, tmp_path):
    ds = build(sources, classes=UNION)
    meta = ds.metainfo
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_ddp_worker, args=(r, port, str(tmp_path), meta, queue)) for r in range(2)]
    for p in procs:
        p.start()
    results = dict(queue.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert results[0] == results[1]  # broadcast to every rank
    out = results[0]
    assert out['a/rec/indices'] == [0, 1] and out['b/rec/indices'] == [2, 3, 4]
    assert out['a/rec/sources'] == ['a'] and out['b/rec/sources'] == ['b']
