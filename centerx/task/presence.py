"""What each image of a batch is annotated for: the one presence mask of the ground truth.

``concat_instances`` builds it from the per-image ground truth and attaches it to the
concatenated table (``gt.metainfo['presence']``); the head and the tasks read it through
:func:`presence_of` (tasks: :meth:`~centerx.task.Task.annotated_images`). An image is
annotated for a *field* when its ground truth carries the field, even with zero rows (then
its objects of that kind are "none", not "unknown"); it is annotated for a *class* when its
source labels that class (``DetSample.annotated_labels``; every class by default).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

import torch
from mmengine.structures import InstanceData
from torch import Tensor

#: key of the presence mask in the concatenated ground truth's metainfo
PRESENCE_KEY = 'presence'


@dataclass(frozen=True)
class Presence:
    """Per image of a batch: which fields and which classes it is annotated for.

    Attributes:
        batch_size: B.
        fields: ``{field: (B,) bool}`` for every field that some image of the batch carries;
            a field no image carries is annotated nowhere.
        classes: (B, C) bool over the head's class channels (image b's source annotates class
            c), or None: every image is annotated for every class.
    """

    batch_size: int
    fields: Dict[str, Tensor]
    classes: Optional[Tensor] = None

    def images(self, field: str) -> Tensor:
        """(B,) bool: images annotated for ``field``."""
        if field in self.fields:
            return self.fields[field]
        device = next(iter(self.fields.values())).device if self.fields else None
        return torch.zeros(self.batch_size, dtype=torch.bool, device=device)

    def class_mask(self, num_classes: int) -> Tensor:
        """(B, num_classes) bool: images annotated for each class channel.

        Raises:
            ValueError: the mask was built for another number of classes.
        """
        if self.classes is None:
            device = next(iter(self.fields.values())).device if self.fields else None
            return torch.ones(self.batch_size, num_classes, dtype=torch.bool, device=device)
        if self.classes.shape != (self.batch_size, num_classes):
            raise ValueError(f'presence mask holds classes of shape {tuple(self.classes.shape)}, '
                             f'expected ({self.batch_size}, {num_classes}): concatenate the ground truth '
                             "with the head's label map")
        return self.classes


def presence_of(gt: InstanceData, batch_size: int) -> Presence:
    """The presence mask of a concatenated ground truth.

    A table built without :func:`~centerx.task.concat_instances` (a hand-made one in a test)
    has none: every image then counts as annotated for the fields the table carries and for
    every class.

    Raises:
        ValueError: the mask describes another batch size.
    """
    presence = gt.metainfo.get(PRESENCE_KEY) if hasattr(gt, 'metainfo') else None
    if presence is None:
        device = gt.batch_idx.device if 'batch_idx' in gt else None
        return Presence(batch_size, {k: torch.ones(batch_size, dtype=torch.bool, device=device)
                                     for k in gt.keys() if k != 'batch_idx'})
    if presence.batch_size != batch_size:
        raise ValueError(f'the ground truth was concatenated from {presence.batch_size} images, '
                         f'but the grid has a batch of {batch_size}')
    return presence
