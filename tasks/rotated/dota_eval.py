"""DOTA task-1 (oriented boxes) evaluation, vectorized.

Protocol (that of the official ``dota_evaluation_task1.py``), per class:

* ``npos`` = number of non-difficult ground truths (difficult = flag != 0).
* Detections of all images are ranked with ``np.argsort(-scores)`` (numpy's
  default, non-stable sort, as the official script: equal scores are *not* kept in
  input order) over the class's detections in input order: file order for
  :class:`~centerx_tasks.rotated.submission.Task1Detections` (what the devkit reads),
  images in ``dets`` order then rows for nested detections.
* Each detection takes the ground truth of the same image and class with the
  highest polygon IoU -- among *all* of them, matched or not, difficult or
  not; ties go to the first in label order; a NaN IoU (two zero-area polygons)
  makes the maximum NaN, hence a false positive (``np.max``). If that IoU is ``> iou_thr``
  (strictly, as in the official script): a difficult GT makes the detection
  count as neither TP nor FP; an unmatched GT makes it a TP and marks the GT
  matched; an already matched GT makes it an FP (duplicate). Otherwise FP.
* ``recall = cumTP / npos``; ``precision = cumTP / max(cumTP + cumFP, eps)``.
* AP: VOC07 11-point (``use_07_metric=True``, official default: mean over
  ``t = 0, 0.1, ..., 1`` of the max precision at recall >= t) or the area under
  the monotone precision envelope (``use_07_metric=False``).
* Classes without non-difficult GT (``npos = 0``), ``classes_without_gt``:
  ``'devkit'`` (default) counts them as the official script does: recall is
  ``0 / 0 = NaN``, so the 11-point AP is 0 and the area AP is NaN when the class
  has detections (0 without), and mAP is the mean over *all* C classes;
  ``'ignore'`` gives them AP = NaN and averages mAP over classes with ``npos > 0``
  only (the VOC convention, centerx's behaviour before it matched the devkit).

Polygons are compared as given, bow-ties and concave quads included, with the
devkit's polygon IoU (:mod:`centerx_tasks.rotated.polygon_iou`). Detections on
images absent from ``gts`` are false positives (the devkit raises a KeyError).
Non-finite coordinates or scores are refused (``on_invalid='raise'``, the error names
image and class) or left out and counted in ``DotaEvalResult.num_skipped``
(``on_invalid='skip'``).

Because the best GT of a detection does not depend on earlier matches, the
greedy pass reduces to "the first detection (in score order) that picks a given
non-difficult GT is its TP": everything is computed with array operations; the
IoUs of all same-image, same-class, box-overlapping pairs come from a single
vectorized :func:`~centerx_tasks.rotated.polygon_iou.poly_iou_sparse` call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping, Optional, Sequence, Union

import numpy as np

from .dota_labels import DotaLabelFile
from .polygon_iou import poly_iou_sparse
from .submission import Task1Detections, write_task1_submission  # noqa: F401  (re-export)

__all__ = [
    "Detections",
    "GroundTruths",
    "DotaEvalResult",
    "CLASSES_WITHOUT_GT",
    "average_precision",
    "eval_dota",
    "flatten_detections",
    "flatten_ground_truths",
    "group_detections",
    "write_task1_submission",
]

Detections = Mapping[str, Mapping[int, np.ndarray]]
"""``{image_id: {class_index: (K, 9) array of x1 y1 ... x4 y4 score}}``."""

GtEntry = Union[DotaLabelFile, tuple[np.ndarray, np.ndarray, np.ndarray]]
GroundTruths = Mapping[str, GtEntry]
"""``{image_id: (polys (N, 8), labels (N,), difficult (N,))}`` or :class:`DotaLabelFile` values."""

CLASSES_WITHOUT_GT = ("devkit", "ignore")
"""Values of ``eval_dota(classes_without_gt=...)`` (module docstring)."""

# Recall thresholds of the 11-point metric, with the exact float values the
# official script iterates over (np.arange(0., 1.1, 0.1)).
_VOC07_RECALLS = np.arange(0.0, 1.1, 0.1)


@dataclass
class DotaEvalResult:
    """Per-class results (arrays of length ``num_classes``).

    Attributes:
        ap: AP per class; for classes without non-difficult GT see ``classes_without_gt``.
        recall: final recall per class (0 without detections, NaN without GT).
        precision: final precision per class (0 without detections).
        num_gts: non-difficult GT count (``npos``).
        num_difficult: difficult GT count.
        num_dets: detection count.
        map: mean AP over all classes (``'devkit'``) or over classes with
            ``num_gts > 0`` (``'ignore'``; NaN if none).
        num_skipped: detections left out for non-finite values (``on_invalid='skip'``).
        recalls, precisions: the per-class curves ``(num_dets[c],)`` in score order.
    """

    ap: np.ndarray
    recall: np.ndarray
    precision: np.ndarray
    num_gts: np.ndarray
    num_difficult: np.ndarray
    num_dets: np.ndarray
    map: float
    iou_thr: float = 0.5
    use_07_metric: bool = True
    class_names: Optional[list[str]] = None
    classes_without_gt: str = "devkit"
    num_skipped: int = 0
    recalls: list[np.ndarray] = field(default_factory=list, repr=False)
    precisions: list[np.ndarray] = field(default_factory=list, repr=False)

    def _names(self) -> list[str]:
        if self.class_names is not None:
            return list(self.class_names)
        return [str(i) for i in range(len(self.ap))]

    def to_dict(self) -> dict[str, float]:
        """``{'mAP': ..., 'AP/<class>': ...}`` for the classes mAP averages (for loggers)."""
        out = {"mAP": float(self.map)}
        for name, ap, n in zip(self._names(), self.ap, self.num_gts):
            if n > 0 or self.classes_without_gt == "devkit":
                out[f"AP/{name}"] = float(ap)
        return out

    def table(self) -> str:
        """Per-class table: class, gts (+difficult), dets, recall, precision, AP; then mAP."""
        names = self._names()
        width = max([len(n) for n in names] + [5])
        metric = "VOC07 11-point" if self.use_07_metric else "area"
        header = f"{'class':<{width}} {'gts':>7} {'diff':>5} {'dets':>8} {'recall':>7} {'prec':>7} {'AP':>7}"
        lines = [header, "-" * len(header)]

        def fmt(x: float) -> str:
            return f"{x:7.4f}" if np.isfinite(x) else f"{'-':>7}"

        for i, name in enumerate(names):
            lines.append(
                f"{name:<{width}} {int(self.num_gts[i]):>7d} {int(self.num_difficult[i]):>5d} "
                f"{int(self.num_dets[i]):>8d} {fmt(self.recall[i])} {fmt(self.precision[i])} {fmt(self.ap[i])}"
            )
        lines.append("-" * len(header))
        lines.append(f"{'mAP':<{width}} {'':>7} {'':>5} {'':>8} {'':>7} {'':>7} {fmt(self.map)}")
        lines.append(f"(IoU > {self.iou_thr}, AP = {metric}, classes without GT: {self.classes_without_gt})")
        if self.num_skipped:
            lines.append(f"{self.num_skipped} detection(s) with non-finite values skipped")
        return "\n".join(lines)


def average_precision(recall: np.ndarray, precision: np.ndarray, use_07_metric: bool = True) -> float:
    """AP from a PR curve with non-decreasing ``recall``.

    Args:
        recall: ``(K,)`` non-decreasing.
        precision: ``(K,)``.
        use_07_metric: VOC07 11-point AP, else area under the monotone envelope.

    Returns:
        AP in ``[0, 1]`` (0 for an empty curve).
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if use_07_metric:
        if len(recall) == 0:
            return 0.0
        envelope = np.maximum.accumulate(precision[::-1])[::-1]  # max(prec[i:])
        first = np.searchsorted(recall, _VOC07_RECALLS, side="left")  # first index with rec >= t
        reached = first < len(recall)
        p = np.where(reached, envelope[np.minimum(first, len(recall) - 1)], 0.0)
        return float(np.sum(p / 11.0))
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def _gt_arrays(entry: GtEntry) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if isinstance(entry, DotaLabelFile):
        polys, labels, difficult = entry.polys, entry.labels, entry.difficult
    else:
        polys, labels, difficult = entry
    polys = np.asarray(polys, dtype=np.float64).reshape(-1, 8)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    difficult = np.asarray(difficult).reshape(-1).astype(bool)
    if not len(polys) == len(labels) == len(difficult):
        raise ValueError("GT polys, labels and difficult must have the same length")
    return polys, labels, difficult


def flatten_ground_truths(
    gts: GroundTruths,
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate per-image GTs.

    Returns:
        ``(image_ids, polys (G, 8) float64, labels (G,), difficult (G,) bool,
        image_index (G,))`` with ``image_index`` into ``image_ids``.
    """
    image_ids = list(gts)
    parts = [_gt_arrays(gts[name]) for name in image_ids]
    if not parts:
        return image_ids, np.zeros((0, 8)), np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.int64)
    polys = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    difficult = np.concatenate([p[2] for p in parts])
    image_index = np.repeat(np.arange(len(parts)), [len(p[0]) for p in parts])
    return image_ids, polys, labels, difficult, image_index


def flatten_detections(
    dets: Union[Detections, Task1Detections], image_ids: Sequence[str]
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate detections: file order for :class:`Task1Detections`, else images in ``dets`` order, classes, rows.

    Args:
        dets: ``{image_id: {class_index: (K, 9)}}`` or :class:`Task1Detections`.
        image_ids: known image ids; unknown images are appended.

    Returns:
        ``(image_ids, polys (D, 8), scores (D,), labels (D,), image_index (D,))``.
    """
    image_ids = list(image_ids)
    index = {name: i for i, name in enumerate(image_ids)}

    def image_number(name: str) -> int:
        if name not in index:
            index[name] = len(image_ids)
            image_ids.append(name)
        return index[name]

    if isinstance(dets, Task1Detections):
        images = np.array([image_number(name) for name in dets.image_ids], dtype=np.int64)
        polys = np.asarray(dets.polys, dtype=np.float64).reshape(-1, 8)
        return image_ids, polys, np.asarray(dets.scores, np.float64), np.asarray(dets.labels, np.int64), images
    rows, labels, image_parts = [], [], []
    for name, per_class in dets.items():
        number = image_number(name)
        for cls, arr in per_class.items():
            arr = np.asarray(arr, dtype=np.float64)
            if arr.size == 0:
                continue
            if arr.ndim != 2 or arr.shape[1] != 9:
                raise ValueError(f"detections of image {name!r} class {cls} must be (K, 9), got {arr.shape}")
            rows.append(arr)
            labels.append(np.full(len(arr), int(cls), dtype=np.int64))
            image_parts.append(np.full(len(arr), number, dtype=np.int64))
    if not rows:
        return image_ids, np.zeros((0, 8)), np.zeros(0), np.zeros(0, np.int64), np.zeros(0, np.int64)
    all_rows = np.concatenate(rows)
    return image_ids, all_rows[:, :8], all_rows[:, 8], np.concatenate(labels), np.concatenate(image_parts)


def group_detections(
    image_ids: Sequence[str], polys: np.ndarray, scores: np.ndarray, labels: np.ndarray
) -> dict[str, dict[int, np.ndarray]]:
    """Flat detections -> nested ``{image_id: {class: (K, 9)}}`` (input order kept).

    Args:
        image_ids: ``D`` image ids.
        polys: ``(D, 8)``.
        scores: ``(D,)``.
        labels: ``(D,)`` class indices.
    """
    polys = np.asarray(polys, dtype=np.float64).reshape(-1, 8)
    rows = np.concatenate([polys, np.asarray(scores, dtype=np.float64).reshape(-1, 1)], axis=1)
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    names, image_index = np.unique(np.asarray(image_ids, dtype=object).astype(str), return_inverse=True)
    out: dict[str, dict[int, np.ndarray]] = {}
    key = image_index * (labels.max(initial=0) + 1) + labels
    order = np.argsort(key, kind="stable")
    bounds = np.flatnonzero(np.diff(key[order])) + 1
    for chunk in np.split(order, bounds) if len(order) else []:
        out.setdefault(str(names[image_index[chunk[0]]]), {})[int(labels[chunk[0]])] = rows[chunk]
    return out


def _best_gt_per_detection(
    det_polys: np.ndarray,
    det_groups: np.ndarray,
    gt_polys: np.ndarray,
    gt_groups: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Highest IoU and its GT index (-1 if none overlaps) per detection; ties -> lowest GT index.

    A NaN IoU among a detection's candidates makes its best IoU NaN (``np.max``, as the devkit).
    """
    num_dets = len(det_polys)
    best_iou = np.zeros(num_dets, dtype=np.float64)
    best_gt = np.full(num_dets, -1, dtype=np.int64)
    di, gi, iou = poly_iou_sparse(det_polys, gt_polys, det_groups, gt_groups)
    if len(di):
        order = np.lexsort((gi, -iou, di))
        di, gi, iou = di[order], gi[order], iou[order]
        first = np.flatnonzero(np.r_[True, di[1:] != di[:-1]])
        best_iou[di[first]] = iou[first]
        best_gt[di[first]] = gi[first]
        best_iou[di[np.isnan(iou)]] = np.nan
    return best_iou, best_gt


def _class_curve(
    scores: np.ndarray, best_iou: np.ndarray, best_gt: np.ndarray, gt_difficult: np.ndarray, iou_thr: float
) -> tuple[np.ndarray, np.ndarray]:
    """TP / FP flags ``(K,)`` in score order for one class."""
    order = np.argsort(-scores)  # numpy's default sort, exactly as the devkit ranks (ties not stable)
    iou, gt = best_iou[order], best_gt[order]
    hit = (iou > iou_thr) & (gt >= 0)
    hit_difficult = np.zeros_like(hit)
    hit_difficult[hit] = gt_difficult[gt[hit]]
    candidate = hit & ~hit_difficult
    tp = np.zeros(len(order), dtype=bool)
    cand_idx = np.flatnonzero(candidate)
    _, first = np.unique(gt[cand_idx], return_index=True)  # first detection per GT
    tp[cand_idx[first]] = True
    fp = ~hit | (candidate & ~tp)
    return tp, fp


def class_ap_without_gt(num_dets: int, use_07_metric: bool) -> float:
    """The devkit's AP of a class with no non-difficult GT: recall ``0 / 0 = NaN`` at every detection.

    11-point AP: no recall reaches any threshold, so 0. Area AP: NaN with detections
    (the recall steps are NaN), 0 without.
    """
    return 0.0 if use_07_metric or num_dets == 0 else float("nan")


def _drop_non_finite(
    polys: np.ndarray, scores: np.ndarray, labels: np.ndarray, image_index: np.ndarray,
    image_ids: Sequence[str], on_invalid: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Detections with finite polygon and score; raise (naming image and class) or count the others."""
    bad = ~(np.isfinite(polys).all(axis=1) & np.isfinite(scores))
    if not bad.any():
        return polys, scores, labels, image_index, 0
    if on_invalid == "raise":
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"eval_dota: {int(bad.sum())} detection(s) with non-finite values, first of image "
            f"{image_ids[image_index[first]]!r} class {int(labels[first])}: "
            f"{polys[first].tolist() + [float(scores[first])]} (on_invalid='skip' leaves them out)"
        )
    keep = ~bad
    return polys[keep], scores[keep], labels[keep], image_index[keep], int(bad.sum())


def eval_dota(
    dets: Union[Detections, Task1Detections],
    gts: GroundTruths,
    num_classes: int,
    iou_thr: float = 0.5,
    use_07_metric: bool = True,
    class_names: Optional[Sequence[str]] = None,
    classes_without_gt: Literal["devkit", "ignore"] = "devkit",
    on_invalid: Literal["raise", "skip"] = "raise",
) -> DotaEvalResult:
    """Evaluate oriented detections with the DOTA task-1 protocol (module docstring).

    Args:
        dets: ``{image_id: {class_index: (K, 9)}}``, rows ``x1 y1 ... x4 y4 score``, or
            :class:`Task1Detections` (file order: the devkit's ranking of equal scores).
        gts: ``{image_id: (polys (N, 8), labels (N,), difficult (N,))}`` or
            :class:`DotaLabelFile` values; every evaluated image must appear
            (possibly with no objects). Polygons must be finite.
        num_classes: number of classes C (labels must be in ``[0, C)``).
        iou_thr: a detection matches when its best IoU is ``> iou_thr`` (``>= 0``).
        use_07_metric: VOC07 11-point AP (official default) or area AP.
        class_names: optional names for :meth:`DotaEvalResult.table`.
        classes_without_gt: ``'devkit'`` or ``'ignore'`` (module docstring).
        on_invalid: a detection with a non-finite value raises ``ValueError`` (``'raise'``)
            or is left out and counted in ``num_skipped`` (``'skip'``).

    Returns:
        :class:`DotaEvalResult`.
    """
    if classes_without_gt not in CLASSES_WITHOUT_GT:
        raise ValueError(f"classes_without_gt must be one of {CLASSES_WITHOUT_GT}, got {classes_without_gt!r}")
    if on_invalid not in ("raise", "skip"):
        raise ValueError(f"eval_dota: on_invalid must be 'raise' or 'skip', got {on_invalid!r}")
    if not iou_thr >= 0:
        raise ValueError(f"eval_dota: iou_thr must be >= 0, got {iou_thr}")
    image_ids, gt_polys, gt_labels, gt_difficult, gt_image = flatten_ground_truths(gts)
    if not np.isfinite(gt_polys).all():
        first = int(np.flatnonzero(~np.isfinite(gt_polys).all(axis=1))[0])
        raise ValueError(f"eval_dota: GT polygon of image {image_ids[gt_image[first]]!r} is not finite: "
                         f"{gt_polys[first].tolist()}")
    image_ids, det_polys, det_scores, det_labels, det_image = flatten_detections(dets, image_ids)
    det_polys, det_scores, det_labels, det_image, num_skipped = _drop_non_finite(
        det_polys, det_scores, det_labels, det_image, image_ids, on_invalid
    )
    for what, labels in (("GT", gt_labels), ("detection", det_labels)):
        if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{what} class index out of range [0, {num_classes})")
    best_iou, best_gt = _best_gt_per_detection(
        det_polys, det_image * num_classes + det_labels, gt_polys, gt_image * num_classes + gt_labels
    )
    ap = np.full(num_classes, np.nan)
    recall = np.full(num_classes, np.nan)
    precision = np.zeros(num_classes)
    num_gts = np.bincount(gt_labels[~gt_difficult], minlength=num_classes)
    num_difficult = np.bincount(gt_labels[gt_difficult], minlength=num_classes)
    num_dets = np.bincount(det_labels, minlength=num_classes)
    recalls, precisions = [], []
    for c in range(num_classes):
        mask = det_labels == c
        tp, fp = _class_curve(det_scores[mask], best_iou[mask], best_gt[mask], gt_difficult, iou_thr)
        tp_cum, fp_cum = np.cumsum(tp, dtype=np.float64), np.cumsum(fp, dtype=np.float64)
        npos = int(num_gts[c])
        rec = tp_cum / npos if npos > 0 else np.full(len(tp_cum), np.nan)
        prec = tp_cum / np.maximum(tp_cum + fp_cum, np.finfo(np.float64).eps)
        recalls.append(rec)
        precisions.append(prec)
        precision[c] = prec[-1] if len(prec) else 0.0
        if npos > 0:
            recall[c] = rec[-1] if len(rec) else 0.0
            ap[c] = average_precision(rec, prec, use_07_metric)
        elif classes_without_gt == "devkit":
            ap[c] = class_ap_without_gt(len(rec), use_07_metric)
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
