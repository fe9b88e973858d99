"""COCO-format evaluation (pycocotools COCOeval) shared by the metrics of COCO-style tasks.

:class:`CocoEvalMetric` holds everything but the task's ``process`` step: the cached
ground truth of ``ann_file``, the results json, COCOeval runs (box AP, or OKS keypoint AP
with ``sigmas``) and the per-class table. A task's metric subclasses it, declares its
``prediction_field`` and stores per image ``dict(img_id, bboxes (D, 4) xywh, scores (D,),
category_ids (D,), ...)`` in ``process`` (with :func:`~centerx.evaluation.gather_predictions`).
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import logging
import os
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from centerx.utils import log

from .coco_backends import check_backend, coco_api

#: Keys of COCOeval ``stats[0:6]`` of ``iouType='bbox'``.
BOX_METRIC_NAMES: Tuple[str, ...] = ('bbox_mAP', 'bbox_mAP_50', 'bbox_mAP_75', 'bbox_mAP_s',
                                     'bbox_mAP_m', 'bbox_mAP_l')


def run_cocoeval(backend: str, gt: COCO, dets: List[dict], img_ids: List[Any], cat_ids: List[int],
                 iou_type: str = 'bbox', sigmas: Optional[Sequence[float]] = None) -> COCOeval:
    """``evaluate`` + ``accumulate`` of one COCO results list (quiet); ``summarize`` is left to
    the caller.

    Args:
        backend: one of :data:`~centerx.evaluation.coco_backends.COCO_BACKENDS`; ``gt`` must be
            that backend's ``COCO`` (the classes differ).
        gt: the ground truth, with ``iscrowd`` and ``area`` on every annotation.
        dets: COCO results dicts (``image_id``, ``category_id``, ``bbox`` and/or ``keypoints``,
            ``score``); not modified.
        img_ids, cat_ids: what is evaluated.
        iou_type: ``'bbox'`` or ``'keypoints'``; ``sigmas`` are the K OKS sigmas of the latter.
    """
    coco_cls, make_eval = coco_api(backend)
    with contextlib.redirect_stdout(io.StringIO()):
        if dets:
            dt = gt.loadRes(copy.deepcopy(dets))  # loadRes edits the dicts in place
        else:
            dt = coco_cls()
            dt.dataset = dict(images=list(gt.dataset['images']),
                              categories=list(gt.dataset['categories']), annotations=[])
            dt.createIndex()
        coco_eval = make_eval(gt, dt, iou_type)
        coco_eval.params.imgIds = list(img_ids)
        coco_eval.params.catIds = list(cat_ids)
        if sigmas is not None:
            coco_eval.params.kpt_oks_sigmas = np.asarray(sigmas, np.float64)
        coco_eval.evaluate()
        coco_eval.accumulate()
    return coco_eval


class CocoEvalMetric(BaseMetric):
    """COCO AP of the results a subclass's ``process`` stores (see the module doc).

    Args:
        ann_file: COCO ground-truth json; None -> ``dataset_meta['ann_file']`` (set by
            :class:`~centerx.data.coco_format.CocoFormatDataset`).
        outfile_prefix: when set, the detections are written to
            ``<outfile_prefix>.<results_suffix>.json`` (COCO results format) and kept;
            otherwise they go to a temporary folder that is removed after evaluation.
        classwise: also log a per-class AP table and return ``bbox_<class>_AP``.
        collect_device, prefix, collect_dir: see :class:`mmengine.evaluator.BaseMetric`.
        backend: ``'pycocotools'`` (the reference) or ``'faster_coco_eval'`` (same AP, faster;
            :mod:`~centerx.evaluation.coco_backends`).

    Only the images seen by ``process`` are evaluated, only on the dataset's ``cat_ids``.
    """

    default_prefix: Optional[str] = 'coco'
    #: the results are written to ``<outfile_prefix>.<results_suffix>.json``
    results_suffix: str = 'bbox'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 outfile_prefix: Optional[str] = None,
                 classwise: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None,
                 backend: str = 'pycocotools') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.backend = check_backend(backend, type(self).__name__)
        coco_api(self.backend)  # a missing package fails at build time, not after a training
        self.ann_file = ann_file
        self.outfile_prefix = outfile_prefix
        self.classwise = classwise
        self._gt_cache: Optional[Tuple[Tuple[str, float, str], COCO]] = None

    # ------------------------------------------------------------------ process
    def _cat_ids(self) -> Optional[Tuple[int, ...]]:
        meta = self.dataset_meta or {}
        return tuple(int(c) for c in meta['cat_ids']) if 'cat_ids' in meta else None

    def _category_lut(self) -> np.ndarray:
        """(num classes,) int64: class index -> COCO category id (``dataset_meta['cat_ids']``)."""
        cat_ids = self._cat_ids()
        if cat_ids is None:
            raise ValueError(f'{type(self).__name__} needs dataset_meta["cat_ids"] (the COCO category '
                             'id of each class index); set metric.dataset_meta = dataset.metainfo')
        return np.asarray(cat_ids, np.int64)

    @staticmethod
    def _image_id(sample: Any) -> Any:
        """The sample's COCO image id as a plain Python value (numpy / tensor scalars unwrapped)."""
        img_id = sample.meta.img_id
        return img_id.item() if hasattr(img_id, 'item') else img_id

    # ---------------------------------------------------------------- evaluation
    def _gt_file(self) -> str:
        ann_file = self.ann_file or (self.dataset_meta or {}).get('ann_file')
        if not ann_file:
            raise ValueError(f'{type(self).__name__} needs ann_file or dataset_meta["ann_file"]')
        return ann_file

    def _load_gt(self) -> COCO:
        ann_file = self._gt_file()
        key = (os.path.abspath(ann_file), os.path.getmtime(ann_file), self.backend)
        if self._gt_cache is None or self._gt_cache[0] != key:
            coco_cls, _ = coco_api(self.backend)
            with contextlib.redirect_stdout(io.StringIO()):
                gt = coco_cls(ann_file)
            gt.dataset.setdefault('info', {})  # older pycocotools copy these in loadRes
            gt.dataset.setdefault('licenses', [])
            for ann in gt.dataset.get('annotations', []):  # COCOeval needs both
                ann.setdefault('iscrowd', 0)
                ann.setdefault('area', float(ann['bbox'][2]) * float(ann['bbox'][3]))
            self._gt_cache = (key, gt)
        return self._gt_cache[1]

    @staticmethod
    def _to_json(results: List[dict]) -> List[dict]:
        """Per-image results -> COCO results list (one dict per detection)."""
        dets = []
        for res in results:
            img_id = res['img_id']
            for box, score, cat in zip(res['bboxes'].tolist(), res['scores'].tolist(),
                                       res['category_ids'].tolist()):
                dets.append(dict(image_id=img_id, bbox=box, score=score, category_id=cat))
        return dets

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """COCOeval over the collected results; logs the summary. See the class doc."""
        if not results:
            log(f'{type(self).__name__}: no results to evaluate; all metrics are -1', logging.WARNING)
            return {name: -1.0 for name in self._metric_names()}
        gt = self._load_gt()
        unique: Dict[Any, dict] = {}
        for res in results:  # samplers may repeat images to even out ranks
            unique.setdefault(res['img_id'], res)
        img_ids = sorted(unique)
        unknown = [i for i in img_ids if i not in gt.imgs]
        if unknown:
            raise ValueError(f'image ids {unknown[:10]} are not in the ground truth {self._gt_file()}')
        cat_ids = list(self._cat_ids() or gt.getCatIds())
        dets = self._to_json(list(unique.values()))
        tmp_dir = None
        if self.outfile_prefix is None:
            tmp_dir = tempfile.mkdtemp(prefix=f'coco_{self.results_suffix}_')
            out_prefix = os.path.join(tmp_dir, 'results')
        else:
            out_prefix = self.outfile_prefix
            os.makedirs(os.path.dirname(os.path.abspath(out_prefix)), exist_ok=True)
        try:
            out_file = f'{out_prefix}.{self.results_suffix}.json'
            with open(out_file, 'w') as f:
                json.dump(dets, f)
            if self.outfile_prefix is not None:
                log(f'{type(self).__name__}: wrote {len(dets)} detections to {out_file}')
            return self._evaluate_results(gt, dets, img_ids, cat_ids)
        finally:
            if tmp_dir is not None:
                shutil.rmtree(tmp_dir, ignore_errors=True)

    def _metric_names(self) -> Tuple[str, ...]:
        """Keys returned by :meth:`compute_metrics`."""
        return BOX_METRIC_NAMES

    def _evaluate_results(self, gt: COCO, dets: List[dict], img_ids: List[Any],
                          cat_ids: List[int]) -> Dict[str, float]:
        """Every evaluation of one results set (subclasses add theirs)."""
        return self._evaluate(gt, dets, img_ids, cat_ids)

    def _evaluate(self, gt: COCO, dets: List[dict], img_ids: List[Any], cat_ids: List[int],
                  iou_type: str = 'bbox', names: Sequence[str] = BOX_METRIC_NAMES,
                  sigmas: Optional[Sequence[float]] = None) -> Dict[str, float]:
        """One COCOeval run; ``names`` label ``stats[:len(names)]``; ``sigmas`` are the
        OKS sigmas of ``iou_type='keypoints'``. ``dets`` are not modified."""
        coco_eval = run_cocoeval(self.backend, gt, dets, img_ids, cat_ids, iou_type, sigmas)
        if not dets:
            log(f'{type(self).__name__}: no detections on {len(img_ids)} images; {iou_type} AP is 0 '
                '(-1 where there is no ground truth)', logging.WARNING)
        summary = io.StringIO()
        with contextlib.redirect_stdout(summary):
            coco_eval.summarize()
        log(f'{iou_type}:\n' + summary.getvalue())
        metrics = {name: float(round(float(v), 4)) for name, v in zip(names, coco_eval.stats)}
        if self.classwise and iou_type == 'bbox':
            metrics.update(self._classwise(coco_eval, gt, cat_ids))
        return metrics

    def _classwise(self, coco_eval: COCOeval, gt: COCO, cat_ids: List[int]) -> Dict[str, float]:
        """Log a per-class AP / AP50 / AP75 table; return ``bbox_<class>_AP`` values."""
        names = list((self.dataset_meta or {}).get('classes') or [gt.cats[c]['name'] for c in cat_ids])
        precision = coco_eval.eval['precision']  # (T iou, R recall, K class, A area, M maxdets)

        def ap(p: np.ndarray) -> float:
            p = p[p > -1]
            return float(p.mean()) if p.size else float('nan')

        rows, out = [], {}
        for k, name in enumerate(names):
            values = (ap(precision[:, :, k, 0, -1]), ap(precision[0, :, k, 0, -1]),
                      ap(precision[5, :, k, 0, -1]))
            rows.append((str(name),) + tuple(f'{v:.3f}' for v in values))
            out[f'bbox_{name}_AP'] = round(values[0], 4)
        header = ('class', 'AP', 'AP50', 'AP75')
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]
        lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths)) for r in [header] + rows]
        log('per-class bbox AP:\n' + '\n'.join(lines))
        return out
