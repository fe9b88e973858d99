"""The unit that flows from the dataset through the model to the metric."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch
from mmengine.structures import InstanceData

from .image_meta import ImageMeta


@dataclass
class DetSample:
    """One image's annotations and predictions.

    Attributes:
        meta: the image's geometry (:class:`ImageMeta`).
        gt: ground-truth instances in *network-input* pixels, as tensors. Fields by
            convention: ``labels`` (N,) int64 dataset class index, ``ignore`` (N,) bool,
            ``bboxes`` (N, 4) xyxy, and whatever other kinds the dataset provides
            (``rboxes`` (N, 5), ``keypoints`` (N, K, 3), ``boxes3d`` (N, 7) ...).
        preds: predictions per head name, in *original-image* coordinates: each an
            InstanceData with ``scores`` (D,), ``labels`` (D,) dataset class index and
            the fields the head's tasks decode (``bboxes`` ...).
        annotated_labels: the dataset labels this image's source annotates, or None (every
            class: the default of a single dataset). A head gives an image no negative
            heatmap loss on a class it does not annotate (set by
            :class:`~centerx.data.MultiSourceDataset` from each source's classes).
    """

    meta: ImageMeta
    gt: InstanceData = field(default_factory=InstanceData)
    preds: Dict[str, InstanceData] = field(default_factory=dict)
    annotated_labels: Optional[Tuple[int, ...]] = None

    def predictions_with(self, field_name: str) -> InstanceData:
        """All predictions of the heads that decode ``field_name``, concatenated.

        Returns an InstanceData with ``scores``, ``labels`` and ``field_name`` (only
        those three fields, so heads with different task sets can be merged).
        """
        parts = [p for p in self.preds.values() if field_name in p]
        if not parts:
            empty = InstanceData()
            empty.scores = torch.zeros(0)
            empty.labels = torch.zeros(0, dtype=torch.long)
            return empty
        merged = InstanceData()
        merged.scores = torch.cat([p.scores for p in parts])
        merged.labels = torch.cat([p.labels for p in parts])
        merged.set_field(torch.cat([p.get(field_name) for p in parts]), field_name)
        return merged

    def to(self, device: torch.device | str) -> 'DetSample':
        """Move the ground truth to ``device`` (predictions stay where they are)."""
        return DetSample(meta=self.meta, gt=self.gt.to(device), preds=self.preds,
                         annotated_labels=self.annotated_labels)
