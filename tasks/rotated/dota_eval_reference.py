"""Deliberately straightforward DOTA task-1 evaluation (speed baseline and cross-check).

Structured like the official ``dota_evaluation_task1.py``: per class, rank the
detections with ``np.argsort(-confidence)``, loop over them and, for each, over the
ground truths of its image that pass the official axis-aligned prefilter (``+1``
pixel convention), computing one polygon IoU at a time with shapely objects: the
ring's two fan triangles ``(p0, p1, p2)`` and ``(p0, p2, p3)``, each signed by its
orientation, as the devkit's polygon IoU sees a polygon given in point order;
``np.max`` / ``np.argmax`` pick the best GT and recall is ``tp / float(npos)`` with
numpy semantics (``0 / 0 = NaN``), as in the official script. Same inputs, options and
result as :func:`centerx_tasks.rotated.dota_eval.eval_dota`; use that one in practice.
"""

from __future__ import annotations

from typing import Literal, Optional, Sequence, Union

import numpy as np
from shapely.geometry import Polygon

from .dota_eval import (
    Detections,
    DotaEvalResult,
    GroundTruths,
    Task1Detections,
    _drop_non_finite,
    _gt_arrays,
    flatten_detections,
)

__all__ = ["eval_dota_reference"]


def _signed_triangles(p: np.ndarray) -> list[tuple[float, Polygon]]:
    """The fan triangles of a ring ``(8,)`` with their orientation sign (reversed if the ring is clockwise)."""
    pts = p.reshape(4, 2)
    out = []
    signed_total = 0.0
    for i, j, k in ((0, 1, 2), (0, 2, 3)):
        a, b, c = pts[i], pts[j], pts[k]
        cross = (b[0] - a[0]) * (c[1] - a[1]) - (c[0] - a[0]) * (b[1] - a[1])
        signed_total += cross / 2
        if cross != 0:
            out.append((float(np.sign(cross)), Polygon([a, b, c])))
    flip = -1.0 if signed_total < 0 else 1.0
    return [(flip * sign, tri) for sign, tri in out]


def _polygon_iou(p: np.ndarray, q: np.ndarray) -> float:
    """Devkit polygon IoU of two rings ``(8,)`` in point order (may be NaN, negative or above 1)."""
    tri_p, tri_q = _signed_triangles(p), _signed_triangles(q)
    area_p = abs(sum(sign * tri.area for sign, tri in tri_p))
    area_q = abs(sum(sign * tri.area for sign, tri in tri_q))
    inter = sum(sp * sq * tp.intersection(tq).area for sp, tp in tri_p for sq, tq in tri_q)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(inter) / np.float64(area_p + area_q - inter))


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
    dets: Union[Detections, Task1Detections],
    gts: GroundTruths,
    num_classes: int,
    iou_thr: float = 0.5,
    use_07_metric: bool = True,
    class_names: Optional[Sequence[str]] = None,
    classes_without_gt: Literal["devkit", "ignore"] = "devkit",
    on_invalid: Literal["raise", "skip"] = "raise",
) -> DotaEvalResult:
    """Same inputs and result as :func:`centerx_tasks.rotated.dota_eval.eval_dota`, computed the slow way."""
    gt_by_image = {name: _gt_arrays(entry) for name, entry in gts.items()}
    names, det_polys, det_scores, det_labels, det_image = flatten_detections(dets, list(gt_by_image))
    det_polys, det_scores, det_labels, det_image, num_skipped = _drop_non_finite(
        det_polys, det_scores, det_labels, det_image, names, on_invalid
    )
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
            class_recs[name] = {"bbox": polys[sel], "difficult": difficult[sel], "det": [False] * int(sel.sum())}
            npos += int((~difficult[sel]).sum())
            num_difficult[c] += int(difficult[sel].sum())
        num_gts[c] = npos
        mine = np.flatnonzero(det_labels == c)
        image_ids = [names[det_image[k]] for k in mine]
        confidence = det_scores[mine]
        boxes = det_polys[mine]
        num_dets[c] = len(image_ids)
        order = np.argsort(-confidence)
        tp = np.zeros(len(order))
        fp = np.zeros(len(order))
        for d, k in enumerate(order):
            bb = boxes[k]
            R = class_recs.get(image_ids[k], {"bbox": np.zeros((0, 8)), "difficult": [], "det": []})
            BBGT = R["bbox"]
            ovmax = -np.inf
            jmax = -1
            if len(BBGT) > 0:
                # official prefilter: axis-aligned boxes overlapping (+1 pixel convention)
                iw = np.minimum(BBGT[:, 0::2].max(1), bb[0::2].max()) - np.maximum(BBGT[:, 0::2].min(1), bb[0::2].min())
                ih = np.minimum(BBGT[:, 1::2].max(1), bb[1::2].max()) - np.maximum(BBGT[:, 1::2].min(1), bb[1::2].min())
                keep = np.where((iw + 1.0 > 0) & (ih + 1.0 > 0))[0]
                if len(keep):
                    overlaps = [_polygon_iou(BBGT[j], bb) for j in keep]  # one polygon IoU at a time
                    ovmax = np.max(overlaps)
                    jmax = int(keep[np.argmax(overlaps)])
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
        with np.errstate(divide="ignore", invalid="ignore"):
            rec = tp / float(npos)
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        recalls.append(rec)
        precisions.append(prec)
        precision[c] = prec[-1] if len(prec) else 0.0
        if npos > 0:
            recall[c] = rec[-1] if len(rec) else 0.0
        if npos > 0 or classes_without_gt == "devkit":
            ap[c] = _voc_ap(rec, prec, use_07_metric)
    counted = num_gts > 0 if classes_without_gt == "ignore" else np.ones(num_classes, dtype=bool)
    return DotaEvalResult(
        ap=ap,
        recall=recall,
        precision=precision,
        num_gts=num_gts,
        num_difficult=num_difficult,
        num_dets=num_dets,
        map=float(np.mean(ap[counted])) if counted.any() else float("nan"),
        iou_thr=iou_thr,
        use_07_metric=use_07_metric,
        class_names=None if class_names is None else list(class_names),
        classes_without_gt=classes_without_gt,
        num_skipped=num_skipped,
        recalls=recalls,
        precisions=precisions,
    )
