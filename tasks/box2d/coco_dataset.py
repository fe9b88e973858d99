"""COCO-format box detection dataset (annotations only; images are read by a transform).

The reading is the core's :class:`~centerx.data.coco_format.CocoFormatDataset` (items:
``bboxes`` (N, 4) xyxy, ``labels`` (N,), ``ignore`` (N,) per image; ``metainfo`` with
``classes``, ``cat_ids``, ``palette`` and ``ann_file``, read by
:class:`~centerx_tasks.box2d.coco_metric.CocoBboxMetric`); this module registers it and
gives it the synthetic shapes generator.
"""
from __future__ import annotations

from centerx.data.coco_format import CocoFormatDataset
from centerx.registry import DATASETS


@DATASETS.register_module()
class CocoDetDataset(CocoFormatDataset):
    """Box detection dataset read from a COCO instances json.

    Arguments: those of :class:`~centerx.data.coco_format.CocoFormatDataset` (``ann_file``,
    ``data_prefix=dict(img=...)``, ``on_invalid='raise'/'skip'``, ``generate_if_missing``
    and the :class:`mmengine.dataset.BaseDataset` options). ``generate_if_missing`` holds the
    keyword arguments of :func:`centerx_tasks.box2d.synthetic.ensure_synthetic_coco`.
    """

    def _generate_missing(self) -> None:
        from .synthetic import ensure_synthetic_coco
        self._generate(ensure_synthetic_coco)
