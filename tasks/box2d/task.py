"""Axis-aligned 2D boxes (CenterNet ``ctdet``): box size and sub-cell offset at each center."""
from __future__ import annotations

from typing import Dict, Optional

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from centerx.decode import Peaks
from centerx.decode.peaks import gather_at_peaks
from centerx.losses import weighted_l1_loss
from centerx.registry import TASKS
from centerx.task import Centers, DecodeContext, Grid, SizeCodec, Task, grid_to_image


@TASKS.register_module()
class Box2DTask(Task):
    """2D boxes as center + (w, h) + sub-cell offset.

    Ground truth: ``bboxes`` (M, 4) xyxy in network-input pixels.
    Targets (grid cells): ``size`` (M, 2) = clipped box (w, h) (their logs with
    ``size_encoding='log'``); ``offset`` (M, 2) =
    center - floor(center). Boxes are clipped to the grid extent ``[0, W] x [0, H]``
    (the visible part of the object); a box with no visible area, a non-finite box
    or an ignored one places no peak and gets no regression loss.
    Decoded: ``bboxes`` (B, K, 4) xyxy in original-image pixels, clipped to the image.
    Round trip: exact up to float rounding (no quantization: the offset restores the
    sub-cell center).

    Args:
        size_encoding: ``'linear'`` (CenterNet: the ``size`` map is (w, h) in cells, L1 with
            weight 0.1) or ``'log'`` (the map is (log w, log h), decoded with ``exp``; L1 on the
            logs is a relative error, so large and small boxes learn at the same pace; default
            weight 1.0). See docs/benchmarks.md for the measured difference.
        name, loss_weights: see :class:`~centerx.task.Task`.
    """

    maps = {'size': 2, 'offset': 2}
    requires = ('bboxes',)
    provides = ('bboxes',)
    default_name = 'box2d'
    default_loss_weights = {'size': 0.1, 'offset': 1.0}

    def __init__(self, size_encoding: str = 'linear', name: Optional[str] = None,
                 loss_weights: Optional[Dict[str, float]] = None) -> None:
        super().__init__(name=name, loss_weights=loss_weights)
        self.size_codec = SizeCodec(size_encoding, type(self).__name__)
        self.loss_weights['size'] = self.size_codec.size_weight(loss_weights, self.loss_weights['size'])

    def centers(self, gt: InstanceData, grid: Grid) -> Centers:
        H, W = grid.shape
        boxes = self.field_or_nan(gt, 'bboxes', (4,)).to(torch.float32) / grid.stride
        finite = torch.isfinite(boxes).all(dim=1)
        boxes = torch.nan_to_num(boxes)
        x = boxes[:, 0::2].clamp(0, W)
        y = boxes[:, 1::2].clamp(0, H)
        sizes = torch.stack([x[:, 1] - x[:, 0], y[:, 1] - y[:, 0]], dim=1)
        visible = finite & (sizes > 0).all(dim=1)
        visible &= self.annotated_images(gt, 'bboxes', grid.batch_size)[gt.batch_idx]
        ignore = gt.ignore.to(torch.bool) & visible
        xy = torch.stack([(x[:, 0] + x[:, 1]) / 2, (y[:, 0] + y[:, 1]) / 2], dim=1)
        return Centers(batch_idx=gt.batch_idx, labels=gt.labels, xy=xy, sizes=sizes,
                       valid=visible & ~ignore, ignore=ignore)

    def encode(self, gt: InstanceData, centers: Centers, grid: Grid) -> Dict[str, Tensor]:
        """Size and center offset of each box, at the peak cell the head's center task chose.

        When this task places the centers, ``offset`` is the sub-cell offset of the box center;
        when another task does (a projected 3D center, say), the offset reaches from that
        peak cell to the box center, so the decoded box is still the box.
        """
        own = self.centers(gt, grid)  # identical to ``centers`` when this task placed them
        offset, weight = self.at_peaks(own.xy, own.valid, centers, grid)
        return {'size': self.size_codec.encode(own.sizes), 'offset': offset, 'weight': weight}

    def loss(self, preds: Dict[str, Tensor], targets: Dict[str, Tensor], centers: Centers,
             grid: Grid) -> Dict[str, Tensor]:
        weight = targets['weight']
        return self.weighted({
            'size': weighted_l1_loss(centers.gather(preds['size'], grid), targets['size'], weight),
            'offset': weighted_l1_loss(centers.gather(preds['offset'], grid), targets['offset'], weight),
        })

    def flip_output_maps(self, maps: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Box sizes mirror spatially and keep their values; offsets are not averaged."""
        return {'size': maps['size'].flip(-1)}

    def example_gt(self, num: int, image_shape, generator: torch.Generator) -> Dict[str, Tensor]:
        """Boxes of 4-40% of the image side, fully inside the image."""
        H, W = image_shape
        size = (torch.rand(num, 2, generator=generator) * 0.36 + 0.04) * torch.tensor([W, H])
        lo = torch.rand(num, 2, generator=generator) * (torch.tensor([W, H]) - size)
        return {'bboxes': torch.cat([lo, lo + size], dim=1)}

    def roundtrip_error(self, decoded: Dict[str, Tensor], gt: InstanceData) -> Tensor:
        """Largest coordinate difference in pixels."""
        return (decoded['bboxes'] - gt.bboxes).abs().max(dim=1).values

    def decode(self, preds: Dict[str, Tensor], peaks: Peaks, ctx: DecodeContext) -> Dict[str, Tensor]:
        size = self.size_codec.decode(gather_at_peaks(preds['size'], peaks))
        offset = gather_at_peaks(preds['offset'], peaks)
        cx = peaks.xs.to(size.dtype) + offset[..., 0]
        cy = peaks.ys.to(size.dtype) + offset[..., 1]
        half_w, half_h = size[..., 0] / 2, size[..., 1] / 2
        corners = torch.stack([
            torch.stack([cx - half_w, cy - half_h], -1), torch.stack([cx + half_w, cy - half_h], -1),
            torch.stack([cx + half_w, cy + half_h], -1), torch.stack([cx - half_w, cy + half_h], -1),
        ], dim=2)  # (B, K, 4, 2)
        B, K = cx.shape
        pts = grid_to_image(corners.reshape(B, K * 4, 2), ctx.grid.stride, ctx.inverse_affine).reshape(B, K, 4, 2)
        lo, hi = pts.min(dim=2).values, pts.max(dim=2).values
        if ctx.ori_shapes is not None:
            wh = ctx.ori_shapes.flip(-1).to(lo.dtype)[:, None, :]  # (B, 1, 2) as (w, h)
            lo = torch.minimum(lo.clamp(min=0), wh)
            hi = torch.minimum(hi.clamp(min=0), wh)
        return {'bboxes': torch.cat([lo, hi], dim=-1)}
