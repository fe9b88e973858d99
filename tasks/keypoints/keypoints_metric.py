"""COCO keypoint AP (OKS, pycocotools COCOeval ``iouType='keypoints'``) plus the person
box AP of the same detections, as one mmengine metric."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from pycocotools.coco import COCO

from centerx.evaluation import OptionalField, gather_predictions
from centerx.evaluation.coco_eval import BOX_METRIC_NAMES, CocoEvalMetric
from centerx.registry import METRICS
from centerx_tasks.keypoints.coco_meta import COCO_SIGMAS

#: Keys of the keypoint part, COCOeval ``stats[0:6]`` of ``iouType='keypoints'``
#: (AP at OKS .50:.95, .50, .75, medium and large persons; AR at OKS .50:.95).
KPT_METRIC_NAMES: Tuple[str, ...] = ('kpt_AP', 'kpt_AP_50', 'kpt_AP_75', 'kpt_AP_m', 'kpt_AP_l',
                                     'kpt_AR')


def keypoint_extent(keypoints: np.ndarray) -> np.ndarray:
    """(D, K, 3) keypoints -> (D, 4) xyxy box around their (x, y) (zeros when K = 0): the box
    of a detection whose head predicts no ``bboxes``."""
    if keypoints.shape[1] == 0:
        return np.zeros((len(keypoints), 4))
    xy = keypoints[:, :, :2]
    return np.concatenate([xy.min(axis=1), xy.max(axis=1)], axis=1)


@METRICS.register_module()
class CocoKeypointsMetric(CocoEvalMetric):
    """COCO keypoint AP and box AP of the keypoint detections of each DetSample.

    Detections are taken from every head of ``sample.preds`` that decodes
    ``keypoints`` (D, K, 3) (x, y, per-keypoint score) in original-image pixels, with
    that head's ``bboxes`` (D, 4) xyxy (the keypoints' extent when the head has no
    boxes), ``scores`` (D,) and ``labels`` (D,). One COCO results set
    ``{image_id, category_id, bbox, keypoints, score}`` serves both evaluations; the
    keypoint score of a detection is its instance score. Because the results carry a
    ``bbox``, pycocotools takes a detection's area (used only to ignore unmatched
    detections outside an area range) from its box rather than its keypoint extent.

    Args:
        ann_file: COCO keypoints json; None -> ``dataset_meta['ann_file']``.
        outfile_prefix: when set, the results are written to
            ``<outfile_prefix>.keypoints.json`` and kept; otherwise they go to a
            temporary folder that is removed after evaluation.
        sigmas: K OKS sigmas; None -> ``dataset_meta['sigmas']`` (set by
            :class:`~centerx_tasks.keypoints.coco_keypoints_dataset.CocoKeypointsDataset`), or
            the COCO person sigmas when K = 17 and the meta has none.
        classwise: also return per-class box AP (``bbox_<class>_AP``).
        collect_device, prefix, collect_dir: see :class:`mmengine.evaluator.BaseMetric`.
        backend: ``'pycocotools'`` or ``'faster_coco_eval'`` (:mod:`centerx.evaluation.coco_backends`).

    Returns of :meth:`compute_metrics` (rounded to 4 decimals; -1 where COCOeval gives
    -1, i.e. no ground truth in that area range): ``kpt_AP``, ``kpt_AP_50``,
    ``kpt_AP_75``, ``kpt_AP_m``, ``kpt_AP_l``, ``kpt_AR`` (keypoint evaluation over the
    dataset categories that define keypoints, 20 detections per image, ground truth
    with ``num_keypoints == 0`` ignored) and ``bbox_mAP``, ``bbox_mAP_50``,
    ``bbox_mAP_75``, ``bbox_mAP_s``, ``bbox_mAP_m``, ``bbox_mAP_l`` (box evaluation,
    as ``CocoBboxMetric`` of the box task). Ground-truth annotations
    without ``num_keypoints`` get the count of their keypoints with ``v > 0``.
    """

    default_prefix: Optional[str] = 'coco'
    prediction_field: Optional[str] = 'keypoints'
    results_suffix: str = 'keypoints'

    def __init__(self,
                 ann_file: Optional[str] = None,
                 outfile_prefix: Optional[str] = None,
                 sigmas: Optional[Sequence[float]] = None,
                 classwise: bool = False,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None,
                 backend: str = 'pycocotools') -> None:
        super().__init__(ann_file=ann_file, outfile_prefix=outfile_prefix, classwise=classwise,
                         collect_device=collect_device, prefix=prefix, collect_dir=collect_dir,
                         backend=backend)
        self.sigmas = None if sigmas is None else [float(s) for s in sigmas]

    # ------------------------------------------------------------------ process
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store, per DetSample, ``dict(img_id, bboxes (D, 4) xywh, keypoints (D, 3K),
        scores (D,), category_ids (D,))`` (float64 / int64) in ``self.results``.

        Raises:
            MissingPredictionsError: no head of an image predicts ``keypoints``.
            ValueError: bad shapes, or a predicted label that is not an index into
                ``cat_ids``.
        """
        lut = self._category_lut()
        boxes = OptionalField(shape=(4,), dtype=np.float64, default=keypoint_extent)
        for sample in data_samples:
            dets = gather_predictions(sample, 'keypoints', (None, 3), len(lut), type(self).__name__,
                                      optional=dict(bboxes=boxes))
            box, kp = dets['bboxes'], dets['keypoints']
            xywh = np.concatenate([box[:, :2], box[:, 2:] - box[:, :2]], axis=1)
            self.results.append(dict(img_id=self._image_id(sample), bboxes=xywh, keypoints=kp.reshape(len(kp), kp.shape[1] * 3),
                                     scores=dets['scores'], category_ids=lut[dets['labels']]))

    # ---------------------------------------------------------------- evaluation
    def _load_gt(self) -> COCO:
        """The parent's cached ground truth, plus ``keypoints``/``num_keypoints`` defaults."""
        gt = super()._load_gt()
        for ann in gt.dataset.get('annotations', []):
            k = len(gt.cats.get(ann['category_id'], {}).get('keypoints', []))
            if k and not ann.get('keypoints'):
                ann['keypoints'] = [0] * (3 * k)
            if 'num_keypoints' not in ann:
                ann['num_keypoints'] = int(np.count_nonzero(np.asarray(ann.get('keypoints', []))[2::3] > 0))
        return gt

    def _resolve_sigmas(self, k: int) -> np.ndarray:
        sigmas = self.sigmas if self.sigmas is not None else (self.dataset_meta or {}).get('sigmas')
        if sigmas is None:
            if k != len(COCO_SIGMAS):
                raise ValueError(f'CocoKeypointsMetric: no OKS sigmas for {k} keypoints; pass sigmas= '
                                 'or use a dataset whose metainfo has "sigmas"')
            sigmas = COCO_SIGMAS
        sigmas = np.asarray(sigmas, np.float64).reshape(-1)
        if len(sigmas) != k or not (np.isfinite(sigmas) & (sigmas > 0)).all():
            raise ValueError(f'CocoKeypointsMetric: need {k} positive OKS sigmas, got {sigmas.tolist()}')
        return sigmas

    @staticmethod
    def _to_json(results: List[dict]) -> List[dict]:
        """Per-image results -> COCO results list (box and keypoints in each detection)."""
        dets = []
        for res in results:
            for box, kp, score, cat in zip(res['bboxes'].tolist(), res['keypoints'].tolist(),
                                           res['scores'].tolist(), res['category_ids'].tolist()):
                dets.append(dict(image_id=res['img_id'], category_id=cat, bbox=box, keypoints=kp,
                                 score=score))
        return dets

    def _metric_names(self) -> Tuple[str, ...]:
        return KPT_METRIC_NAMES + BOX_METRIC_NAMES

    def _evaluate_results(self, gt: COCO, dets: List[dict], img_ids: List[Any],
                          cat_ids: List[int]) -> Dict[str, float]:
        """Keypoint AP (over the categories that define keypoints), then box AP."""
        kpt_cat_ids = [c for c in cat_ids if gt.cats.get(c, {}).get('keypoints')]
        if not kpt_cat_ids:
            raise ValueError(f'{self._gt_file()}: none of the categories {cat_ids} defines keypoints')
        k = len(gt.cats[kpt_cat_ids[0]]['keypoints'])
        sigmas = self._resolve_sigmas(k)
        for det in dets:
            if len(det['keypoints']) != 3 * k:
                raise ValueError(f'image id {det["image_id"]}: predicted {len(det["keypoints"]) // 3} '
                                 f'keypoints, the ground truth has {k}')
        metrics = self._evaluate(gt, dets, img_ids, kpt_cat_ids, iou_type='keypoints',
                                 names=KPT_METRIC_NAMES, sigmas=sigmas)
        metrics.update(self._evaluate(gt, dets, img_ids, cat_ids))
        return metrics
