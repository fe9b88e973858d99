"""The nuScenes devkit's detection algorithm on already built ``EvalBoxes``, and the camera
ground truth of :class:`~centerx_tasks.box3d.nuscenes_metric.NuScenesMetric` as ``EvalBoxes``.

The numbers are the devkit's own (``accumulate`` / ``calc_ap`` / ``calc_tp`` /
``DetectionMetrics``); what this module adds is running them on a subset of classes or
samples, and the table and summary the metric logs and returns.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .nuscenes_names import NUSCENES_ATTRIBUTES
from .nuscenes_results import camera_boxes_to_global

#: TP errors the devkit leaves undefined (NaN) for a class (its ``DetectionEval.evaluate``)
UNDEFINED_TP_ERRORS: Dict[str, Tuple[str, ...]] = {'traffic_cone': ('attr_err', 'vel_err', 'orient_err'),
                                                   'barrier': ('attr_err', 'vel_err')}
#: devkit TP metric name -> reported name
TP_NAMES: Dict[str, str] = {'trans_err': 'mATE', 'scale_err': 'mASE', 'orient_err': 'mAOE',
                            'vel_err': 'mAVE', 'attr_err': 'mAAE'}

def config_for_classes(cfg, class_names: Sequence[str]):
    """A copy of a devkit ``DetectionConfig`` whose ``class_names`` (the classes
    ``DetectionMetrics`` averages TP errors over) are ``class_names``."""
    from nuscenes.eval.detection.data_classes import DetectionConfig

    out = DetectionConfig.deserialize(cfg.serialize())
    out.class_names = tuple(class_names)
    return out


def evaluate_eval_boxes(gt_boxes, pred_boxes, cfg, class_names: Optional[Sequence[str]] = None):
    """The devkit's detection evaluation of already filtered ``EvalBoxes``.

    Runs ``accumulate`` for every class and ``cfg.dist_ths``, ``calc_ap`` on each and
    ``calc_tp`` at ``cfg.dist_th_tp`` (NaN for :data:`UNDEFINED_TP_ERRORS`), as
    ``DetectionEval.evaluate`` does.

    Args:
        gt_boxes, pred_boxes: ``EvalBoxes`` of ``DetectionBox``.
        cfg: ``DetectionConfig``.
        class_names: classes to evaluate and average over (default ``cfg.class_names``).

    Returns:
        ``(DetectionMetrics, DetectionMetricDataList)``.
    """
    from nuscenes.eval.detection.algo import accumulate, calc_ap, calc_tp
    from nuscenes.eval.detection.constants import TP_METRICS
    from nuscenes.eval.detection.data_classes import DetectionMetricDataList, DetectionMetrics

    classes = tuple(cfg.class_names if class_names is None else class_names)
    cfg = config_for_classes(cfg, classes)
    md_list = DetectionMetricDataList()
    metrics = DetectionMetrics(cfg)
    for name in classes:
        for dist_th in cfg.dist_ths:
            md = accumulate(gt_boxes, pred_boxes, name, cfg.dist_fcn_callable, dist_th)
            md_list.set(name, dist_th, md)
            metrics.add_label_ap(name, dist_th, calc_ap(md, cfg.min_recall, cfg.min_precision))
        md = md_list[(name, cfg.dist_th_tp)]
        for metric_name in TP_METRICS:
            undefined = metric_name in UNDEFINED_TP_ERRORS.get(name, ())
            metrics.add_label_tp(name, metric_name,
                                 float('nan') if undefined else calc_tp(md, cfg.min_recall, metric_name))
    return metrics, md_list


def restrict_metrics(metrics, class_names: Sequence[str]):
    """``DetectionMetrics`` averaged over ``class_names`` only (values copied)."""
    from nuscenes.eval.detection.constants import TP_METRICS
    from nuscenes.eval.detection.data_classes import DetectionMetrics

    out = DetectionMetrics(config_for_classes(metrics.cfg, class_names))
    for name in class_names:
        for dist_th in metrics.cfg.dist_ths:
            out.add_label_ap(name, dist_th, metrics.get_label_ap(name, dist_th))
        for metric_name in TP_METRICS:
            out.add_label_tp(name, metric_name, metrics.get_label_tp(name, metric_name))
    out.add_runtime(metrics.eval_time or 0.0)
    return out


def summarize_metrics(metrics) -> Dict[str, float]:
    """``mAP``, ``NDS``, ``mATE`` ... ``mAAE`` and ``AP_<class>`` (rounded to 4 decimals)."""
    tp = metrics.tp_errors
    out = {'mAP': metrics.mean_ap, 'NDS': metrics.nd_score}
    out.update({TP_NAMES[k]: tp[k] for k in TP_NAMES})
    out.update({f'AP_{name}': ap for name, ap in metrics.mean_dist_aps.items()})
    return {k: round(float(v), 4) for k, v in out.items()}


def metrics_table(metrics) -> str:
    """The per-class table the devkit prints (AP and the five TP errors) plus the summary."""
    header = ('class', 'AP', 'ATE', 'ASE', 'AOE', 'AVE', 'AAE')
    rows = []
    for name, ap in metrics.mean_dist_aps.items():
        errs = [metrics.get_label_tp(name, k) for k in ('trans_err', 'scale_err', 'orient_err',
                                                        'vel_err', 'attr_err')]
        rows.append((name, f'{ap:.3f}') + tuple(f'{e:.3f}' for e in errs))
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths)) for r in [header] + rows]
    tp = metrics.tp_errors
    summary = f'mAP {metrics.mean_ap:.4f}  NDS {metrics.nd_score:.4f}  ' + '  '.join(
        f'{TP_NAMES[k]} {tp[k]:.4f}' for k in TP_NAMES)
    return '\n'.join(lines + [summary])


def range_filter(boxes, class_range: Dict[str, float]):
    """The devkit's distance and zero-points rules of ``filter_eval_boxes`` (in place)."""
    for token in boxes.sample_tokens:
        boxes.boxes[token] = [b for b in boxes[token]
                              if b.ego_dist < class_range[b.detection_name] and b.num_pts != 0]
    return boxes


def camera_gt_eval_boxes(images: Sequence[Dict[str, Any]],
                         class_names: Sequence[str],
                         merge_dist: float = 0.5,
                         ego_translation: Optional[Dict[str, np.ndarray]] = None,
                         attr_names: Sequence[str] = NUSCENES_ATTRIBUTES):
    """Per-camera ground truth -> devkit ``EvalBoxes`` of ``DetectionBox`` (global frame),
    one box per object of a sample.

    Args:
        images: dicts with ``sample_token``, ``cam2ego``, ``ego2global`` and ``gt`` =
            dict(boxes3d (N, 7) camera frame, labels (N,), velocities (N, 2) (vx, vz) or
            NaN, attr_labels (N,) index into attr_names (outside = none), ignore (N,) bool).
        class_names: label -> nuScenes class name; labels outside are dropped.
        merge_dist: boxes of *different* images of a sample with the same label, sizes
            equal within 1 mm and centers closer than this (meters) are one object; the
            first one seen is kept.
        ego_translation: per sample token, the (3,) global ego position for the boxes'
            ``ego_translation`` (default: the first image's ``ego2global`` translation).
        attr_names: attribute label -> name (default :data:`NUSCENES_ATTRIBUTES`).
    """
    from nuscenes.eval.common.data_classes import EvalBoxes
    from nuscenes.eval.detection.data_classes import DetectionBox

    per_sample: Dict[str, List[tuple]] = {}
    for cam_index, img in enumerate(images):
        gt = img['gt']
        keep = (~gt['ignore']) & (gt['labels'] >= 0) & (gt['labels'] < len(class_names))
        keep &= np.isfinite(gt['boxes3d']).all(axis=1)
        glob = camera_boxes_to_global(gt['boxes3d'][keep], gt['velocities'][keep], img['cam2ego'],
                                      img['ego2global'])
        per_sample.setdefault(img['sample_token'], []).append(
            (glob, gt['labels'][keep], gt['attr_labels'][keep], np.full(int(keep.sum()), cam_index),
             img['ego2global'][:3, 3]))
    out = EvalBoxes()
    for token, parts in per_sample.items():
        trans = np.concatenate([p[0].translation for p in parts]).reshape(-1, 3)
        size = np.concatenate([p[0].size for p in parts]).reshape(-1, 3)
        rot = np.concatenate([p[0].rotation for p in parts]).reshape(-1, 4)
        vel = np.concatenate([p[0].velocity for p in parts]).reshape(-1, 2)
        labels = np.concatenate([p[1] for p in parts])
        attrs = np.concatenate([p[2] for p in parts])
        cams = np.concatenate([p[3] for p in parts])
        ego = parts[0][4] if ego_translation is None else np.asarray(ego_translation[token], np.float64)
        same = ((cams[:, None] != cams[None, :]) & (labels[:, None] == labels[None, :])
                & (np.abs(size[:, None] - size[None, :]).max(axis=2) < 1e-3)
                & (np.linalg.norm(trans[:, None, :2] - trans[None, :, :2], axis=2) < merge_dist))
        kept = np.zeros(len(labels), bool)
        for i in range(len(labels)):
            kept[i] = not (same[i, :i] & kept[:i]).any()
        boxes = []
        for i in np.flatnonzero(kept).tolist():
            attr = attr_names[attrs[i]] if 0 <= attrs[i] < len(attr_names) else ''
            boxes.append(DetectionBox(sample_token=token, translation=tuple(trans[i].tolist()),
                                      size=tuple(size[i].tolist()), rotation=tuple(rot[i].tolist()),
                                      velocity=tuple(vel[i].tolist()),
                                      ego_translation=tuple((trans[i] - ego).tolist()),
                                      detection_name=class_names[labels[i]], detection_score=-1.0,
                                      attribute_name='' if attr == 'None' else attr))  # 'None': info files
        out.add_boxes(token, boxes)
    return out
