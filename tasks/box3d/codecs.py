"""The value codecs of :class:`~centerx_tasks.box3d.task.Box3DTask`: how depth, box size and
observation angle become map values and back, and the losses that belong to them.

Each codec is a small object built from the task's options; all methods are vectorized
tensor functions over any leading shape (traceable: no data-dependent Python branching).
"""
from __future__ import annotations

import math
from typing import Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from centerx.losses import weighted_l1_loss

from .camera import wrap_angle

DEPTH_ENCODINGS = ('inverse_sigmoid', 'log', 'linear')
ORIENTATIONS = ('sincos', 'multibin')
#: bin centers of CenterNet's two overlapping orientation bins
BIN_CENTERS = (-0.5 * math.pi, 0.5 * math.pi)
#: map values are clamped before exp() so that a wild prediction cannot overflow
EXP_CLAMP = 15.0


class DepthCodec:
    """Depth ``z`` (m) <-> the ``depth`` map value.

    Args:
        encoding: ``'inverse_sigmoid'`` (CenterNet, ``z = 1 / sigmoid(o) - 1``, which equals
            ``exp(-o)`` and is computed so), ``'log'`` (``z = exp(o)``) or ``'linear'`` (SMOKE,
            ``z = mu + sigma * o``).
        ref: ``(mu, sigma > 0)`` of the linear encoding (m).
    """

    def __init__(self, encoding: str, ref: Tuple[float, float]) -> None:
        if encoding not in DEPTH_ENCODINGS:
            raise ValueError(f'Box3DTask: depth_encoding must be one of {DEPTH_ENCODINGS}, got {encoding!r}')
        if encoding == 'linear' and not (len(ref) == 2 and ref[1] > 0):
            raise ValueError(f'Box3DTask: depth_ref must be (mu, sigma > 0), got {ref!r}')
        self.encoding = encoding
        self.ref = (float(ref[0]), float(ref[1]))

    def encode(self, depth: Tensor) -> Tensor:
        """Map value whose :meth:`decode` is ``depth`` (any shape, meters; > 0 unless linear)."""
        if self.encoding == 'inverse_sigmoid':
            return -torch.log(depth)
        if self.encoding == 'log':
            return torch.log(depth)
        mu, sigma = self.ref
        return (depth - mu) / sigma

    def decode(self, value: Tensor) -> Tensor:
        """Depth in meters from the map value (any shape)."""
        if self.encoding == 'inverse_sigmoid':  # 1 / sigmoid(o) - 1 == exp(-o)
            return torch.exp(-value.clamp(-EXP_CLAMP, EXP_CLAMP))
        if self.encoding == 'log':
            return torch.exp(value.clamp(-EXP_CLAMP, EXP_CLAMP))
        mu, sigma = self.ref
        return mu + sigma * value


class OrientationCodec:
    """Observation angle ``alpha`` <-> the ``rot`` map value.

    ``'sincos'``: 2 channels ``(sin, cos)``. ``'multibin'``: CenterNet's two overlapping bins,
    8 channels ``[bin1 logits (2), sin, cos of alpha - (-pi/2), bin2 logits (2), sin, cos of
    alpha - pi/2]``; bin 1 (centered at ``-pi/2``) is active for ``alpha < pi/6`` or
    ``alpha > 5pi/6``, bin 2 (at ``pi/2``) for ``alpha > -pi/6`` or ``alpha < -5pi/6``.
    """

    def __init__(self, kind: str) -> None:
        if kind not in ORIENTATIONS:
            raise ValueError(f'Box3DTask: orientation must be one of {ORIENTATIONS}, got {kind!r}')
        self.kind = kind

    @property
    def channels(self) -> int:
        """Channels of the ``rot`` map."""
        return 2 if self.kind == 'sincos' else 8

    def encode(self, alpha: Tensor) -> Tensor:
        """(M,) observation angles -> (M, channels) rot targets."""
        if self.kind == 'sincos':
            return torch.stack([torch.sin(alpha), torch.cos(alpha)], dim=-1)
        in1 = (alpha < math.pi / 6) | (alpha > 5 * math.pi / 6)
        in2 = (alpha > -math.pi / 6) | (alpha < -5 * math.pi / 6)
        r1, r2 = alpha - BIN_CENTERS[0], alpha - BIN_CENTERS[1]
        f1, f2 = in1.to(alpha.dtype), in2.to(alpha.dtype)
        return torch.stack([1 - f1, f1, torch.sin(r1), torch.cos(r1),
                            1 - f2, f2, torch.sin(r2), torch.cos(r2)], dim=-1)

    def decode(self, rot: Tensor) -> Tensor:
        """(..., channels) rot map values -> (...) observation angle in ``[-pi, pi)``."""
        if self.kind == 'sincos':
            return wrap_angle(torch.atan2(rot[..., 0], rot[..., 1]))
        p1 = torch.softmax(rot[..., 0:2], dim=-1)[..., 1]
        p2 = torch.softmax(rot[..., 4:6], dim=-1)[..., 1]
        a1 = torch.atan2(rot[..., 2], rot[..., 3]) + BIN_CENTERS[0]
        a2 = torch.atan2(rot[..., 6], rot[..., 7]) + BIN_CENTERS[1]
        return wrap_angle(torch.where(p1 > p2, a1, a2))

    def loss(self, pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
        """(M, channels) predictions and targets, (M,) weights -> scalar.

        sincos: L1. multibin: cross-entropy on each bin's logits + L1 on the residual
        (sin, cos) of each active bin.
        """
        if self.kind == 'sincos':
            return weighted_l1_loss(pred, target, weight)
        loss = pred.sum() * 0.0
        for b in range(2):
            active = target[:, 4 * b + 1]
            loss = loss + weighted_ce(pred[:, 4 * b:4 * b + 2], active.to(torch.int64), weight)
            loss = loss + weighted_l1_loss(pred[:, 4 * b + 2:4 * b + 4], target[:, 4 * b + 2:4 * b + 4],
                                           weight * active)
        return loss

    def mirror_signs(self, like: Tensor) -> Tensor:
        """(channels,) signs that mirror rot values under a horizontal flip (``alpha -> pi - alpha``):
        (sin, cos) -> (sin, -cos); each multibin residual ``r -> -r`` (both bins map onto
        themselves), so its sin changes sign."""
        if self.kind == 'sincos':
            return like.new_tensor([1.0, -1.0])
        return like.new_tensor([1.0, 1.0, -1.0, 1.0, 1.0, 1.0, -1.0, 1.0])


def weighted_ce(logits: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Cross-entropy of (M, C) logits and (M,) int64 targets averaged over the weighted rows
    ((M,) weights; zero, still connected to ``logits``, when none)."""
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    ce = F.cross_entropy(logits, target, reduction='none')
    ce = torch.where(weight > 0, ce, torch.zeros_like(ce))
    return (ce * weight).sum() / weight.sum().clamp(min=1e-4)
