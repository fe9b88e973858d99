"""Human pose as points (CenterNet ``multi_pose``): keypoints regressed at the person center,
refined by per-joint keypoint heatmaps."""
from __future__ import annotations

import math

from typing import Any, Dict, Optional, Sequence

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from centerx.decode import Peaks, gather_at_peaks
from centerx.decode.peaks import local_max
from centerx.heatmap import KernelShape, build_kernel, render_gaussians
from centerx.losses import penalty_reduced_focal_loss, weighted_l1_loss
from centerx.registry import TASKS
from centerx.task import Centers, DecodeContext, Grid, Task, grid_to_image

from .annotation_kind import flip_permutation

#: initial bias of the keypoint heatmap logits (prior 0.1, as CenterNet's ``hm_hp``)
KP_HEATMAP_BIAS = -2.19


@TASKS.register_module()
class KeypointTask(Task):
    """K keypoints per person, CenterNet ``multi_pose`` style.

    The task places no peaks: any center task on the same head does (``Box2DTask`` in
    CenterNet's multi-pose model), and this one regresses the person's keypoints at that peak.
    Following the encode rule of :class:`~centerx.task.Task`, it reads the peak cells and
    ``valid`` of the head's centers, and their ``sizes`` (the extent every center task fills)
    as the person's extent for its heatmap kernel and the ignore regions of ignored persons.

    Ground truth: ``keypoints`` (M, K, 3) ``(x, y, v)`` in network-input pixels, ``v`` the
    COCO visibility. Keypoint ``k`` of a person is *labeled* when the person is valid
    (``centers.valid``), ``v > 0``, the point is finite and it lies on the grid
    (``0 <= x < W``, ``0 <= y < H`` in grid cells). Unlabeled keypoints add no loss; a person
    without labeled keypoints contributes only through its center task.

    Maps (grid cells):

    - ``kps`` (2K): ``(x_k, y_k)`` interleaved, offset of keypoint k from the person's peak
      cell (its integer corner): target ``kp / stride - center_cell``.
    - ``kp_heatmap`` (K): one heatmap per joint; a labeled keypoint draws the ``kernel``
      Gaussian (default CenterNet's: the CornerNet radius of the *person's* size) at its cell.
    - ``kp_offset`` (2): sub-cell offset ``kp - floor(kp)`` at keypoint heatmap peaks, shared
      by all joints (as in CenterNet; two labeled keypoints in one cell share one value).

    Losses (``loss_weights`` keys): ``kp_heatmap`` penalty-reduced focal loss (images that
    lack the ``keypoints`` field add none; cells inside ignored persons' extents add none);
    ``kps`` and ``kp_offset`` masked L1, normalized by the number of labeled coordinates.

    Decoded: ``keypoints`` (B, K_det, K, 3) in original-image pixels. Regressed keypoints are
    ``peak cell + kps``. With ``snap_to_heatmap`` each one moves to the nearest peak of its
    joint's heatmap (per-joint top-``heatmap_topk`` local maxima, position + ``kp_offset``)
    when that peak scores above ``hm_threshold``, lies inside the person's box (the
    ``bboxes`` decoded by an earlier task of the head, else the extent of the regressed
    keypoints) and is closer than ``snap_distance * max(box w, h)``. The third column is a
    score: the snapped peak's heatmap score, or the person's center score for a regressed
    keypoint. When an image's ``inverse_affine`` mirrors (negative determinant: a flip in
    its test pipeline), the joints of each flip pair are swapped back.

    Round trip: exact up to float rounding for labeled keypoints (the kps target has no
    quantization), as long as two labeled keypoints do not share a grid cell (they then
    share one ``kp_offset``; a snapped keypoint can be off by less than a cell).

    Args:
        num_keypoints: K (17 for COCO).
        flip_pairs: left/right joint pairs, for :meth:`flip_output_maps` and for mirrored
            inputs in :meth:`decode`.
        kernel: keypoint heatmap kernel config (default ``CornerNetGaussian``, min_overlap 0.7).
        hm_threshold: minimum heatmap score of a peak a keypoint may snap to (0.1).
        snap_to_heatmap: refine regressed keypoints with the heatmap peaks.
        heatmap_topk: peaks per joint considered for snapping (100).
        snap_distance: snapping radius as a fraction of the box's longer side (0.3).
        loss_weights: multipliers of ``kps``, ``kp_heatmap``, ``kp_offset`` (all 1.0).
        name: task name (default ``keypoints``).
    """

    maps = {'kps': 34, 'kp_heatmap': 17, 'kp_offset': 2}  # per instance: see __init__
    requires = ('keypoints',)
    provides = ('keypoints',)
    default_name = 'keypoints'
    default_loss_weights = {'kps': 1.0, 'kp_heatmap': 1.0, 'kp_offset': 1.0}
    #: maps that hold logits: flip test-time augmentation should average them as probabilities
    #: (as CenterNet does for ``hm_hp``), like the center heatmap
    logit_maps = ('kp_heatmap',)
    companion = 'Box2DTask'

    def __init__(self, num_keypoints: int = 17, flip_pairs: Optional[Sequence[Sequence[int]]] = None,
                 kernel: Optional[dict] = None, hm_threshold: float = 0.1, snap_to_heatmap: bool = True,
                 heatmap_topk: int = 100, snap_distance: float = 0.3,
                 loss_weights: Optional[Dict[str, float]] = None, name: Optional[str] = None) -> None:
        super().__init__(name=name, loss_weights=loss_weights)
        if int(num_keypoints) < 1:
            raise ValueError(f'num_keypoints must be positive, got {num_keypoints}')
        self.num_keypoints = int(num_keypoints)
        self.maps = {'kps': 2 * self.num_keypoints, 'kp_heatmap': self.num_keypoints, 'kp_offset': 2}
        self.flip_pairs = None if flip_pairs is None else [list(map(int, p)) for p in flip_pairs]
        if self.flip_pairs is not None:
            flip_permutation(self.num_keypoints, self.flip_pairs)  # validate early
        self.kernel = build_kernel(kernel)
        if self.kernel(torch.ones(1, 2)).profile is not None:  # targets carry a Gaussian's inv_cov only
            raise ValueError(f'KeypointTask: the keypoint heatmap kernel must be a Gaussian, got '
                             f'{type(self.kernel).__name__} (a non-Gaussian profile); use e.g. CornerNetGaussian')
        self.hm_threshold = float(hm_threshold)
        self.snap_to_heatmap = bool(snap_to_heatmap)
        self.heatmap_topk = int(heatmap_topk)
        self.snap_distance = float(snap_distance)

    def init_branch(self, map_name: str, branch: nn.Sequential) -> None:
        if map_name == 'kp_heatmap':
            nn.init.constant_(branch[-1].bias, KP_HEATMAP_BIAS)
        else:
            super().init_branch(map_name, branch)

    # ------------------------------------------------------------------ targets
    def _keypoints(self, gt: InstanceData) -> Tensor:
        kps = self.field_or_nan(gt, 'keypoints', (self.num_keypoints, 3))
        if kps.dim() != 3 or kps.shape[1:] != (self.num_keypoints, 3):
            raise ValueError(f'{type(self).__name__} ({self.name}) expects keypoints of shape '
                             f'(M, {self.num_keypoints}, 3), got {tuple(kps.shape)}; set num_keypoints '
                             'to the dataset\'s keypoint count')
        return kps.to(torch.float32)

    def encode(self, gt: InstanceData, centers: Centers, grid: Grid) -> Dict[str, Tensor]:
        """Targets of M persons (grid cells).

        Returns:
            ``kps`` (M, 2K) and ``kps_weight`` (M, 2K); ``kp_cells`` (M, K, 2) int64 integer
            cells, ``kp_offset`` (M, K, 2) and ``kp_weight`` (M, K) of every keypoint;
            ``kp_radius`` (M, 2) int64 and ``kp_inv_cov`` (M, 3): the person's heatmap kernel;
            ``image_ignored`` (M,) bool: the row's image lacks the ``keypoints`` field;
            ``images_unannotated`` (B,) bool: the images lacking it (their keypoint heatmap adds
            no loss, whether or not they have a row on this head).
        """
        H, W = grid.shape
        kps = self._keypoints(gt)
        M, K = kps.shape[0], self.num_keypoints
        pts = kps[..., :2] / grid.stride
        vis = kps[..., 2]
        finite = torch.isfinite(pts).all(dim=-1) & torch.isfinite(vis)
        pts = torch.where(finite[..., None], pts, torch.zeros_like(pts))
        on_grid = (pts[..., 0] >= 0) & (pts[..., 0] < W) & (pts[..., 1] >= 0) & (pts[..., 1] < H)
        labeled = finite & on_grid & (torch.nan_to_num(vis) > 0) & centers.valid.view(-1, 1)
        # images that lack the field (all of them when no image of the batch has it)
        images_unannotated = ~self.annotated_images(gt, 'keypoints', grid.batch_size).to(kps.device)
        image_ignored = images_unannotated[gt.batch_idx]
        labeled &= ~image_ignored.view(-1, 1)
        pts = torch.where(labeled[..., None], pts, torch.zeros_like(pts))
        index = centers.cell_index(grid)  # the (clamped) peak cell that the decoder reads
        cell = torch.stack([index % W, torch.div(index, W, rounding_mode='floor')], dim=1)
        weight = labeled.to(torch.float32)
        kp_target = (pts - cell.view(M, 1, 2).to(pts.dtype)) * weight[..., None]
        kp_cells = torch.floor(pts).to(torch.int64)
        kernel = self.kernel(centers.sizes)
        return {
            'kps': kp_target.reshape(M, 2 * K),
            'kps_weight': weight.repeat_interleave(2, dim=1),
            'kp_cells': kp_cells,
            'kp_offset': (pts - kp_cells.to(pts.dtype)) * weight[..., None],
            'kp_weight': weight,
            'kp_radius': kernel.radius.to(kps.device),
            'kp_inv_cov': kernel.inv_cov.to(kps.device),
            'image_ignored': image_ignored,
            'images_unannotated': images_unannotated,
        }

    def render_heatmap(self, targets: Dict[str, Tensor], centers: Centers, grid: Grid,
                       device: Optional[torch.device] = None) -> Tensor:
        """(B, K, H, W) keypoint heatmap targets in [0, 1] (1 at every labeled keypoint's cell)."""
        weight = targets['kp_weight']
        M, K = weight.shape
        device = device if device is not None else weight.device
        sel = weight.reshape(-1) > 0
        person = torch.arange(M, device=weight.device).repeat_interleave(K)[sel]
        joint = torch.arange(K, device=weight.device).repeat(M)[sel]
        kernel = KernelShape(targets['kp_radius'][person].to(device), targets['kp_inv_cov'][person].to(device))
        return render_gaussians((grid.batch_size, K, *grid.shape), centers.batch_idx[person].to(device),
                                joint.to(device), targets['kp_cells'].reshape(-1, 2)[sel].to(device), kernel)

    def _heatmap_ignore(self, targets: Dict[str, Tensor], centers: Centers, grid: Grid,
                        device: torch.device) -> Tensor:
        """(B, 1, H, W) bool: cells whose keypoint heatmap loss is skipped (images without
        keypoint annotations; the extent of ignored persons)."""
        H, W = grid.shape
        B = grid.batch_size
        ignore = torch.zeros(B, H, W, dtype=torch.bool, device=device)
        missing = targets['images_unannotated'].to(device)  # (B,): also images without a row on this head
        ign = centers.ignore.to(device)
        if bool(ign.any()):
            xy, half = centers.xy[ign].to(device), centers.sizes[ign].to(device) / 2
            xs = torch.arange(W, device=device, dtype=xy.dtype) + 0.5
            ys = torch.arange(H, device=device, dtype=xy.dtype) + 0.5
            inside_x = (xs.view(1, -1) - xy[:, :1]).abs() <= half[:, :1]  # (M_ign, W)
            inside_y = (ys.view(1, -1) - xy[:, 1:]).abs() <= half[:, 1:]  # (M_ign, H)
            boxes = (inside_y[:, :, None] & inside_x[:, None, :]).to(torch.float32)
            per_image = torch.zeros(B, H, W, device=device).index_add_(0, centers.batch_idx[ign].to(device), boxes)
            ignore |= per_image > 0
        return (ignore | missing.view(B, 1, 1)).unsqueeze(1)

    def loss(self, preds: Dict[str, Tensor], targets: Dict[str, Tensor], centers: Centers,
             grid: Grid) -> Dict[str, Tensor]:
        heat_pred = preds['kp_heatmap']
        device = heat_pred.device
        heat = self.render_heatmap(targets, centers, grid, device)
        ignore = self._heatmap_ignore(targets, centers, grid, device).expand_as(heat) & (heat < 1)
        # kp_offset read at every keypoint's own cell
        H, W = grid.shape
        cells = targets['kp_cells'].to(device)
        cx = cells[..., 0].clamp(0, W - 1)
        cy = cells[..., 1].clamp(0, H - 1)
        flat = (centers.batch_idx.to(device).view(-1, 1) * (H * W) + cy * W + cx).reshape(-1)
        off_pred = preds['kp_offset'].permute(0, 2, 3, 1).reshape(-1, 2)[flat]
        return self.weighted({
            'kps': weighted_l1_loss(centers.gather(preds['kps'], grid), targets['kps'].to(device),
                                    targets['kps_weight'].to(device)),
            'kp_heatmap': penalty_reduced_focal_loss(heat_pred, heat, ignore=ignore),
            'kp_offset': weighted_l1_loss(off_pred, targets['kp_offset'].reshape(-1, 2).to(device),
                                          targets['kp_weight'].reshape(-1).to(device)),
        })

    def perfect_maps(self, targets: Dict[str, Tensor], centers: Centers, grid: Grid) -> Dict[str, Tensor]:
        """What a perfect network outputs: ``kps`` at each valid person's peak cell,
        ``kp_offset`` at each labeled keypoint's cell (zeros elsewhere), and ``kp_heatmap``
        as *logits* of the rendered targets (clamped to [1e-6, 1 - 1e-6])."""
        H, W = grid.shape
        B = grid.batch_size
        device = centers.xy.device
        valid = centers.valid
        kps = torch.zeros(B * H * W, 2 * self.num_keypoints, device=device)
        kps[centers.batch_idx[valid] * (H * W) + centers.cell_index(grid)[valid]] = targets['kps'][valid].to(kps.dtype)
        sel = targets['kp_weight'].reshape(-1) > 0
        cells = targets['kp_cells'].reshape(-1, 2)[sel]
        bidx = centers.batch_idx.repeat_interleave(self.num_keypoints)[sel]
        offset = torch.zeros(B * H * W, 2, device=device)
        offset[bidx * (H * W) + cells[:, 1] * W + cells[:, 0]] = targets['kp_offset'].reshape(-1, 2)[sel]
        heat = self.render_heatmap(targets, centers, grid, device)
        return {'kps': kps.view(B, H, W, -1).permute(0, 3, 1, 2).contiguous(),
                'kp_heatmap': torch.logit(heat.clamp(1e-6, 1 - 1e-6)),
                'kp_offset': offset.view(B, H, W, 2).permute(0, 3, 1, 2).contiguous()}

    # ------------------------------------------------------------------ flip TTA
    def flip_output_maps(self, maps: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Mirror the maps of a horizontally flipped input back to the original orientation.

        ``kp_heatmap``: spatial flip along W and the channels of each flip pair swapped.
        ``kps``: spatial flip, joints of each pair swapped, and x mapped to ``1 - x``: cell
        ``c`` mirrors to cell ``W - 1 - c`` while a point ``x`` mirrors to ``W - x`` (cell
        ``c`` covers ``[c, c + 1)``), so an offset ``x`` from the mirrored cell's corner is
        ``1 - x`` from the original's (exact wherever the person's center is not on a cell
        boundary; plain negation would be off by one cell). ``kp_offset`` is left out, as the
        base class asks of sub-cell offsets (its mirror would be ``1 - x`` at the same cells).

        Raises:
            ValueError: the task has no ``flip_pairs`` (pass ``flip_pairs=[]`` for a keypoint
                set without left/right pairs).
        """
        self.check_flip_support()
        perm = flip_permutation(self.num_keypoints, self.flip_pairs)
        heat = maps['kp_heatmap'].flip(-1)[:, perm]
        B, _, H, W = maps['kps'].shape
        kps = maps['kps'].flip(-1).view(B, self.num_keypoints, 2, H, W)[:, perm]
        kps = torch.stack([1 - kps[:, :, 0], kps[:, :, 1]], dim=2).reshape(B, 2 * self.num_keypoints, H, W)
        return {'kp_heatmap': heat, 'kps': kps}

    def check_flip_support(self) -> None:
        """Raise when the task has no ``flip_pairs`` (flip TTA must swap left/right joints back).

        Raises:
            ValueError: ``flip_pairs`` is None, saying to set it in the task's config.
        """
        super().check_flip_support()
        if self.flip_pairs is None:
            raise ValueError(f'{type(self).__name__} ({self.name!r}) has no flip_pairs, which flip test-time '
                             'augmentation needs to swap left/right joints back; set flip_pairs in its config '
                             '(flip_pairs=[] for a keypoint set without left/right pairs)')

    # ------------------------------------------------------------------ decoding
    def _heatmap_peaks(self, preds: Dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Per-joint top-K local maxima: scores (B, K, P) and positions (B, K, P, 2) in grid cells."""
        heat = torch.sigmoid(preds['kp_heatmap'])
        B, K, H, W = heat.shape
        heat = heat * (local_max(heat) == heat).to(heat.dtype)
        topk = min(self.heatmap_topk, H * W)
        scores, index = torch.topk(heat.reshape(B, K, H * W), topk)
        off = preds['kp_offset'].reshape(B, 2, H * W).gather(
            2, index.reshape(B, 1, K * topk).expand(B, 2, K * topk)).reshape(B, 2, K, topk)
        ys = torch.div(index, W, rounding_mode='floor')
        xs = index - ys * W
        xy = torch.stack([xs.to(off.dtype) + off[:, 0], ys.to(off.dtype) + off[:, 1]], dim=-1)
        return scores, xy

    def example_metainfo(self) -> Dict[str, Any]:
        """The task's own ``flip_pairs``, which the keypoint annotation kind swaps under a mirror."""
        return {} if self.flip_pairs is None else {'flip_pairs': self.flip_pairs}

    def example_gt(self, num: int, image_shape, generator: torch.Generator) -> Dict[str, Tensor]:
        """Persons side by side (one column of the image each), every keypoint labeled, inside its
        box and in a cell of its own (two joints in one 4-px cell would share a sub-cell offset,
        the documented limit of the shared ``kp_offset`` map): joints sit at the centers of a
        4-px lattice, jittered by at most 0.2 px, so they are over 3.6 px apart along x or y and
        stay in separate cells when a test upscales the image by 1.25 (the letterbox round trip)."""
        H, W = image_shape
        cell = 4.0
        col_w = W / max(num, 1)
        cols, rows = int(col_w // cell) - 1, int(H * 0.75 // cell)
        if num and cols * rows < self.num_keypoints:
            raise ValueError(f'{num} persons of {self.num_keypoints} keypoints do not fit a {W}x{H} image')
        boxes, kpts = [], []
        for i in range(num):
            x0, y0 = math.ceil(i * col_w / cell) * cell, math.ceil(H * 0.1 / cell) * cell  # cell-aligned
            picks = torch.randperm(cols * rows, generator=generator)[:self.num_keypoints]
            jitter = (torch.rand(self.num_keypoints, 2, generator=generator) - 0.5) * 0.1 * cell
            xy = torch.stack([x0 + (picks % cols + 0.5) * cell, y0 + (picks // cols + 0.5) * cell], 1) + jitter
            kpts.append(torch.cat([xy, torch.full((self.num_keypoints, 1), 2.0)], dim=1))
            boxes.append(torch.tensor([x0, y0, x0 + cols * cell, y0 + rows * cell]))
        if not num:
            return {'bboxes': torch.zeros(0, 4), 'keypoints': torch.zeros(0, self.num_keypoints, 3)}
        return {'bboxes': torch.stack(boxes), 'keypoints': torch.stack(kpts)}

    def roundtrip_error(self, decoded: Dict[str, Tensor], gt: InstanceData) -> Tensor:
        """Largest distance in pixels between decoded and labeled ground-truth keypoints."""
        labeled = gt.keypoints[..., 2] > 0
        dist = (decoded['keypoints'][..., :2] - gt.keypoints[..., :2].to(decoded['keypoints'].dtype)).norm(dim=-1)
        return torch.where(labeled, dist, torch.zeros_like(dist)).max(dim=1).values

    def decode(self, preds: Dict[str, Tensor], peaks: Peaks, ctx: DecodeContext) -> Dict[str, Tensor]:
        B, D = peaks.xs.shape
        K = self.num_keypoints
        stride, inv = ctx.grid.stride, ctx.inverse_affine
        kps = gather_at_peaks(preds['kps'], peaks).reshape(B, D, K, 2)
        cell = torch.stack([peaks.xs, peaks.ys], dim=-1).to(kps.dtype)
        reg = grid_to_image((kps + cell[:, :, None, :]).reshape(B, D * K, 2), stride, inv).reshape(B, D, K, 2)
        person_score = peaks.scores[:, :, None].expand(B, D, K).to(reg.dtype)
        xy, score = reg, person_score
        if self.snap_to_heatmap:
            hm_score, hm_xy = self._heatmap_peaks(preds)
            P = hm_score.shape[-1]
            hm_xy = grid_to_image(hm_xy.reshape(B, K * P, 2), stride, inv).reshape(B, 1, K, P, 2)
            dist = torch.sqrt(((reg[:, :, :, None, :] - hm_xy) ** 2).sum(-1))  # (B, D, K, P)
            strong = (hm_score > self.hm_threshold)[:, None]
            dist = torch.where(strong, dist, torch.full_like(dist, 1e12))
            best_dist, best = dist.min(dim=-1)  # (B, D, K)
            snapped = hm_xy.expand(B, D, K, P, 2).gather(3, best[..., None, None].expand(B, D, K, 1, 2)).squeeze(3)
            snapped_score = hm_score[:, None].expand(B, D, K, P).gather(3, best[..., None]).squeeze(3)
            if 'bboxes' in ctx.decoded:
                box = ctx.decoded['bboxes'].to(reg.dtype)
                lo, hi = box[..., None, :2], box[..., None, 2:]
            else:
                lo, hi = reg.min(dim=2, keepdim=True).values, reg.max(dim=2, keepdim=True).values
            inside = ((snapped >= lo) & (snapped <= hi)).all(dim=-1)
            limit = self.snap_distance * (hi - lo).max(dim=-1).values  # (B, D, 1)
            use = inside & (best_dist < limit) & (snapped_score > self.hm_threshold)
            xy = torch.where(use[..., None], snapped, reg)
            score = torch.where(use, snapped_score.to(reg.dtype), person_score)
        out = torch.cat([xy, score[..., None]], dim=-1)
        return {'keypoints': self._unmirror(out, ctx)}

    def _unmirror(self, keypoints: Tensor, ctx: DecodeContext) -> Tensor:
        """Swap the joints of flip pairs back in images whose ``inverse_affine`` mirrors."""
        lin = ctx.inverse_affine[:, :2, :2]
        mirrored = (lin[:, 0, 0] * lin[:, 1, 1] - lin[:, 0, 1] * lin[:, 1, 0]) < 0  # (B,)
        pairs = self.flip_pairs
        if pairs is None:
            if not torch.jit.is_tracing() and bool(mirrored.any()):
                raise ValueError(f'{type(self).__name__} ({self.name}): an input is mirrored, so its '
                                 'left/right joints must be swapped back, but no flip_pairs are known; '
                                 'pass flip_pairs to the task (flip_pairs=[] when there are none)')
            return keypoints
        perm = flip_permutation(self.num_keypoints, pairs)
        if perm == list(range(self.num_keypoints)):
            return keypoints
        return torch.where(mirrored.view(-1, 1, 1, 1), keypoints[:, :, perm], keypoints)
