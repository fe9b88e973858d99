"""nuScenes detection metrics (mAP, NDS and the TP errors) of camera 3D boxes, as an mmengine metric.

Two evaluation paths, both with the devkit's own code for the numbers:

- **devkit** (``data_root`` holds a nuScenes dataroot, ``<data_root>/<version>/sample.json``):
  the submission json goes through the official ``DetectionEval`` against the devkit's
  ground truth. When the evaluated images cover only part of ``eval_set`` (a debug
  subset), ``DetectionEval`` would refuse; the metric then loads the devkit ground truth
  of exactly the evaluated samples (``load_gt_of_sample_tokens``), applies the devkit's
  ``add_center_dist`` and ``filter_eval_boxes`` to both sides and runs the algorithm
  below, with a warning that the numbers are of a subset.
- **algorithm** (no dataroot): the devkit's ``accumulate`` / ``calc_ap`` / ``calc_tp`` /
  ``DetectionMetrics`` on ``EvalBoxes`` of ``DetectionBox`` built from the ground truth the
  metric collects from the samples themselves (below). What differs from the official
  evaluation, and why:

  * ground truth is what the dataset gives each *camera image*, so objects seen by no
    camera are missing; the union over a sample's cameras is de-duplicated (an object
    seen by two overlapping cameras appears once): two boxes from *different* cameras
    of the same sample with the same label, the same size (within 1 mm: they are the
    same annotation) and centers closer than ``gt_merge_dist`` are one object;
  * ``ignore`` ground truth is removed (the devkit removes boxes with no lidar/radar
    point, which is what info converters mark invalid); there is no per-box point count,
    so the devkit's zero-points filter has nothing else to do;
  * the range filter is the devkit's rule (``ego_dist < class_range[class]`` on both
    sides), with the ego position taken as the mean of the sample's cameras'
    ``ego2global`` translations instead of the LIDAR_TOP ego pose (they differ by the
    ego motion between the camera exposures, ~0.3 m at 10 m/s; only boxes right at the
    range limit can be affected);
  * the bike-rack filter is skipped (it needs the ``static_object.bicycle_rack``
    annotations of the database).

Ground truth of the algorithm path comes from each :class:`~centerx.structures.DetSample`'s
``gt`` at test time: ``boxes3d`` (N, 7) in the camera frame, ``labels`` (N,), and
optionally ``velocities`` (N, 2) (vx, vz) (NaN = unknown; without them every GT velocity is
unknown and the devkit scores AVE = 1), ``attr_labels`` (N,) (index into
``dataset_meta['attributes']``, default :data:`~centerx_tasks.box3d.nuscenes_results.NUSCENES_ATTRIBUTES`;
-1 = none) and ``ignore`` (N,). The test
pipeline keeps 3D boxes in the original camera frame (image warps only change the
intrinsics), so they are usable as they are; a flipped sample (``meta.flipped``) is
refused because its boxes are mirrored.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.evaluator import BaseMetric

from centerx.evaluation import OptionalField, gather_predictions
from centerx.registry import METRICS
from centerx.utils import log as _log  # a module attribute: tests capture the messages by patching it
from centerx.utils import to_numpy

from .camera_meta import CameraMeta
from .nuscenes_devkit import (TP_NAMES, camera_gt_eval_boxes, evaluate_eval_boxes, metrics_table, range_filter,
                              restrict_metrics, summarize_metrics)
from .nuscenes_names import NUSCENES_ATTRIBUTES, NUSCENES_CLASSES
from .nuscenes_results import CameraDetections, split_img_id
from .nuscenes_submission import to_detection_results

METRIC_NAMES: Tuple[str, ...] = ('mAP', 'NDS') + tuple(TP_NAMES.values())
#: read where a head predicts them: (vx, vz) velocities (else 0) and attribute labels (else -1 = none)
NUSCENES_OPTIONAL_FIELDS: Dict[str, OptionalField] = {
    'velocities': OptionalField(shape=(2,), dtype=np.float64, default=lambda boxes: np.zeros((len(boxes), 2))),
    'attr_labels': OptionalField(shape=(), dtype=np.int64, default=lambda boxes: np.full(len(boxes), -1, np.int64)),
}


# --------------------------------------------------------------------------- metric
@METRICS.register_module()
class NuScenesMetric(BaseMetric):
    """nuScenes detection score of the ``boxes3d`` predictions of :class:`~centerx.structures.DetSample`.

    Each DetSample is one camera image: ``meta.img_id`` is ``'<sample_token>/<CAM>'``,
    its :class:`~centerx_tasks.box3d.camera_meta.CameraMeta` has the (4, 4) poses ``cam2ego`` /
    ``ego2global`` (``ego2global`` should be the ego pose at the camera's timestamp; the
    sample's LIDAR_TOP pose is off by the ego motion, tens of cm).
    Predictions: every head's InstanceData with ``boxes3d`` (D, 7) in the
    original camera frame, ``scores``, ``labels`` (index into ``dataset_meta['classes']``,
    default :data:`~centerx_tasks.box3d.nuscenes_results.NUSCENES_CLASSES`), optional ``velocities``
    (D, 2) (vx, vz) and ``attr_labels`` (D,). See the module doc for the ground truth.

    Args:
        data_root: nuScenes dataroot (with ``<version>/sample.json``) for the devkit path.
        version: nuScenes version, e.g. ``'v1.0-mini'``, ``'v1.0-trainval'``.
        eval_set: split evaluated by the devkit path (``'mini_val'``, ``'val'`` ...).
        eval_config: devkit config name (``config_factory``), giving the class ranges,
            matching thresholds and the 500-detection cap.
        outfile_prefix: when set, the submission is written to
            ``<outfile_prefix>.results_nusc.json`` and kept (else a temporary file).
        use_devkit_eval: ``'auto'`` (devkit when ``data_root`` holds a dataroot, else
            algorithm), True (devkit; error without a dataroot) or False (algorithm).
        nms_iou_thr: cross-camera BEV NMS threshold of the submission (None = off), see
            :func:`~centerx_tasks.box3d.nuscenes_submission.to_detection_results`.
        eval_classes: ``'all'`` (the official rule: every class of the config counts,
            AP 0 and TP errors 1 for a class without ground truth) or ``'with_gt'``
            (average over the classes with ground truth among the evaluated samples,
            useful on small subsets).
        gt_merge_dist: meters; cross-camera de-duplication distance of the collected
            ground truth (module doc).
        collect_device, prefix, collect_dir: see :class:`mmengine.evaluator.BaseMetric`.

    Returns of :meth:`compute_metrics` (before mmengine adds ``nuscenes/``): ``mAP``,
    ``NDS``, ``mATE``, ``mASE``, ``mAOE``, ``mAVE``, ``mAAE`` and ``AP_<class>`` for each
    evaluated class, rounded to 4 decimals; all -1.0 when nothing can be evaluated.
    """

    default_prefix: Optional[str] = 'nuscenes'
    #: the prediction field evaluated (checked against the model's tasks before a run)
    prediction_field: Optional[str] = 'boxes3d'

    def __init__(self,
                 data_root: Optional[str] = None,
                 version: str = 'v1.0-mini',
                 eval_set: str = 'mini_val',
                 eval_config: str = 'detection_cvpr_2019',
                 outfile_prefix: Optional[str] = None,
                 use_devkit_eval: Union[str, bool] = 'auto',
                 nms_iou_thr: Optional[float] = None,
                 eval_classes: str = 'all',
                 gt_merge_dist: float = 0.5,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if use_devkit_eval not in ('auto', True, False):
            raise ValueError(f"NuScenesMetric: use_devkit_eval must be 'auto', True or False, got {use_devkit_eval!r}")
        if eval_classes not in ('all', 'with_gt'):
            raise ValueError(f"NuScenesMetric: eval_classes must be 'all' or 'with_gt', got {eval_classes!r}")
        self.data_root = data_root
        self.version = version
        self.eval_set = eval_set
        self.eval_config = eval_config
        self.outfile_prefix = outfile_prefix
        self.use_devkit_eval = use_devkit_eval
        self.nms_iou_thr = nms_iou_thr
        self.eval_classes = eval_classes
        self.gt_merge_dist = float(gt_merge_dist)
        self._nusc = None

    # ------------------------------------------------------------------ helpers
    def _classes(self) -> Tuple[str, ...]:
        classes = tuple(str(c) for c in ((self.dataset_meta or {}).get('classes') or NUSCENES_CLASSES))
        bad = [c for c in classes if c not in NUSCENES_CLASSES]
        if bad:
            raise ValueError(f'NuScenesMetric: classes {bad} are not nuScenes detection classes')
        return classes

    def _attributes(self) -> Tuple[str, ...]:
        return tuple(str(a) for a in ((self.dataset_meta or {}).get('attributes') or NUSCENES_ATTRIBUTES))

    def _config(self):
        from nuscenes.eval.common.config import config_factory
        return config_factory(self.eval_config)

    def _has_dataroot(self) -> bool:
        return bool(self.data_root) and os.path.isfile(os.path.join(self.data_root, self.version, 'sample.json'))

    def _use_devkit(self) -> bool:
        if self.use_devkit_eval is True:
            if not self._has_dataroot():
                raise FileNotFoundError(f'NuScenesMetric(use_devkit_eval=True): no nuScenes tables at '
                                        f'{self.data_root}/{self.version}/sample.json')
            return True
        return self.use_devkit_eval == 'auto' and self._has_dataroot()

    # ------------------------------------------------------------------ process
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store per DetSample a dict with the image's ids, poses, predictions
        (camera frame, numpy) and, when the sample carries them, its ground truth.

        Raises:
            MissingPredictionsError: no head of an image predicts ``boxes3d``.
            ValueError: missing poses, lengths disagree, a label is not a class index, or
                ground truth of a flipped sample.
        """
        num_classes = len(self._classes())
        for sample in data_samples:
            meta = sample.meta
            token, camera = split_img_id(meta.img_id)
            poses = meta.find_task_meta(CameraMeta)
            if poses is None or poses.cam2ego is None or poses.ego2global is None:
                raise ValueError(f'NuScenesMetric: image {meta.img_id} has no cam2ego / ego2global pose '
                                 '(its CameraMeta)')
            dets = gather_predictions(sample, 'boxes3d', (7,), num_classes, type(self).__name__,
                                      optional=NUSCENES_OPTIONAL_FIELDS)
            res = dict(img_id=str(meta.img_id), sample_token=token, camera=camera,
                       cam2ego=poses.cam2ego, ego2global=poses.ego2global, **dets)
            res['gt'] = self._camera_gt(sample)
            self.results.append(res)

    @staticmethod
    def _camera_gt(sample: Any) -> Optional[Dict[str, np.ndarray]]:
        gt = sample.gt
        if gt is None or 'boxes3d' not in gt or 'labels' not in gt:
            return None
        if sample.meta.flipped:
            raise ValueError(f'NuScenesMetric: image {sample.meta.img_id} is flipped; its ground-truth boxes3d '
                             'are mirrored (do not flip in the test pipeline)')
        boxes = to_numpy(gt.boxes3d, np.float64).reshape(-1, 7)
        n = len(boxes)
        out = dict(boxes3d=boxes, labels=to_numpy(gt.labels, np.int64).reshape(-1),
                   velocities=to_numpy(gt.velocities, np.float64).reshape(-1, 2) if 'velocities' in gt
                   else np.full((n, 2), np.nan),
                   attr_labels=to_numpy(gt.attr_labels, np.int64).reshape(-1) if 'attr_labels' in gt
                   else np.full(n, -1, np.int64),
                   ignore=to_numpy(gt.ignore, bool).reshape(-1) if 'ignore' in gt else np.zeros(n, bool))
        if any(len(v) != n for v in out.values()):
            raise ValueError(f'NuScenesMetric: image {sample.meta.img_id}: ground-truth fields disagree in length: '
                             + ', '.join(f'{k} {len(v)}' for k, v in out.items()))
        return out

    # ---------------------------------------------------------------- evaluation
    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Build and write the submission, evaluate it, log the table. See the class doc."""
        if not results:
            _log('NuScenesMetric: no results to evaluate; all metrics are -1', logging.WARNING)
            return {name: -1.0 for name in METRIC_NAMES}
        unique: Dict[str, dict] = {}
        for res in results:  # samplers may repeat images to even out ranks
            unique.setdefault(res['img_id'], res)
        images = list(unique.values())
        classes = self._classes()
        cfg = self._config()
        submission = to_detection_results(
            [CameraDetections(r['sample_token'], r['camera'], r['boxes3d'], r['scores'], r['labels'],
                              r['cam2ego'], r['ego2global'], r['velocities'], r['attr_labels']) for r in images],
            class_names=classes, attr_names=self._attributes(), max_per_sample=cfg.max_boxes_per_sample,
            nms_iou_thr=self.nms_iou_thr, class_range=cfg.class_range)
        tmp_dir = tempfile.mkdtemp(prefix='nuscenes_eval_')
        try:
            if self.outfile_prefix is None:
                out_file = os.path.join(tmp_dir, 'results_nusc.json')
            else:
                out_file = f'{self.outfile_prefix}.results_nusc.json'
                os.makedirs(os.path.dirname(os.path.abspath(out_file)), exist_ok=True)
            with open(out_file, 'w') as f:
                json.dump(submission, f)
            if self.outfile_prefix is not None:
                num = sum(len(v) for v in submission['results'].values())
                _log(f'NuScenesMetric: wrote {num} detections of {len(submission["results"])} samples to {out_file}')
            if self._use_devkit():
                metrics, gt_classes, what = self._devkit_eval(out_file, cfg, tmp_dir)
            else:
                metrics, gt_classes, what = self._algorithm_eval(submission, images, classes, cfg)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        if self.eval_classes == 'with_gt':
            if not gt_classes:
                _log(f'NuScenesMetric: no ground truth in {what}; all metrics are -1', logging.WARNING)
                return {name: -1.0 for name in METRIC_NAMES}
            metrics = restrict_metrics(metrics, [c for c in metrics.cfg.class_names if c in gt_classes])
        _log(f'nuScenes detection evaluation of {what}:\n{metrics_table(metrics)}')
        return summarize_metrics(metrics)

    # devkit path --------------------------------------------------------------
    def _nuscenes(self):
        if self._nusc is None:
            from nuscenes import NuScenes
            self._nusc = NuScenes(version=self.version, dataroot=self.data_root, verbose=False)
        return self._nusc

    def _split_tokens(self, nusc) -> List[str]:
        from nuscenes.eval.common.loaders import get_samples_of_custom_split, get_samples_of_scenes
        from nuscenes.utils.splits import create_splits_scenes, is_predefined_split

        if is_predefined_split(self.eval_set):
            return get_samples_of_scenes(create_splits_scenes()[self.eval_set], nusc)
        return get_samples_of_custom_split(self.eval_set, nusc)

    def _devkit_eval(self, result_path: str, cfg, tmp_dir: str):
        from nuscenes.eval.common.data_classes import EvalBoxes
        from nuscenes.eval.common.loaders import add_center_dist, filter_eval_boxes, load_gt_of_sample_tokens
        from nuscenes.eval.detection.data_classes import DetectionBox
        from nuscenes.eval.detection.evaluate import DetectionEval

        nusc = self._nuscenes()
        split = set(self._split_tokens(nusc))
        with open(result_path) as f:
            submission = json.load(f)
        tokens = set(submission['results'])
        outside = sorted(tokens - split)
        if outside:
            raise ValueError(f'NuScenesMetric: {len(outside)} evaluated samples are not in {self.eval_set} of '
                             f'{self.version}, e.g. {outside[:3]}')
        if tokens == split:
            evaluator = DetectionEval(nusc, cfg, result_path, self.eval_set,
                                      output_dir=os.path.join(tmp_dir, 'devkit'), verbose=False)
            metrics, _ = evaluator.evaluate()
            gt_classes = {b.detection_name for b in evaluator.gt_boxes.all}
            return metrics, gt_classes, f'{self.eval_set} ({len(tokens)} samples, devkit DetectionEval)'
        _log(f'NuScenesMetric: the evaluated images cover {len(tokens)} of the {len(split)} samples of '
             f'{self.eval_set}; evaluating that subset against the devkit ground truth (not an official '
             'number)', logging.WARNING)
        ordered = sorted(tokens)
        gt = load_gt_of_sample_tokens(nusc, ordered, DetectionBox, verbose=False)
        preds = EvalBoxes.deserialize(submission['results'], DetectionBox)
        gt = filter_eval_boxes(nusc, add_center_dist(nusc, gt), cfg.class_range)
        preds = filter_eval_boxes(nusc, add_center_dist(nusc, preds), cfg.class_range)
        metrics, _ = evaluate_eval_boxes(gt, preds, cfg)
        gt_classes = {b.detection_name for b in gt.all}
        return metrics, gt_classes, f'{len(tokens)} samples of {self.eval_set} (devkit ground truth)'

    # algorithm path -------------------------------------------------------------
    def _algorithm_eval(self, submission: dict, images: List[dict], classes: Sequence[str], cfg):
        from nuscenes.eval.common.data_classes import EvalBoxes
        from nuscenes.eval.detection.data_classes import DetectionBox

        missing = [r['img_id'] for r in images if r['gt'] is None]
        if missing:
            raise ValueError(
                f'NuScenesMetric: {len(missing)} of {len(images)} images carry no ground truth (gt.boxes3d and '
                f'gt.labels), e.g. {missing[:3]}; keep the annotations in the test pipeline or give data_root '
                '(a nuScenes dataroot) for the devkit evaluation')
        ego = {}
        for r in images:
            ego.setdefault(r['sample_token'], []).append(r['ego2global'][:3, 3])
        ego = {k: np.mean(v, axis=0) for k, v in ego.items()}
        gt = camera_gt_eval_boxes(images, classes, self.gt_merge_dist, ego, self._attributes())
        preds = EvalBoxes.deserialize(submission['results'], DetectionBox)
        for token in preds.sample_tokens:
            for box in preds[token]:
                box.ego_translation = tuple((np.asarray(box.translation) - ego[token]).tolist())
        gt = range_filter(gt, cfg.class_range)
        preds = range_filter(preds, cfg.class_range)
        metrics, _ = evaluate_eval_boxes(gt, preds, cfg)
        gt_classes = {b.detection_name for b in gt.all}
        return metrics, gt_classes, (f'{len(ego)} samples ({len(images)} images, ground truth from the '
                                     f'samples: {len(gt.all)} boxes in range)')
