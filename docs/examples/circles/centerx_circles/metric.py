"""Circle AP: VOC-style area AP at a disc IoU threshold, per class and mean."""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from centerx.evaluation import gather_predictions
from centerx.registry import METRICS

from .dataset import CircleImage, read_circle_file
from .iou import disc_iou


def match_image(det: np.ndarray, scores: np.ndarray, gt: np.ndarray, gt_ignore: np.ndarray,
                iou_thr: float) -> Tuple[np.ndarray, np.ndarray]:
    """VOC matching of one image and class.

    Detections, highest score first, each take the ground-truth disc they overlap most.
    With IoU >= ``iou_thr`` a detection is a true positive if that disc is not ignored and
    not yet taken, a false positive if it is already taken, and neither if it is ignored;
    below the threshold it is a false positive.

    Args:
        det: (D, 3) detected discs; scores: (D,).
        gt: (G, 3) ground-truth discs; gt_ignore: (G,) bool.

    Returns:
        tp, fp: (D,) bool, in the order of ``det``.
    """
    tp = np.zeros(len(det), bool)
    fp = np.zeros(len(det), bool)
    if len(det) == 0:
        return tp, fp
    if len(gt) == 0:
        return tp, ~tp
    iou = disc_iou(det, gt)
    best = iou.argmax(axis=1)
    best_iou = iou[np.arange(len(det)), best]
    taken = np.zeros(len(gt), bool)
    for d in np.argsort(-scores, kind='stable'):
        g = best[d]
        if best_iou[d] < iou_thr:
            fp[d] = True
        elif gt_ignore[g]:
            continue
        elif taken[g]:
            fp[d] = True
        else:
            tp[d] = taken[g] = True
    return tp, fp


def area_ap(tp: np.ndarray, fp: np.ndarray, scores: np.ndarray, num_gt: int) -> float:
    """VOC 2010+ area AP: the area under the precision envelope over recall.

    Args:
        tp, fp: (D,) bool flags of all detections of a class; scores: (D,).
        num_gt: non-ignored ground truths of the class (> 0).
    """
    order = np.argsort(-scores, kind='stable')
    tp_cum = np.cumsum(tp[order])
    fp_cum = np.cumsum(fp[order])
    recall = np.concatenate([[0.0], tp_cum / num_gt, [1.0]])
    precision = np.concatenate([[0.0], tp_cum / np.maximum(tp_cum + fp_cum, 1e-12), [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1])
    return float(np.sum((recall[steps + 1] - recall[steps]) * precision[steps + 1]))


@METRICS.register_module()
class CircleAPMetric(BaseMetric):
    """AP of the ``circles`` predictions of :class:`~centerx.structures.DetSample`.

    A detection matches a ground-truth disc of its class when their disc IoU (closed-form
    intersection, :func:`~centerx_circles.iou.disc_iou`) is ``>= iou_thr``; matching is
    VOC's (:func:`match_image`), AP is VOC 2010+ area AP (:func:`area_ap`): every
    detection counts (no top-N cut), ignored discs neither count nor penalise.

    Ground truth is read from the circle json (``ann_file``, default
    ``dataset_meta['ann_file']`` as set by :class:`~centerx_circles.dataset.CircleDataset`),
    for exactly the images seen by :meth:`process`, in original-image pixels; classes are
    ``dataset_meta['classes']``.

    Returns (mmengine adds the ``circles/`` prefix): ``mAP``, the mean over the classes
    with ground truth (-1.0 when no class has any), and ``AP_<class>`` for those classes;
    rounded to 4 decimals.

    Args:
        iou_thr: IoU threshold (0.5).
        ann_file: circle json of the evaluated split.
        collect_device, prefix, collect_dir: see :class:`mmengine.evaluator.BaseMetric`.
    """

    default_prefix: Optional[str] = 'circles'
    #: the prediction field evaluated: the run stops before training when no task provides it
    prediction_field: Optional[str] = 'circles'

    def __init__(self, iou_thr: float = 0.5, ann_file: Optional[str] = None, collect_device: str = 'cpu',
                 prefix: Optional[str] = None, collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.iou_thr = float(iou_thr)
        self.ann_file = ann_file
        self._gt_cache: Optional[Tuple[tuple, Dict[Any, CircleImage]]] = None

    def _classes(self) -> Tuple[str, ...]:
        classes = (self.dataset_meta or {}).get('classes')
        if not classes:
            raise ValueError('CircleAPMetric needs dataset_meta["classes"]; set metric.dataset_meta = '
                             'dataset.metainfo')
        return tuple(str(c) for c in classes)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store ``dict(img_id, circles (D, 3) float64, scores (D,), labels (D,))`` per sample."""
        num_classes = len(self._classes())
        for sample in data_samples:
            img_id = sample.meta.img_id
            img_id = img_id.item() if hasattr(img_id, 'item') else img_id
            dets = gather_predictions(sample, 'circles', (3,), num_classes, type(self).__name__)
            self.results.append(dict(img_id=img_id, circles=dets['circles'], scores=dets['scores'],
                                     labels=dets['labels']))

    def _ground_truth(self) -> Dict[Any, CircleImage]:
        path = self.ann_file or (self.dataset_meta or {}).get('ann_file')
        if not path:
            raise ValueError('CircleAPMetric needs ann_file or dataset_meta["ann_file"]')
        key = (os.path.abspath(path), os.path.getmtime(path), self._classes())
        if self._gt_cache is None or self._gt_cache[0] != key:
            _, images = read_circle_file(path, self._classes())
            self._gt_cache = (key, {img.id: img for img in images})
        return self._gt_cache[1]

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """AP per class and mAP over the collected results (see the class doc)."""
        classes = self._classes()
        gts = self._ground_truth()
        unique: Dict[Any, dict] = {}
        for res in results:  # samplers may repeat images to even out ranks
            unique.setdefault(res['img_id'], res)
        missing = [i for i in unique if i not in gts]
        if missing:
            raise ValueError(f'CircleAPMetric: image ids {missing[:10]} are not in the ground truth')
        tps = [[] for _ in classes]
        fps = [[] for _ in classes]
        scores = [[] for _ in classes]
        num_gt = np.zeros(len(classes), np.int64)
        for img_id, res in unique.items():
            gt = gts[img_id]
            for c in range(len(classes)):
                g, d = gt.labels == c, res['labels'] == c
                num_gt[c] += int((~gt.ignore[g]).sum())
                tp, fp = match_image(res['circles'][d], res['scores'][d], gt.circles[g], gt.ignore[g],
                                     self.iou_thr)
                tps[c].append(tp)
                fps[c].append(fp)
                scores[c].append(res['scores'][d])
        metrics: Dict[str, float] = {}
        rows = []
        for c, name in enumerate(classes):
            if num_gt[c] == 0:
                continue
            ap = area_ap(np.concatenate(tps[c]), np.concatenate(fps[c]), np.concatenate(scores[c]), int(num_gt[c]))
            metrics[f'AP_{name}'] = round(ap, 4)
            rows.append(f'{name:>12s} {int(num_gt[c]):6d} {sum(len(s) for s in scores[c]):7d} {ap:7.4f}')
        aps = list(metrics.values())
        metrics = {'mAP': round(float(np.mean(aps)), 4) if aps else -1.0, **metrics}
        print_log(f'circle AP at IoU {self.iou_thr} on {len(unique)} images:\n'
                  f'{"class":>12s} {"gts":>6s} {"dets":>7s} {"AP":>7s}\n' + '\n'.join(rows)
                  + f'\n{"mAP":>12s} {"":6s} {"":7s} {metrics["mAP"]:7.4f}', logger='current',
                  level=logging.INFO)
        return metrics
