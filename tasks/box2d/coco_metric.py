"""COCO box AP (pycocotools COCOeval) as an mmengine metric."""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np

from centerx.evaluation import gather_predictions
from centerx.evaluation.coco_eval import BOX_METRIC_NAMES, CocoEvalMetric
from centerx.registry import METRICS

#: Keys of :meth:`CocoBboxMetric.compute_metrics`
METRIC_NAMES: Tuple[str, ...] = BOX_METRIC_NAMES


@METRICS.register_module()
class CocoBboxMetric(CocoEvalMetric):
    """COCO bbox mAP of the ``bboxes`` predictions of :class:`~centerx.structures.DetSample`.

    Args: those of :class:`~centerx.evaluation.coco_eval.CocoEvalMetric` (``ann_file``,
    ``outfile_prefix``, ``classwise``, ``collect_device``, ``prefix``, ``collect_dir``).

    Returns of :meth:`compute_metrics`: ``bbox_mAP``, ``bbox_mAP_50``, ``bbox_mAP_75``,
    ``bbox_mAP_s``, ``bbox_mAP_m``, ``bbox_mAP_l`` = COCOeval ``stats[0:6]`` rounded to
    4 decimals (-1 where COCOeval gives -1, i.e. no ground truth in that range).
    Only the images seen by :meth:`process` are evaluated, only on the dataset's
    ``cat_ids``.
    """

    #: the prediction field evaluated (checked against the model's tasks before a run)
    prediction_field: Optional[str] = 'bboxes'

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store, per DetSample, ``dict(img_id, bboxes (D, 4) xywh float64, scores (D,)
        float64, category_ids (D,) int64)`` in ``self.results``.

        Raises:
            MissingPredictionsError: no head of an image predicts ``bboxes``.
            ValueError: a predicted label is not a valid index into ``cat_ids``, or bad
                shapes (:func:`~centerx.evaluation.gather_predictions`).
        """
        lut = self._category_lut()
        for sample in data_samples:
            dets = gather_predictions(sample, 'bboxes', (4,), len(lut), type(self).__name__)
            boxes = dets['bboxes']
            xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
            self.results.append(dict(img_id=self._image_id(sample), bboxes=xywh, scores=dets['scores'],
                                     category_ids=lut[dets['labels']]))
