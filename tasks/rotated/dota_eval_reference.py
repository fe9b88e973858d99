"""Deliberately straightforward DOTA task-1 evaluation (speed baseline and cross-check).

Structured like the official ``dota_evaluation_task1.py``: per class, loop over
the detections in score order and, for each, loop over the ground truths of its
image, computing one polygon IoU at a time with shapely objects (after the
official axis-aligned prefilter). Same protocol and same tie rules as
:func:`centerx_tasks.rotated.dota_eval.eval_dota`; use that one in practice.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from shapely.geometry import Polygon

from .dota_eval import Detections, DotaEvalResult, GroundTruths, _gt_arrays

__all__ = ["eval_dota_reference"]


def _polygon_iou(p: np.ndarray, q: np.ndarray) -> float:
    a = Polygon(p.reshape(4, 2)).convex_hull
    b = Polygon(q.reshape(4, 2)).convex_hull
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def _voc_ap(rec: np.ndarray, prec: np.ndarray, use_07_metric: bool) -> float:
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = np.max(prec[rec >= t]) if np.sum(rec >= t) > 0 else 0.0
            ap = ap + p / 11.0
        return float(ap)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = max(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def eval_dota_reference(
    dets: Detections,
    gts: GroundTruths,
    num_classes: int,
    iou_thr: float = 0.5,
    use_07_metric: bool = True,
    class_names: Optional[Sequence[str]] = None,
) -> DotaEvalResult:
    """Same inputs and result as :func:`centerx_tasks.rotated.dota_eval.eval_dota`, computed the slow way."""
    gt_by_image = {name: _gt_arrays(entry) for name, entry in gts.items()}
    ap = np.full(num_classes, np.nan)
    recall = np.full(num_classes, np.nan)
    precision = np.zeros(num_classes)
    num_gts = np.zeros(num_classes, dtype=np.int64)
    num_difficult = np.zeros(num_classes, dtype=np.int64)
    num_dets = np.zeros(num_classes, dtype=np.int64)
    recalls, precisions = [], []
    for c in range(num_classes):
        class_recs = {}
        npos = 0
        for name, (polys, labels, difficult) in gt_by_image.items():
            sel = labels == c
            class_recs[name] = {
                "bbox": polys[sel],
                "difficult": difficult[sel],
                "det": [False] * int(sel.sum()),
            }
            npos += int((~difficult[sel]).sum())
            num_difficult[c] += int(difficult[sel].sum())
        num_gts[c] = npos

        image_ids, confidence, boxes = [], [], []
        for name, per_class in dets.items():
            for cls, arr in per_class.items():
                if int(cls) != c:
                    continue
                for row in np.asarray(arr, dtype=np.float64).reshape(-1, 9):
                    image_ids.append(name)
                    confidence.append(row[8])
                    boxes.append(row[:8])
        num_dets[c] = len(image_ids)
        order = np.argsort(-np.array(confidence, dtype=np.float64), kind="stable")
        tp = np.zeros(len(order))
        fp = np.zeros(len(order))
        for d, k in enumerate(order):
            bb = boxes[k]
            R = class_recs.get(image_ids[k], {"bbox": np.zeros((0, 8)), "difficult": [], "det": []})
            BBGT = R["bbox"]
            ovmax = -np.inf
            jmax = -1
            if len(BBGT) > 0:
                # official prefilter: only GTs whose axis-aligned boxes overlap (+1 pixel convention)
                iw = np.minimum(BBGT[:, 0::2].max(1), bb[0::2].max()) - np.maximum(BBGT[:, 0::2].min(1), bb[0::2].min())
                ih = np.minimum(BBGT[:, 1::2].max(1), bb[1::2].max()) - np.maximum(BBGT[:, 1::2].min(1), bb[1::2].min())
                keep = np.where((iw + 1.0 > 0) & (ih + 1.0 > 0))[0]
                for j in keep:  # one polygon IoU at a time
                    ov = _polygon_iou(BBGT[j], bb)
                    if ov > ovmax:  # strict: the first of equal maxima wins, like np.argmax
                        ovmax, jmax = ov, int(j)
            if ovmax > iou_thr:
                if not R["difficult"][jmax]:
                    if not R["det"][jmax]:
                        tp[d] = 1.0
                        R["det"][jmax] = True
                    else:
                        fp[d] = 1.0
            else:
                fp[d] = 1.0
        fp = np.cumsum(fp)
        tp = np.cumsum(tp)
        rec = tp / float(npos) if npos > 0 else np.full(len(tp), np.nan)
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        recalls.append(rec)
        precisions.append(prec)
        precision[c] = prec[-1] if len(prec) else 0.0
        if npos > 0:
            recall[c] = rec[-1] if len(rec) else 0.0
            ap[c] = _voc_ap(rec, prec, use_07_metric)
    valid = num_gts > 0
    return DotaEvalResult(
        ap=ap,
        recall=recall,
        precision=precision,
        num_gts=num_gts,
        num_difficult=num_difficult,
        num_dets=num_dets,
        map=float(np.mean(ap[valid])) if valid.any() else float("nan"),
        iou_thr=iou_thr,
        use_07_metric=use_07_metric,
        class_names=None if class_names is None else list(class_names),
        recalls=recalls,
        precisions=precisions,
    )
