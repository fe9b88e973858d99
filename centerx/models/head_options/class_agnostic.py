"""Separate center and class branches (``center_mode='class_agnostic'``, FCOS-like).

The heatmap branch predicts one class-agnostic center logit ``c`` (B, 1, H, W); a second branch
predicts one sigmoid class logit per class ``k`` (B, C, H, W). The score of class ``j`` at a cell is
``s_j = sigmoid(c) * sigmoid(k_j)``.

Targets, from the per-class heatmap ``Y`` (B, C, H, W) the head renders as usual:

- center: ``Y_c = max_j Y_j`` (the class-agnostic heatmap), trained with the penalty-reduced focal
  loss. A cell is ignored on it where any class channel is ignored there and it is not a positive
  (ignored objects' windows; every cell of an image that is not annotated for some class, whose
  unlabeled objects could be anywhere).
- class: at every cell of an object's kernel window (``Y_c > 0``) the one-hot of the **owning**
  class ``o = argmax_j Y_j``: where windows of different classes overlap, the cell belongs to the
  class whose object's kernel is highest there (the object the cell is closest to, in kernel
  terms), ties to the lowest class channel. So each object's own center cell (value 1) always
  carries its own class, and a cell is never trained towards two classes. The loss is the binary
  cross-entropy summed over the classes, weighted per cell by ``Y_c`` (cells near centers count
  most) and divided by the sum of those weights; channels of classes the image is not annotated
  for add nothing. Cells outside every window get no class loss.

Decoding: the head's ``'heatmap'`` output is the logit of ``s`` (B, C, H, W), so peak extraction,
flip test-time augmentation, export and every task's decoder run unchanged. The peaks are the
local maxima of ``s_j`` per class channel, top-K over classes and cells: where the class branch is
flat over an object's window, as it is trained to be, they are the peaks of the center map, and a
peak reports every class whose product score makes the top K (top classes per peak, each scored
center x class), so an ambiguous object yields a few class hypotheses ranked by their scores,
as CenterNet's per-class heatmaps do.
"""
from __future__ import annotations

import math
from typing import Dict, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from centerx.losses import penalty_reduced_focal_loss

#: the values of a head's ``center_mode``
CENTER_MODES = ('per_class', 'class_agnostic')
#: key of the raw center and class logits in a class-agnostic head's outputs
PARTS_KEY = 'center_class'
#: largest log-probability of a combined score (so its logit stays finite, about 13.8)
_MAX_LOG_P = math.log1p(-1e-6)


def combine_scores(center_logits: Tensor, class_logits: Tensor) -> Tensor:
    """Logits of ``sigmoid(center) * sigmoid(class)``: (B, 1, H, W) and (B, C, H, W) -> (B, C, H, W).

    Computed in log space (``log s = logsigmoid(c) + logsigmoid(k)``, ``logit = log s - log(1 - s)``),
    with ``s`` capped at ``1 - 1e-6``.
    """
    log_p = (F.logsigmoid(center_logits) + F.logsigmoid(class_logits)).clamp(max=_MAX_LOG_P)
    return log_p - torch.log(-torch.expm1(log_p))


class ClassAgnosticCenters(nn.Module):
    """The class branch and the maths of the class-agnostic mode (module docstring).

    Args:
        class_branch: a built branch mapping the feature to (B, C, H, W) class logits; its last
            bias is set to the prior ``1 / C`` (0 logit for one class).
        num_classes: ``C``.
        loss_class_weight: weight of the class loss.
    """

    def __init__(self, class_branch: nn.Sequential, num_classes: int, loss_class_weight: float = 1.0) -> None:
        super().__init__()
        self.branch = class_branch
        self.num_classes = num_classes
        self.loss_class_weight = loss_class_weight
        nn.init.constant_(self.branch[-1].bias, -math.log(num_classes - 1) if num_classes > 1 else 0.0)

    def forward(self, feat: Tensor, center_logits: Tensor) -> Dict[str, object]:
        """(B, Cf, H, W) feature, (B, 1, H, W) center logits -> ``{'heatmap': (B, C, H, W) combined
        logits, 'center_class': {'center': (B, 1, H, W), 'classes': (B, C, H, W)}}``."""
        class_logits = self.branch(feat)
        return {'heatmap': combine_scores(center_logits, class_logits),
                PARTS_KEY: {'center': center_logits, 'classes': class_logits}}

    @staticmethod
    def targets(heat: Tensor, ignore: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """The mode's targets from the per-class heatmap ``heat`` (B, C, H, W) and ``ignore`` (B, C, H, W).

        Returns:
            center target (B, 1, H, W), center ignore (B, 1, H, W) bool, class target (B, C, H, W)
            one-hot of the owning class inside the windows (0 outside), and the cell weight
            (B, 1, H, W) = center target.
        """
        center, owner = heat.max(dim=1, keepdim=True)
        center_ignore = ignore.any(dim=1, keepdim=True) & (center < 1)
        inside = center > 0
        classes = torch.zeros_like(heat).scatter_(1, owner, 1.0) * inside
        return center, center_ignore, classes, center

    def loss(self, outputs: Dict, heat: Tensor, ignore: Tensor, annotated: Tensor,
             focal_alpha: float, focal_beta: float) -> Dict[str, Tensor]:
        """``{'center': focal loss on the center map, 'classes': weighted class BCE}``.

        Args:
            outputs: the head's outputs (``outputs['center_class']`` holds the raw logits).
            heat: (B, C, H, W) rendered per-class target; ignore: (B, C, H, W) bool.
            annotated: (B, C) bool, the image is annotated for the class.
        """
        parts = outputs[PARTS_KEY]
        center, center_ignore, classes, weight = self.targets(heat, ignore)
        center_loss = penalty_reduced_focal_loss(parts['center'], center, focal_alpha, focal_beta,
                                                 ignore=center_ignore)
        bce = F.binary_cross_entropy_with_logits(parts['classes'].float(), classes, reduction='none')
        per_class = weight * annotated[:, :, None, None].to(weight.dtype)
        class_loss = (bce * per_class).sum() / weight.sum().clamp(min=1.0)
        return {'center': center_loss, 'classes': self.loss_class_weight * class_loss}

    def perfect_outputs(self, heat: Tensor) -> Dict[str, object]:
        """The outputs a perfect network gives for the per-class target ``heat`` (B, C, H, W): the
        logits of the center and class targets, and their combination."""
        center, _, classes, _ = self.targets(heat, torch.zeros_like(heat, dtype=torch.bool))
        center_logits = torch.logit(center.clamp(1e-6, 1 - 1e-6))
        class_logits = torch.logit(classes.clamp(1e-6, 1 - 1e-6))
        return {'heatmap': combine_scores(center_logits, class_logits),
                PARTS_KEY: {'center': center_logits, 'classes': class_logits}}
