"""Oriented boxes: long-edge size, double-angle orientation and sub-cell offset at each center."""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from centerx.decode import Peaks, gather_at_peaks
from centerx.losses import weighted_l1_loss, weighted_smooth_l1_loss
from centerx.registry import TASKS
from centerx.structures import ImageMeta
from centerx.task import Centers, DecodeContext, Grid, SizeCodec, Task, grid_to_image

from .geometry import poly_to_rbox, rbox_to_poly
from .polygon_iou import poly_iou_matrix


@TASKS.register_module()
class RotatedBoxTask(Task):
    """Rotated boxes ``(cx, cy, w, h, theta)`` regressed at their centers.

    Ground truth: ``polygons`` (M, 8) quadrilaterals in network-input pixels (DOTA's
    native form). Each is fitted with its minimum-area rectangle in the canonical
    long-edge form (``w >= h``, ``theta`` in ``[-pi/2, pi/2)``).

    Angle representation: ``(cos 2θ, sin 2θ)``. A rectangle is unchanged by
    ``θ -> θ + π``, and this vector is too, so there is no boundary discontinuity at
    ``±π/2`` (the long-edge angle jumps there; the vector does not); with ``w >= h``
    fixed, ``(w, h, 2θ)`` is unique for every non-square rectangle. Squares remain
    ambiguous by ``π/2``, which describes the same point set.

    Targets (grid cells): ``size`` (M, 2) = (w, h) (their logs with ``size_encoding='log'``);
    ``angle`` (M, 2) = (cos 2θ, sin 2θ);
    ``offset`` (M, 2) = center - peak cell (``center - floor(center)`` when this task places the
    peaks; from the chosen cell when a sibling does). The peak kernel sees ``sizes = (w, h)``
    and ``angles = θ`` (so ``RotatedEllipticalGaussian`` follows the box).

    Visibility rule: an object places a peak when its center lies on the grid
    (``0 <= cx < W, 0 <= cy < H``) and its size is positive and finite; it then
    regresses its full extent even where it leaves the image. Ignored objects (DOTA
    difficult) place no peak and mask their neighbourhood.

    Decoded: ``polygons`` (B, K, 8) and ``rboxes`` (B, K, 5) in original-image pixels
    (the rectangle's corners mapped back through the inverse affine; ``rboxes`` is
    their minimum-area rectangle, exact for the similarity warps used at test time).

    Multi-scale test: rotated NMS / soft-NMS with the polygon IoU (:meth:`tta_overlap`).
    """

    maps = {'size': 2, 'angle': 2, 'offset': 2}
    requires = ('polygons',)
    provides = ('polygons', 'rboxes')
    default_name = 'rotated'
    default_loss_weights = {'size': 0.1, 'angle': 1.0, 'offset': 1.0}

    def __init__(self, angle_loss: str = 'l1', size_encoding: str = 'linear', name: Optional[str] = None,
                 loss_weights: Optional[Dict[str, float]] = None) -> None:
        """Args:
            angle_loss: ``'l1'`` or ``'smooth_l1'`` (beta 1: quadratic over the whole range of
                the (cos 2θ, sin 2θ) targets, so its gradient grows with the error).
            size_encoding: ``'linear'`` ((w, h) in cells, L1 weight 0.1) or ``'log'`` ((log w,
                log h), decoded with ``exp``, L1 weight 1.0 by default): see
                :class:`~centerx.task.SizeCodec`.
            name, loss_weights: see :class:`~centerx.task.Task`.
        """
        super().__init__(name=name, loss_weights=loss_weights)
        if angle_loss not in ('l1', 'smooth_l1'):
            raise ValueError(f"RotatedBoxTask: angle_loss must be 'l1' or 'smooth_l1', got {angle_loss!r}")
        self.angle_loss = angle_loss
        self.size_codec = SizeCodec(size_encoding, type(self).__name__)
        self.loss_weights['size'] = self.size_codec.size_weight(loss_weights, self.loss_weights['size'])

    def rboxes(self, gt: InstanceData, grid: Grid) -> Tensor:
        """(M, 5) canonical rotated boxes of the ground truth, in grid cells."""
        polys = torch.nan_to_num(self.field_or_nan(gt, 'polygons', (8,)).to(torch.float32)) / grid.stride
        return poly_to_rbox(polys)

    def centers(self, gt: InstanceData, grid: Grid) -> Centers:
        H, W = grid.shape
        rboxes = self.rboxes(gt, grid)
        finite = torch.isfinite(self.field_or_nan(gt, 'polygons', (8,))).all(dim=1)
        cx, cy = rboxes[:, 0], rboxes[:, 1]
        visible = (finite & (rboxes[:, 2] > 0) & (rboxes[:, 3] > 0)
                   & (cx >= 0) & (cx < W) & (cy >= 0) & (cy < H))
        visible &= self.annotated_images(gt, 'polygons', grid.batch_size)[gt.batch_idx]
        ignore = gt.ignore.to(torch.bool) & visible
        return Centers(batch_idx=gt.batch_idx, labels=gt.labels, xy=rboxes[:, :2], sizes=rboxes[:, 2:4],
                       valid=visible & ~ignore, ignore=ignore, angles=rboxes[:, 4])

    def encode(self, gt: InstanceData, centers: Centers, grid: Grid) -> Dict[str, Tensor]:
        """Size, angle and center offset of each rectangle, from this task's own ground truth, at
        the peak cell the head's center task chose (the offset leaves ``[0, 1)`` when another task
        placed the peak)."""
        own = self.centers(gt, grid)  # identical to ``centers`` when this task placed them
        theta2 = 2 * own.angles
        offset, weight = self.at_peaks(own.xy, own.valid, centers, grid)
        return {'size': self.size_codec.encode(own.sizes),
                'angle': torch.stack([torch.cos(theta2), torch.sin(theta2)], dim=1),
                'offset': offset, 'weight': weight}

    def loss(self, preds: Dict[str, Tensor], targets: Dict[str, Tensor], centers: Centers,
             grid: Grid) -> Dict[str, Tensor]:
        weight = targets['weight']
        loss_fns = {'size': weighted_l1_loss, 'offset': weighted_l1_loss,
                    'angle': weighted_smooth_l1_loss if self.angle_loss == 'smooth_l1' else weighted_l1_loss}
        return self.weighted({name: fn(centers.gather(preds[name], grid), targets[name], weight)
                              for name, fn in loss_fns.items()})

    def flip_output_maps(self, maps: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """A mirror maps θ to -θ: cos 2θ is kept, sin 2θ changes sign; sizes are kept."""
        angle = maps['angle'].flip(-1)
        return {'size': maps['size'].flip(-1), 'angle': torch.cat([angle[:, :1], -angle[:, 1:]], dim=1)}

    def tta_overlap(self, dets: InstanceData, meta: ImageMeta) -> Tensor:
        """Multi-scale merge: rotated NMS, the overlap being the polygon IoU of the decoded
        ``polygons`` (:func:`~centerx_tasks.rotated.polygon_iou.poly_iou_matrix`, DOTA's IoU)."""
        polys = dets.polygons
        iou = poly_iou_matrix(polys.detach().cpu().to(torch.float64).numpy(),
                              polys.detach().cpu().to(torch.float64).numpy())
        return torch.as_tensor(iou, dtype=torch.float32, device=polys.device)

    def example_gt(self, num: int, image_shape, generator: torch.Generator) -> Dict[str, Tensor]:
        """Rectangles (aspect 1.2-4) at any angle with their centers inside the image."""
        H, W = image_shape
        side = min(H, W)
        long = (torch.rand(num, generator=generator) * 0.3 + 0.08) * side
        short = long / (torch.rand(num, generator=generator) * 2.8 + 1.2)
        theta = (torch.rand(num, generator=generator) - 0.5) * math.pi
        center = torch.rand(num, 2, generator=generator) * torch.tensor([W * 0.8, H * 0.8]) + torch.tensor(
            [W * 0.1, H * 0.1])
        return {'polygons': rbox_to_poly(torch.stack([center[:, 0], center[:, 1], long, short, theta], dim=1))}

    def roundtrip_error(self, decoded: Dict[str, Tensor], gt: InstanceData) -> Tensor:
        """Largest vertex distance in pixels between decoded and ground-truth rectangles (as point sets)."""
        a = decoded['polygons'].reshape(-1, 4, 1, 2)
        b = poly_to_rbox(gt.polygons.to(decoded['polygons'].dtype))
        b = rbox_to_poly(b).reshape(-1, 1, 4, 2)
        dist = (a - b).norm(dim=-1)  # (N, 4, 4)
        return dist.min(dim=2).values.max(dim=1).values

    def decode(self, preds: Dict[str, Tensor], peaks: Peaks, ctx: DecodeContext) -> Dict[str, Tensor]:
        size = self.size_codec.decode(gather_at_peaks(preds['size'], peaks))
        angle = gather_at_peaks(preds['angle'], peaks)
        offset = gather_at_peaks(preds['offset'], peaks)
        cx = peaks.xs.to(size.dtype) + offset[..., 0]
        cy = peaks.ys.to(size.dtype) + offset[..., 1]
        theta = torch.atan2(angle[..., 1], angle[..., 0]) / 2
        rbox = torch.stack([cx, cy, size[..., 0].abs(), size[..., 1].abs(), theta], dim=-1)
        B, K = cx.shape
        corners = rbox_to_poly(rbox).reshape(B, K * 4, 2)
        polys = grid_to_image(corners, ctx.grid.stride, ctx.inverse_affine).reshape(B, K, 8)
        return {'polygons': polys, 'rboxes': poly_to_rbox(polys)}
