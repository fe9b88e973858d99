"""Evaluate each source of a :class:`~centerx.data.MultiSourceDataset` with its own metric."""
from __future__ import annotations

import dataclasses
import logging
import sys
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from mmengine.dist import broadcast_object_list, collect_results, is_main_process
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.evaluator.metric import _to_cpu
from mmengine.structures import InstanceData

from centerx.registry import EVALUATOR, METRICS
from centerx.structures import DetSample
from centerx.utils import log


def remap_instances(instances: InstanceData, lut: torch.Tensor) -> InstanceData:
    """A copy of ``instances`` with ``labels`` mapped by ``lut`` and the rows whose label maps
    to -1 dropped (``instances`` is not modified; without ``labels`` it is returned as is)."""
    if 'labels' not in instances:
        return instances
    labels = instances.labels.long()
    lut = lut.to(labels.device)
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(lut)):
        raise ValueError(f'labels {sorted(set(labels.tolist()))} are not indices of the {len(lut)} classes')
    mapped = lut[labels]
    keep = mapped >= 0
    out = instances[keep]
    out.labels = mapped[keep]
    return out


@METRICS.register_module()
class PerSourceMetric(BaseMetric):
    """One metric per source of a :class:`~centerx.data.MultiSourceDataset`.

    Each sample goes to the metric of its source (``sample.meta.extras['source']``, set by
    the dataset) as a shallow copy whose prediction ``labels`` (and ground-truth ``labels``)
    are mapped from the dataset's classes back to the source's own; predictions of classes
    the source does not have are dropped (a box head that also predicts ``person`` does not
    pollute the shapes AP). The sample itself is not modified. Sub-metric ``i`` gets
    ``dataset_meta['sources'][name]`` (the source's own metainfo: ``ann_file``,
    ``cat_ids``, ``ann_dir`` ...) as its ``dataset_meta``.

    Returned keys: ``<source>/<sub-metric prefix>/<key>``, e.g. ``shapes/coco/bbox_mAP``,
    ``vehicles/dota/mAP``, ``people/coco/kpt_AP`` (this metric's own ``prefix``, if given,
    goes in front).

    Distributed evaluation: mmengine's ``collect_results`` interleaves the ranks' result
    lists and truncates them to the dataset size, which is only right for one result per
    dataset index in sampler order. Here each sub-metric's ``process`` runs on one sample at
    a time, and what it appends is moved into this metric's ``results`` tagged with the
    source and the sample's ``extras['dataset_index']``. :meth:`evaluate` collects that one
    list (untruncated), drops the repeats that a distributed sampler pads with (same index),
    orders by dataset index and hands each sub-metric its own results through its
    ``compute_metrics``. Sub-metrics therefore need the usual ``process`` /
    ``compute_metrics`` split (an overridden ``evaluate`` of a sub-metric is not used).
    ``data_batch`` is passed to the sub-metrics unchanged (not split by source).

    Args:
        metrics: ``{source name: metric config or metric}``; configs are built with
            ``METRICS``. Sources of the dataset without a metric are skipped (logged once).
        collect_device, prefix, collect_dir: see :class:`mmengine.evaluator.BaseMetric`.
    """

    default_prefix: Optional[str] = ''

    def __init__(self, metrics: Mapping[str, Any], collect_device: str = 'cpu', prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if not isinstance(metrics, Mapping) or not metrics:
            raise ValueError(f'PerSourceMetric needs metrics=dict(source=metric config, ...), got {metrics!r}')
        self.metrics: Dict[str, BaseMetric] = {}
        for name, cfg in metrics.items():
            metric = METRICS.build(dict(cfg)) if isinstance(cfg, Mapping) else cfg
            if not isinstance(metric, BaseMetric):
                raise TypeError(f'metric of source {name!r} must be a BaseMetric, got {type(metric).__name__}')
            self.metrics[name] = metric
        self._luts: Dict[str, torch.Tensor] = {}
        self._skipped: set = set()

    # ------------------------------------------------------------------ meta
    @property
    def dataset_meta(self) -> Optional[dict]:
        """The MultiSourceDataset's metainfo; setting it sets every sub-metric's."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        self._dataset_meta = dataset_meta
        if dataset_meta is None:
            return
        sources = dataset_meta.get('sources')
        classes = dataset_meta.get('classes')
        if not isinstance(sources, Mapping) or classes is None:
            raise ValueError('PerSourceMetric needs dataset_meta with "classes" and "sources" (the metainfo '
                             f'of a MultiSourceDataset), got keys {sorted(dataset_meta)}')
        missing = [n for n in self.metrics if n not in sources]
        if missing:
            raise ValueError(f'PerSourceMetric has metrics for sources {missing} that the dataset does not '
                             f'have; its sources are {sorted(sources)}')
        from centerx.data.multi_source import label_lut
        self._luts = {}
        for name, meta in sources.items():
            src_classes = (meta or {}).get('classes')
            if src_classes is None:
                raise ValueError(f'source {name!r} metainfo has no "classes"')
            self._luts[name] = torch.as_tensor(label_lut(classes, src_classes, missing=-1))
        for name, metric in self.metrics.items():
            metric.dataset_meta = sources[name]

    # ------------------------------------------------------------------ routing
    def to_source(self, sample: DetSample, name: str) -> DetSample:
        """A shallow copy of ``sample`` with labels in the classes of source ``name``."""
        lut = self._luts[name]
        preds = {head: remap_instances(pred, lut) for head, pred in sample.preds.items()}
        gt = remap_instances(sample.gt, lut) if isinstance(sample.gt, InstanceData) else sample.gt
        return dataclasses.replace(sample, gt=gt, preds=preds)

    def process(self, data_batch: Any, data_samples: Sequence[DetSample]) -> None:
        """Route each sample to its source's metric; keep what that metric stores, tagged."""
        if not self._luts:
            raise ValueError('PerSourceMetric.dataset_meta is not set (the runner sets it from the '
                             'MultiSourceDataset\'s metainfo; set it by hand outside a runner)')
        for sample in data_samples:
            extras = getattr(getattr(sample, 'meta', None), 'extras', None) or {}
            name = extras.get('source')
            if name is None:
                raise ValueError('PerSourceMetric: a sample without meta.extras["source"]; it evaluates the '
                                 'samples of a MultiSourceDataset')
            if name not in self._luts:
                raise ValueError(f'PerSourceMetric: sample of unknown source {name!r}; the dataset\'s '
                                 f'sources are {sorted(self._luts)}')
            metric = self.metrics.get(name)
            if metric is None:
                if name not in self._skipped:
                    self._skipped.add(name)
                    log(f'PerSourceMetric: no metric for source {name!r}; its samples are not evaluated',
                        logging.WARNING)
                continue
            index = extras.get('dataset_index')
            start = len(metric.results)
            metric.process(data_batch, [self.to_source(sample, name)])
            new = metric.results[start:]
            del metric.results[start:]
            for k, entry in enumerate(new):
                self.results.append((name, None if index is None else int(index), k, entry))

    # ------------------------------------------------------------------ evaluate
    @staticmethod
    def _group(collected: List[Tuple[str, Optional[int], int, Any]]) -> Dict[str, List[Any]]:
        """Drop padded repeats (same source, dataset index and entry number), order by
        dataset index, and group the entries by source."""
        seen = set()
        unique = []
        for item in collected:
            name, index, k, _ = item
            if index is not None:
                key = (name, index, k)
                if key in seen:
                    continue
                seen.add(key)
            unique.append(item)
        if all(item[1] is not None for item in unique):
            unique.sort(key=lambda item: (item[1], item[2]))
        grouped: Dict[str, List[Any]] = {}
        for name, _, _, entry in unique:
            grouped.setdefault(name, []).append(entry)
        return grouped

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Every sub-metric on its source's entries of the collected ``results``."""
        grouped = self._group(results)
        out: Dict[str, float] = {}
        for name, metric in self.metrics.items():
            entries = grouped.get(name, [])
            if not entries:
                log(f'PerSourceMetric: no results for source {name!r}', logging.WARNING)
            values = metric.compute_metrics(entries)
            head = f'{name}/{metric.prefix}/' if metric.prefix else f'{name}/'
            out.update({head + key: value for key, value in values.items()})
        return out

    def evaluate(self, size: int) -> dict:
        """Collect the tagged results of all ranks (not truncated to ``size``: a source's
        metric may store any number of entries per sample), compute every sub-metric on the
        main process and broadcast the metrics."""
        if self.collect_device == 'cpu':
            collected = collect_results(self.results, sys.maxsize, self.collect_device, tmpdir=self.collect_dir)
        else:
            collected = collect_results(self.results, sys.maxsize, self.collect_device)
        if is_main_process():
            metrics = self.compute_metrics(_to_cpu(collected))
            if self.prefix:
                metrics = {f'{self.prefix}/{k}': v for k, v in metrics.items()}
            box = [metrics]
        else:
            box = [None]
        broadcast_object_list(box)
        self.results.clear()
        for metric in self.metrics.values():
            metric.results.clear()
        return box[0]


@EVALUATOR.register_module(name='PerSourceMetric')
def build_per_source_evaluator(**kwargs: Any) -> Evaluator:
    """``val_evaluator = dict(type='PerSourceMetric', metrics=...)``: mmengine's Runner reads a
    config dict with a ``metrics`` key as an *Evaluator* config and builds it from the
    EVALUATOR registry; this entry makes that build an Evaluator holding one PerSourceMetric."""
    return Evaluator(PerSourceMetric(**kwargs))
