"""One training set made of several datasets annotated for different tasks and classes.

A model with several heads (``shapes`` boxes, ``vehicles`` rotated boxes, ``person`` boxes +
keypoints ...) learns from datasets that each annotate only some of its classes and tasks.
:class:`MultiSourceDataset` concatenates them, gives every item the model's labels and says
where it came from; :class:`~centerx.evaluation.PerSourceMetric` evaluates each source with
its own metric.

What makes the mixing work is in the core: a sample whose ground truth lacks the field a
head's center task requires (``bboxes`` for ``Box2DTask``, ``polygons`` for
``RotatedBoxTask``) adds no loss to that head, and a sample adds no negative heatmap loss to
the classes its source does not annotate (``DetSample.annotated_labels``, set here; both read
from the presence mask of :mod:`centerx.task.presence`). Each source keeps its own fields and
says which classes it labels, so a DOTA image (``polygons``) never teaches the box heads that
its cars are background, and a car-only source never teaches a car + person head that its
people are background.
"""
from __future__ import annotations

import bisect
import copy
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from centerx.registry import DATASETS
from centerx.structures import DetSample, ImageMeta

from .base_dataset import default_palette


def label_lut(source_classes: Sequence[str], target_classes: Sequence[str], missing: int = -1,
              what: str = 'source') -> np.ndarray:
    """``lut[i]`` = index in ``target_classes`` of ``source_classes[i]`` (``missing`` when absent).

    Args:
        source_classes: class names in the labels' order.
        target_classes: class names of the labels wanted.
        missing: value for a source class that is not a target class; ``None`` raises instead.
        what: how the error message calls ``source_classes``.

    Raises:
        ValueError: ``missing=None`` and some source class is not a target class (the message
            names both lists).
    """
    source_classes, target_classes = [str(c) for c in source_classes], [str(c) for c in target_classes]
    position = {c: i for i, c in enumerate(target_classes)}
    absent = [c for c in source_classes if c not in position]
    if absent and missing is None:
        raise ValueError(f'{what} classes {absent} are not among the classes {target_classes} '
                         f'(the {what} has {source_classes}); add them to `classes` (the model\'s '
                         'classes) or select the source\'s classes with metainfo=dict(classes=...)')
    return np.asarray([position.get(c, missing if missing is not None else -1) for c in source_classes],
                      dtype=np.int64).reshape(-1)


@DATASETS.register_module()
class MultiSourceDataset:
    """Concatenation of named datasets with their labels mapped to one class list.

    Items are those of the sources, in order (``shapes`` 0..n0-1, then ``vehicles`` ...), with:

    - labels mapped **by class name** from the source's ``metainfo['classes']`` to
      ``classes``: on the packed sample (``DetSample.gt.labels``, after the source's
      pipeline, which therefore sees the source's own labels and metainfo, e.g. keypoint
      flip pairs) or, for a source without ``PackDetInputs``, on ``results['instances']``;
    - ``meta.extras`` (of the packed sample's :class:`~centerx.structures.ImageMeta`):
      ``source`` (the source name), ``source_index`` (index in the source) and
      ``dataset_index`` (index here; :class:`~centerx.evaluation.PerSourceMetric` uses it to
      drop the repeats a distributed sampler pads with);
    - ``DetSample.annotated_labels``: the labels, in ``classes``, of the source's
      ``metainfo['classes']`` (the classes it annotates: the model's heads give its images no
      negative heatmap loss on the others). An unpacked results dict gets these four keys at
      its top level.

    Only the labels change: every source keeps its own annotation fields (``bboxes``,
    ``polygons``, ``keypoints`` ...), which is what lets the model skip the losses of the
    tasks a sample is not annotated for.

    Args:
        sources: ``{name: dataset config or dataset}``; configs are built with ``DATASETS``.
            Order is kept.
        classes: the class list of the labels (the model's ``classes``); None = the union of
            the sources' classes in order of first appearance. A source class that is not in
            ``classes`` is an error (raised when the sources are initialised).
        pipeline: default pipeline for every source *config* that sets none (a source with its
            own ``pipeline`` keeps it).
        lazy_init: defer :meth:`full_init` (and the sources' loading) to first use.

    ``len`` is the sum of the sources' lengths; works with mmengine's ``DefaultSampler``,
    ``InfiniteSampler`` and distributed training (the index -> (source, local index) map is
    deterministic). ``metainfo``: ``classes``, ``palette`` and ``sources`` (``{name: that
    source's own metainfo}``, which :class:`~centerx.evaluation.PerSourceMetric` hands to
    each source's metric). The built sources are ``self.sources`` (``{name: dataset}``).
    """

    def __init__(self, sources: Mapping[str, Union[dict, Any]], classes: Optional[Sequence[str]] = None,
                 pipeline: Optional[Sequence[Union[dict, Any]]] = None, lazy_init: bool = False) -> None:
        if not isinstance(sources, Mapping) or not sources:
            raise ValueError(f'MultiSourceDataset needs sources=dict(name=dataset config, ...), got {sources!r}')
        self.sources: Dict[str, Any] = {}
        for name, cfg in sources.items():
            if not isinstance(name, str) or not name or '/' in name:
                raise ValueError(f'source names must be non-empty strings without "/", got {name!r}')
            if isinstance(cfg, Mapping):
                cfg = dict(cfg)
                if pipeline is not None and 'pipeline' not in cfg:
                    cfg['pipeline'] = copy.deepcopy(list(pipeline))
                if lazy_init:
                    cfg.setdefault('lazy_init', True)
                self.sources[name] = DATASETS.build(cfg)
            else:
                self.sources[name] = cfg
        if classes is not None:
            classes = tuple(str(c) for c in classes)
            if not classes or len(set(classes)) != len(classes):
                raise ValueError(f'MultiSourceDataset classes must be distinct names, got {list(classes)}')
        self._classes: Optional[Tuple[str, ...]] = classes
        self._luts: Dict[str, np.ndarray] = {}
        self._cumulative: List[int] = []
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    # ------------------------------------------------------------------ init
    @property
    def names(self) -> Tuple[str, ...]:
        """Source names, in order."""
        return tuple(self.sources)

    def full_init(self) -> None:
        """Initialise every source, build the label maps (checking the classes) and the index map."""
        if self._fully_initialized:
            return
        for ds in self.sources.values():
            if hasattr(ds, 'full_init'):
                ds.full_init()
        source_classes = {}
        for name, ds in self.sources.items():
            cls = (getattr(ds, 'metainfo', None) or {}).get('classes')
            if cls is None:
                raise ValueError(f'source {name!r} ({type(ds).__name__}) has no metainfo["classes"]; '
                                 'MultiSourceDataset maps labels by class name')
            source_classes[name] = tuple(str(c) for c in cls)
        if self._classes is None:
            union: List[str] = []
            for cls in source_classes.values():
                union += [c for c in cls if c not in union]
            self._classes = tuple(union)
        self._luts = {name: label_lut(cls, self._classes, missing=None, what=f'source {name!r}')
                      for name, cls in source_classes.items()}
        sizes = [len(ds) for ds in self.sources.values()]
        self._cumulative = list(np.cumsum(sizes).tolist()) if sizes else []
        self._fully_initialized = True

    # ------------------------------------------------------------------ metainfo
    @property
    def classes(self) -> Tuple[str, ...]:
        """The class list of the labels."""
        self.full_init()
        return self._classes

    @property
    def metainfo(self) -> dict:
        """``dict(classes, palette, sources={name: source metainfo})`` (a copy)."""
        self.full_init()
        return dict(classes=self._classes, palette=default_palette(len(self._classes)),
                    sources={name: copy.deepcopy(dict(getattr(ds, 'metainfo', None) or {}))
                             for name, ds in self.sources.items()})

    def label_map(self, name: str) -> np.ndarray:
        """(source classes,) int64: source label -> label in :attr:`classes`."""
        self.full_init()
        return self._luts[name].copy()

    # ------------------------------------------------------------------ indexing
    def __len__(self) -> int:
        self.full_init()
        return int(self._cumulative[-1]) if self._cumulative else 0

    def locate(self, idx: int) -> Tuple[str, int]:
        """Dataset index -> (source name, index in that source). Negative indices count from the end."""
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f'index {idx} out of range for MultiSourceDataset of length {n}')
        idx = int(idx) % n
        k = bisect.bisect_right(self._cumulative, idx)
        start = self._cumulative[k - 1] if k else 0
        return self.names[k], idx - start

    def get_data_info(self, idx: int) -> dict:
        """The source's ``data_info`` (a copy) with labels mapped and ``source`` /
        ``source_index`` / ``dataset_index`` keys."""
        name, local = self.locate(idx)
        info = self.sources[name].get_data_info(local)
        info = dict(info)
        instances = info.get('instances')
        if isinstance(instances, Mapping) and 'labels' in instances:
            instances = dict(instances)
            instances['labels'] = self._map_numpy(name, instances['labels'])
            info['instances'] = instances
        info.update(source=name, source_index=local, dataset_index=int(idx) % len(self))
        return info

    def get_cat_ids(self, idx: int) -> List[int]:
        """Distinct labels (in :attr:`classes`) of item ``idx`` (for class-balanced sampling)."""
        labels = (self.get_data_info(idx).get('instances') or {}).get('labels', [])
        return sorted(set(int(v) for v in np.asarray(labels).reshape(-1)))

    def __getitem__(self, idx: int) -> Any:
        name, local = self.locate(idx)
        item = self.sources[name][local]
        return self._annotate(item, name, local, int(idx) % len(self))

    # ------------------------------------------------------------------ mapping
    def _map_numpy(self, name: str, labels: Any) -> np.ndarray:
        lut = self._luts[name]
        labels = np.asarray(labels, dtype=np.int64)
        if labels.size and (labels.min() < 0 or labels.max() >= len(lut)):
            raise ValueError(f'source {name!r} gave labels {sorted(set(labels.reshape(-1).tolist()))} '
                             f'outside its {len(lut)} classes')
        return lut[labels]

    def _extras(self, name: str, local: int, idx: int) -> dict:
        return dict(source=name, source_index=local, dataset_index=idx)

    def annotated_labels(self, name: str) -> Tuple[int, ...]:
        """The labels, in :attr:`classes`, that source ``name`` annotates (its own classes)."""
        self.full_init()
        return tuple(int(v) for v in self._luts[name])

    def _annotate(self, item: Any, name: str, local: int, idx: int) -> Any:
        """Map the labels of a pipeline output and record its source."""
        if not isinstance(item, dict):
            raise TypeError(f'source {name!r} item {local}: expected a dict from its pipeline, got '
                            f'{type(item).__name__}')
        extras = self._extras(name, local, idx)
        sample = item.get('data_samples')
        if isinstance(sample, DetSample):
            gt = sample.gt
            if 'labels' in gt:
                labels = gt.labels
                lut = torch.as_tensor(self._luts[name], device=labels.device)
                if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= len(lut)):
                    raise ValueError(f'source {name!r} item {local}: labels '
                                     f'{sorted(set(labels.tolist()))} outside its {len(lut)} classes')
                gt.labels = lut[labels.long()]
            sample.meta.extras = {**sample.meta.extras, **extras}
            sample.annotated_labels = self.annotated_labels(name)
            return item
        if isinstance(item.get('instances'), Mapping) and 'labels' in item['instances']:
            item['instances'] = dict(item['instances'])
            item['instances']['labels'] = self._map_numpy(name, item['instances']['labels'])
        if isinstance(item.get('meta'), ImageMeta):
            item['meta'].extras = {**item['meta'].extras, **extras}
        item.update(extras, annotated_labels=self.annotated_labels(name))
        return item

    def __repr__(self) -> str:
        sizes = ', '.join(f'{n}={len(d)}' for n, d in self.sources.items()) if self._fully_initialized else 'lazy'
        return f'MultiSourceDataset({sizes}, classes={list(self._classes or [])})'
