"""Discs as points: a radius and a sub-cell offset regressed at each disc's center."""
from __future__ import annotations

from typing import Dict, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor

from centerx.decode import Peaks, gather_at_peaks
from centerx.losses import weighted_l1_loss
from centerx.registry import TASKS
from centerx.structures import ImageMeta
from centerx.task import Centers, DecodeContext, Grid, Task, grid_to_image

from .iou import disc_iou


@TASKS.register_module()
class CircleTask(Task):
    """Discs ``(cx, cy, r)`` detected as center peaks with a regressed radius.

    Ground truth: ``circles`` (M, 3) ``(cx, cy, r)`` in network-input pixels (the
    ``circles`` annotation kind keeps them right through flips and affine warps).

    Centers (when this task is the head's center task): the disc center, in grid cells;
    the kernel spreads it over a ``(2r, 2r)`` extent. A disc places a peak when its
    center lies on the grid (``0 <= cx < W``, ``0 <= cy < H``) and its radius is positive
    and finite; it then regresses its full radius even where it leaves the image. An
    ignored disc places no peak and masks its neighbourhood; a row of an image that has no
    ``circles`` (another task's data, mixed in one batch) places nothing.

    Targets (grid cells), one row per object, from this task's own ``circles`` at the peak
    cell the head chose (``centers.peak_cells``; the encode rule of :class:`~centerx.task.Task`,
    applied by ``Task.at_peaks``):

    - ``radius`` (M, 1): the radius.
    - ``offset`` (M, 2): disc center - peak cell. When this task places the centers this
      is the sub-cell offset in [0, 1); when a sibling task places them (a box center ...)
      it is whatever vector leads from that peak to the disc center.
    - ``weight`` (M,): 1 for a row that has a valid peak and a valid disc, else 0.

    Loss: masked L1 on both maps, weights ``radius`` 0.1 (CenterNet's weight of its size
    map, which is in the same units) and ``offset`` 1.0; override with
    ``loss_weights=dict(radius=..., offset=...)``.

    Decoded: ``circles`` (B, K, 3) in original-image pixels: the center is mapped back
    through ``ctx.inverse_affine``, the radius is scaled by ``stride * sqrt(|det A|)`` of
    that affine (exact for the similarity warps used at test time). Not clipped.

    Round trip: ``decode(perfect_maps(encode(gt)))`` returns ``gt`` up to float rounding
    (no quantization: the offset restores the sub-cell center).

    Multi-scale test: the detections of all scales merge by NMS / soft-NMS on the disc IoU
    (:meth:`tta_overlap`).
    """

    maps = {'radius': 1, 'offset': 2}
    requires = ('circles',)
    provides = ('circles',)
    default_name = 'circle'
    default_loss_weights = {'radius': 0.1, 'offset': 1.0}

    # ------------------------------------------------------------------ ground truth
    def circles_in_cells(self, gt: InstanceData, grid: Grid) -> Tuple[Tensor, Tensor]:
        """The ground-truth discs in grid cells, and which rows hold a usable disc.

        Returns:
            circles: (M, 3) float32 ``(cx, cy, r)`` in cells, NaN replaced by 0.
            usable: (M,) bool, finite with ``r > 0`` (and annotated, in a mixed batch).
        """
        raw = self.field_or_nan(gt, 'circles', (3,)).to(torch.float32).reshape(-1, 3)
        usable = torch.isfinite(raw).all(dim=1) & (raw[:, 2] > 0)
        usable &= self.annotated_images(gt, 'circles', grid.batch_size)[gt.batch_idx]
        return torch.nan_to_num(raw, nan=0.0, posinf=0.0, neginf=0.0) / grid.stride, usable

    def centers(self, gt: InstanceData, grid: Grid) -> Centers:
        H, W = grid.shape
        circles, usable = self.circles_in_cells(gt, grid)
        cx, cy, r = circles.unbind(dim=1)
        visible = usable & (cx >= 0) & (cx < W) & (cy >= 0) & (cy < H)
        ignore = gt.ignore.to(torch.bool) & visible
        return Centers(batch_idx=gt.batch_idx, labels=gt.labels, xy=circles[:, :2],
                       sizes=torch.stack([2 * r, 2 * r], dim=1), valid=visible & ~ignore, ignore=ignore)

    def encode(self, gt: InstanceData, centers: Centers, grid: Grid) -> Dict[str, Tensor]:
        circles, usable = self.circles_in_cells(gt, grid)
        offset, weight = self.at_peaks(circles[:, :2], usable, centers, grid)  # the encode rule
        return {'radius': circles[:, 2:3], 'offset': offset, 'weight': weight}

    # ------------------------------------------------------------------ training
    def loss(self, preds: Dict[str, Tensor], targets: Dict[str, Tensor], centers: Centers,
             grid: Grid) -> Dict[str, Tensor]:
        weight = targets['weight']
        return self.weighted({
            name: weighted_l1_loss(centers.gather(preds[name], grid), targets[name], weight)
            for name in ('radius', 'offset')
        })

    # ------------------------------------------------------------------ inference
    def decode(self, preds: Dict[str, Tensor], peaks: Peaks, ctx: DecodeContext) -> Dict[str, Tensor]:
        radius = gather_at_peaks(preds['radius'], peaks)[..., 0]  # (B, K) cells
        offset = gather_at_peaks(preds['offset'], peaks)          # (B, K, 2) cells
        cells = torch.stack([peaks.xs, peaks.ys], dim=-1).to(offset.dtype)
        center = grid_to_image(cells + offset, ctx.grid.stride, ctx.inverse_affine)
        lin = ctx.inverse_affine[:, :2, :2].to(radius.dtype)
        scale = (lin[:, 0, 0] * lin[:, 1, 1] - lin[:, 0, 1] * lin[:, 1, 0]).abs().sqrt()  # (B,)
        r = radius.clamp(min=0) * ctx.grid.stride * scale[:, None]
        return {'circles': torch.cat([center, r.unsqueeze(-1)], dim=-1)}

    def flip_output_maps(self, maps: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """A mirror keeps a disc's radius: the radius map is mirrored back, values unchanged.

        Offsets are left out (a mirrored sub-cell offset belongs to another cell).
        """
        return {'radius': maps['radius'].flip(-1)}

    def tta_overlap(self, dets: InstanceData, meta: ImageMeta) -> Tensor:
        """Multi-scale test: two detections are the same disc as far as their disc IoU says
        (the merge's NMS / soft-NMS reads this (N, N) matrix)."""
        circles = dets.circles.detach().cpu().numpy()
        return torch.as_tensor(disc_iou(circles, circles), dtype=torch.float32, device=dets.circles.device)

    # -- what the registry-wide tests (tests/test_task_registry.py) need from every task --
    def example_gt(self, num: int, image_shape: Tuple[int, int], generator: torch.Generator) -> Dict[str, Tensor]:
        """Random discs (radius 4-20 % of the shorter side) with their centers inside the image."""
        H, W = image_shape
        r = (torch.rand(num, generator=generator) * 0.16 + 0.04) * min(H, W)
        cx = torch.rand(num, generator=generator) * W * 0.8 + W * 0.1
        cy = torch.rand(num, generator=generator) * H * 0.8 + H * 0.1
        return {'circles': torch.stack([cx, cy, r], dim=1)}

    def roundtrip_error(self, decoded: Dict[str, Tensor], gt: InstanceData) -> Tensor:
        """Largest of center distance and radius difference, in pixels."""
        a, b = decoded['circles'], gt.circles.to(decoded['circles'].dtype)
        return torch.maximum((a[:, :2] - b[:, :2]).norm(dim=1), (a[:, 2] - b[:, 2]).abs())

