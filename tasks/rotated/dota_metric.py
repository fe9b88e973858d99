"""DOTA task-1 (oriented boxes) mAP as an mmengine metric."""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.evaluator import BaseMetric

from centerx.evaluation import gather_predictions
from centerx.registry import METRICS
from centerx.utils import log

from .dota_eval import CLASSES_WITHOUT_GT, eval_dota, group_detections
from .dota_labels import DOTA_V15_CLASSES, parse_dota_label_file
from .merge import DOTA_MERGE_NMS_THR, merge_patch_detections
from .submission import write_task1_submission

GtArrays = Tuple[np.ndarray, np.ndarray, np.ndarray]


@METRICS.register_module()
class DotaMetric(BaseMetric):
    """DOTA task-1 mAP of the ``polygons`` predictions of :class:`~centerx.structures.DetSample`.

    Ground truth is read from the label files, ``<ann_dir>/<img_id>.txt`` (difficult
    objects neither count nor penalise), for exactly the images seen by :meth:`process`.

    Args:
        iou_thr: a detection matches a GT when their polygon IoU is ``> iou_thr``.
        use_07_metric: VOC07 11-point AP (the official DOTA default) or area AP.
        ann_dir: label folder; None -> ``dataset_meta['ann_dir']`` (set by
            :class:`~centerx_tasks.rotated.dota_dataset.DotaDataset`).
        merge_patches: the images are devkit patches (``<image>__<rate>__<x0>___<y0>``):
            map their detections to the full images, run polygon NMS per image and
            class (:func:`~centerx_tasks.rotated.merge.merge_patch_detections`) and evaluate
            the full images against ``merged_ann_dir``.
        merged_ann_dir: label folder of the full images (required with merge_patches).
        nms_iou_thr: merge NMS threshold (default the devkit's, ``DOTA_MERGE_NMS_THR``).
        outfile_dir: when set, write ``Task1_<class>.txt`` there (of the merged full
            images when merging), the official submission format.
        classwise: log the per-class table (gts, difficult, dets, recall, precision,
            AP); otherwise only the mAP is logged.
        classes_without_gt: ``'ignore'`` (default): mAP over the classes with ground
            truth among the evaluated images, which equals the devkit's number whenever
            every class is present (DOTA val) and stays informative on subsets;
            ``'devkit'``: count the other classes as the official script does (AP 0 with
            the 11-point metric, all C classes in the mean), for the devkit's number on
            any subset (:func:`~centerx_tasks.rotated.dota_eval.eval_dota`).
        collect_device, prefix, collect_dir: see :class:`mmengine.evaluator.BaseMetric`.

    Returns of :meth:`compute_metrics` (before mmengine adds the ``dota/`` prefix):
    ``mAP`` (mean AP over the classes with non-difficult ground truth among the
    evaluated images, or over all classes with ``classes_without_gt='devkit'``;
    -1.0 when no class has ground truth) and ``AP_<class>`` for each averaged
    class; values rounded to 4 decimals. Classes are ``dataset_meta['classes']``.
    Predictions with a non-finite polygon or score are left out with a logged count.
    """

    default_prefix: Optional[str] = 'dota'
    #: the prediction field evaluated (checked against the model's tasks before a run)
    prediction_field: Optional[str] = 'polygons'

    def __init__(self,
                 iou_thr: float = 0.5,
                 use_07_metric: bool = True,
                 ann_dir: Optional[str] = None,
                 merge_patches: bool = False,
                 merged_ann_dir: Optional[str] = None,
                 nms_iou_thr: float = DOTA_MERGE_NMS_THR,
                 outfile_dir: Optional[str] = None,
                 classwise: bool = True,
                 classes_without_gt: str = 'ignore',
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if merge_patches and not merged_ann_dir:
            raise ValueError('DotaMetric(merge_patches=True) needs merged_ann_dir, the label folder '
                             'of the full (unsplit) images')
        self.iou_thr = float(iou_thr)
        self.use_07_metric = bool(use_07_metric)
        self.ann_dir = ann_dir
        self.merge_patches = bool(merge_patches)
        self.merged_ann_dir = merged_ann_dir
        self.nms_iou_thr = float(nms_iou_thr)
        self.outfile_dir = outfile_dir
        self.classwise = bool(classwise)
        if classes_without_gt not in CLASSES_WITHOUT_GT:
            raise ValueError(f'DotaMetric: classes_without_gt must be one of {CLASSES_WITHOUT_GT}, '
                             f'got {classes_without_gt!r}')
        self.classes_without_gt = classes_without_gt

    # ------------------------------------------------------------------ process
    def _classes(self) -> Tuple[str, ...]:
        classes = (self.dataset_meta or {}).get('classes')
        if not classes:
            raise ValueError('DotaMetric needs dataset_meta["classes"]; set metric.dataset_meta = '
                             'dataset.metainfo')
        return tuple(str(c) for c in classes)

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store, per DetSample, ``dict(img_id: str, polygons (D, 8) float64, scores (D,)
        float64, labels (D,) int64)`` in ``self.results``.

        Raises:
            MissingPredictionsError: no head of an image predicts ``polygons``.
            ValueError: lengths disagree or a label is not a class index.
        """
        num_classes = len(self._classes())
        for sample in data_samples:
            dets = gather_predictions(sample, 'polygons', (8,), num_classes, type(self).__name__)
            self.results.append(dict(img_id=str(sample.meta.img_id), polygons=dets['polygons'],
                                     scores=dets['scores'], labels=dets['labels']))

    # ---------------------------------------------------------------- evaluation
    def _read_gt(self, ann_dir: str, image_ids: Sequence[str], classes: Tuple[str, ...]) -> Dict[str, GtArrays]:
        """``{image_id: (polys (N, 8), labels (N,), difficult (N,))}`` from ``ann_dir``.

        Objects of DOTA classes outside ``classes`` are dropped (as the dataset does).
        """
        parse_classes = classes + tuple(c for c in DOTA_V15_CLASSES if c not in classes)
        gts: Dict[str, GtArrays] = {}
        skipped = 0
        for image_id in image_ids:
            path = os.path.join(ann_dir, f'{image_id}.txt')
            if not os.path.isfile(path):
                raise FileNotFoundError(f'DotaMetric: no ground truth {path} for evaluated image {image_id!r}')
            parsed = parse_dota_label_file(path, parse_classes, on_invalid='skip')
            skipped += len(parsed.skipped)
            keep = parsed.labels < len(classes)
            gts[image_id] = (parsed.polys[keep], parsed.labels[keep], parsed.difficult[keep])
        if skipped:
            log(f'DotaMetric: skipped {skipped} malformed ground-truth line(s) in {ann_dir}',
                logging.WARNING)
        return gts

    def _gt_dir(self) -> str:
        if self.merge_patches:
            return str(self.merged_ann_dir)
        ann_dir = self.ann_dir or (self.dataset_meta or {}).get('ann_dir')
        if not ann_dir:
            raise ValueError('DotaMetric needs ann_dir or dataset_meta["ann_dir"]')
        return ann_dir

    def _detections(self, results: List[dict]) -> Tuple[Dict[str, Dict[int, np.ndarray]], List[str]]:
        """Nested ``{image: {class: (K, 9)}}`` and the evaluated image ids (merged if asked)."""
        unique: Dict[str, dict] = {}
        for res in results:  # samplers may repeat images to even out ranks
            unique.setdefault(res['img_id'], res)
        ids = [r['img_id'] for r in unique.values() for _ in range(len(r['scores']))]
        stack = (lambda key, shape: np.concatenate([r[key] for r in unique.values()]).reshape(shape))
        polys, scores, labels = stack('polygons', (-1, 8)), stack('scores', (-1,)), stack('labels', (-1,))
        finite = np.isfinite(polys).all(axis=1) & np.isfinite(scores) if ids else np.ones(0, bool)
        if not finite.all():
            log(f'DotaMetric: left out {int((~finite).sum())} prediction(s) with non-finite polygon or '
                f'score (first of image {ids[int(np.flatnonzero(~finite)[0])]!r})', logging.WARNING)
            ids = [name for name, ok in zip(ids, finite.tolist()) if ok]
            polys, scores, labels = polys[finite], scores[finite], labels[finite]
        dets = group_detections(ids, polys, scores, labels) if ids else {}
        image_ids = sorted(unique)
        if not self.merge_patches:
            return dets, image_ids
        patch_dets = {name: dets.get(name, {}) for name in image_ids}
        try:
            merged = merge_patch_detections(patch_dets, self.nms_iou_thr)
        except ValueError as e:
            raise ValueError(f'DotaMetric(merge_patches=True): {e}') from e
        return merged, sorted(merged)

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Evaluate the collected results; logs the table. See the class doc."""
        classes = self._classes()
        if not results:
            log('DotaMetric: no results to evaluate; mAP is -1', logging.WARNING)
            return {'mAP': -1.0}
        dets, image_ids = self._detections(results)
        gts = self._read_gt(self._gt_dir(), image_ids, classes)
        if self.outfile_dir is not None:
            write_task1_submission(self.outfile_dir, dets, classes)
            log(f'DotaMetric: wrote Task1_<class>.txt files for {len(image_ids)} images to '
                f'{self.outfile_dir}')
        result = eval_dota(dets, gts, len(classes), iou_thr=self.iou_thr,
                           use_07_metric=self.use_07_metric, class_names=classes,
                           classes_without_gt=self.classes_without_gt)
        what = f'{len(image_ids)} {"merged " if self.merge_patches else ""}images'
        if self.classwise:
            log(f'DOTA task-1 evaluation of {what}:\n{result.table()}')
        else:
            log(f'DOTA task-1 mAP of {what}: {result.map:.4f}')
        has_gt = result.num_gts > 0
        metrics = {'mAP': round(float(result.map), 4) if has_gt.any() else -1.0}
        for name, ap, valid in zip(classes, result.ap, has_gt):
            if valid or self.classes_without_gt == 'devkit':
                metrics[f'AP_{name}'] = round(float(ap), 4)
        return metrics
