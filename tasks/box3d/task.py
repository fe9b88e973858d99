"""Monocular 3D boxes (CenterNet ``ddd`` / SMOKE): projected-center offset, depth, size and
observation angle regressed at each object's peak, lifted to the camera frame by the
image's intrinsics."""
from __future__ import annotations

import math
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.structures import InstanceData
from torch import Tensor

from centerx.decode import Peaks, gather_at_peaks
from centerx.losses import weighted_l1_loss
from centerx.registry import TASKS
from centerx.structures import ImageMeta
from centerx.task import Centers, DecodeContext, Grid, Task
from centerx.tta import box_iou

from .camera import alpha_to_yaw, boxes3d_to_rects, mirror_boxes3d, project_points, unproject, yaw_to_alpha
from .camera_meta import CAMERA_INPUT, CameraMeta, input_cam2img
from .class_stats import mean_size_table
from .codecs import EXP_CLAMP, DepthCodec, OrientationCodec, weighted_ce
from .extras import attribute_targets, velocity_targets

CENTER_MODES = ('projected', 'box2d')


@TASKS.register_module()
class Box3DTask(Task):
    """3D boxes ``(x, y, z, l, h, w, yaw)`` in the camera frame, regressed at 2D peaks.

    Ground truth (per object): ``boxes3d`` (M, 7) camera-frame boxes (gravity center, see
    :mod:`centerx_tasks.box3d.camera` for the convention), optionally ``bboxes`` (M, 4) xyxy
    2D boxes in network-input pixels, ``velocities`` (M, 2) and ``attr_labels`` (M,).
    The camera of image ``i`` is its :class:`~centerx_tasks.box3d.camera_meta.CameraMeta`
    (``grid.metas[i].task_meta(CameraMeta)``), moved to network-input pixels (flip included)
    by :meth:`~centerx_tasks.box3d.camera_meta.CameraMeta.input_cam2img`.

    Peak (``center='projected'``, SMOKE): the
    projection of the 3D center ``(x, y, z)``. ``center='box2d'`` (CenterNet ``ddd``): the
    center of the 2D box (visible for truncated objects); the offset map then carries
    the projected 3D center relative to that peak cell and may leave ``[0, 1)``.
    The kernel spreads over the 2D box clipped to the grid when ``bboxes`` are
    present, else over the clipped rectangle enclosing the projected 3D corners.

    Exclusion rule (no peak, no regression loss, and no ignore mask either): an object
    whose box is non-finite or has a non-positive size; an object whose center is
    at ``z <= min_depth`` (behind or at the camera, ``exclusions['behind_camera']``); and,
    with ``center='projected'``, an object whose projected center falls outside the
    network input ``[0, W) x [0, H)`` (``exclusions['outside_image']``; with ``'box2d'``
    this counts objects without a visible 2D box). Counts of the last :meth:`centers`
    call are in :attr:`exclusions` (for logging). Ignored objects (``ignore``) that
    would place a peak mask their neighbourhood as usual.

    Targets at the peak cell the head chose (from this task's own ``boxes3d``, the encode rule
    of :class:`~centerx.task.Task`; the codecs are in :mod:`centerx_tasks.box3d.codecs`):

    - ``offset`` (2): projected center (grid cells) - peak cell;
    - ``depth`` (1): encoded ``z`` (:class:`~centerx_tasks.box3d.codecs.DepthCodec`:
      ``'inverse_sigmoid'`` CenterNet, ``'log'``, or ``'linear'`` SMOKE with ``depth_ref``);
    - ``dims`` (3): ``log((l, h, w) / mean[class])``, mean sizes per head class;
    - ``rot``: the observation angle ``alpha = yaw - atan2(x, z)``, ``(sin, cos)`` or
      CenterNet's two bins (:class:`~centerx_tasks.box3d.codecs.OrientationCodec`);
    - optional ``velocity`` (2, ``velocity=True``): camera-frame ``(vx, vz)`` m/s;
    - optional ``attr`` (``num_attributes`` logits): attribute class.

    Losses (CenterNet ``ddd`` weights 1 by default): L1 on offset, on the *decoded* depth
    in meters (CenterNet; ``depth_loss='encoded'`` for L1 on the map value), on dims
    and on (sin, cos) (multibin: cross-entropy on the bins + L1 on the residual of each
    active bin); L1 on known velocities, cross-entropy on known attributes.

    Decoded: ``boxes3d`` (B, K, 7) in the *original* camera frame (lifted with the input
    camera, then mirrored back for flipped images); ``velocities`` (B, K, 2) and
    ``attr_labels`` / ``attr_scores`` (B, K) when enabled. Round trip: exact up to float
    rounding (the offset restores the sub-cell projected center). The decoder reads the
    cameras from ``ctx.task_inputs['input_cam2img']`` (B, 3, 3) and ``ctx.flipped`` (B,) when
    the context carries them (export: cameras become graph inputs), else from the
    ``CameraMeta`` of ``ctx.metas``.
    Flip test-time augmentation: :meth:`flip_output_maps`; multi-scale: NMS / soft-NMS of the
    boxes' 2D projections (:meth:`tta_overlap`).

    Classes: the head hands its class names to the task (:meth:`bind_classes`) and the ``dims``
    codec takes the mean size of exactly those classes, by name; building the head raises
    ``ValueError`` naming any class that has no mean size (give it in ``mean_sizes``).
    ``encode`` raises on a label outside the head's channels.

    Args:
        classes: only for a task used outside a head (tests, tools): bind these class names
            now. On a head it may be left out (the head hands its own); when given it must
            equal the head's classes.
        mean_sizes: class name -> mean (l, h, w) m; default the nuScenes means
            (:data:`~centerx_tasks.box3d.class_stats.NUSCENES_MEAN_SIZES`).
        depth_encoding, depth_ref, center, orientation: see above.
        min_depth: objects with ``z <= min_depth`` (m) place no peak.
        depth_loss: ``'decoded'`` (meters) or ``'encoded'`` (map space).
        velocity: regress ``velocities``.
        num_attributes: regress ``attr_labels`` with this many classes (0: off).
        name, loss_weights: see :class:`~centerx.task.Task` (terms ``offset``, ``depth``,
            ``dims``, ``rot``, ``velocity``, ``attr``).
    """

    maps = {'offset': 2, 'depth': 1, 'dims': 3, 'rot': 2}
    requires = ('boxes3d',)
    provides = ('boxes3d',)
    default_name = 'box3d'
    default_loss_weights = {'offset': 1.0, 'depth': 1.0, 'dims': 1.0, 'rot': 1.0, 'velocity': 1.0, 'attr': 1.0}

    def __init__(self, classes: Optional[Sequence[str]] = None,
                 mean_sizes: Optional[Dict[str, Sequence[float]]] = None,
                 depth_encoding: str = 'inverse_sigmoid', depth_ref: Tuple[float, float] = (28.01, 16.32),
                 center: str = 'projected', orientation: str = 'sincos', min_depth: float = 0.1,
                 depth_loss: str = 'decoded', velocity: bool = False, num_attributes: int = 0,
                 name: Optional[str] = None, loss_weights: Optional[Dict[str, float]] = None) -> None:
        super().__init__(name=name, loss_weights=loss_weights)
        for arg, value, allowed in (('center', center, CENTER_MODES),
                                    ('depth_loss', depth_loss, ('decoded', 'encoded'))):
            if value not in allowed:
                raise ValueError(f'Box3DTask: {arg} must be one of {allowed}, got {value!r}')
        if num_attributes < 0:
            raise ValueError(f'Box3DTask: num_attributes must be >= 0, got {num_attributes}')
        self.depth_codec = DepthCodec(depth_encoding, depth_ref)
        self.rot_codec = OrientationCodec(orientation)
        self.depth_encoding, self.depth_ref = depth_encoding, self.depth_codec.ref
        self.center, self.orientation = center, orientation
        self.min_depth, self.depth_loss = float(min_depth), depth_loss
        self.velocity, self.num_attributes = bool(velocity), int(num_attributes)
        self._mean_size_config = None if mean_sizes is None else dict(mean_sizes)
        self.register_buffer('_mean_sizes', None, persistent=False)
        if classes is not None:
            self.bind_classes(classes)
        maps = {'offset': 2, 'depth': 1, 'dims': 3, 'rot': self.rot_codec.channels}
        provides = ['boxes3d']
        if self.velocity:
            maps['velocity'] = 2
            provides.append('velocities')
        if self.num_attributes:
            maps['attr'] = self.num_attributes
            provides += ['attr_labels', 'attr_scores']
        self.maps = maps
        self.provides = tuple(provides)
        self._exclusions: Dict[str, Tensor] = {}

    # ------------------------------------------------------------------ classes and codecs
    def bind_classes(self, classes: Sequence[str]) -> None:
        """Take the mean sizes of the head's classes (raises ``ValueError`` naming a class that
        has none, or when the task was already bound to other classes)."""
        classes = tuple(classes)
        if self.classes is not None and self.classes != classes:
            raise ValueError(f'{type(self).__name__} ({self.name}) was given classes={list(self.classes)} but '
                             f'its head has classes {list(classes)}; leave classes out of the task config '
                             '(the head hands its own)')
        try:
            table = mean_size_table(classes, self._mean_size_config)
        except ValueError as err:
            raise ValueError(f'{type(self).__name__} ({self.name}): {err}') from err
        super().bind_classes(classes)
        self._mean_sizes = table

    @property
    def mean_sizes(self) -> Tensor:
        """(C, 3) mean ``(l, h, w)`` of the bound classes, in channel order."""
        if self._mean_sizes is None:
            raise RuntimeError(f'{type(self).__name__} ({self.name}) has no classes yet: put it on a head '
                               '(which hands it its classes) or pass classes=... when using it alone')
        return self._mean_sizes

    def encode_depth(self, depth: Tensor) -> Tensor:
        """Map value whose :meth:`decode_depth` is ``depth`` (see :class:`~.codecs.DepthCodec`)."""
        return self.depth_codec.encode(depth)

    def decode_depth(self, value: Tensor) -> Tensor:
        """Depth in meters from the map value."""
        return self.depth_codec.decode(value)

    def encode_dims(self, dims: Tensor, labels: Tensor) -> Tensor:
        """``log(dims / mean[labels])`` for (M, 3) sizes and (M,) head labels."""
        return torch.log(dims / self.mean_sizes[labels])

    def decode_dims(self, value: Tensor, labels: Tensor) -> Tensor:
        """``exp(value) * mean[labels]`` for (..., 3) values and (...) head labels."""
        return torch.exp(value.clamp(-EXP_CLAMP, EXP_CLAMP)) * self.mean_sizes[labels]

    def encode_alpha(self, alpha: Tensor) -> Tensor:
        """(M,) observation angles -> (M, 2) or (M, 8) rot targets (:class:`~.codecs.OrientationCodec`)."""
        return self.rot_codec.encode(alpha)

    def decode_alpha(self, rot: Tensor) -> Tensor:
        """(..., C) rot map values -> (...) observation angle in ``[-pi, pi)``."""
        return self.rot_codec.decode(rot)

    def _checked_labels(self, labels: Tensor) -> Tensor:
        """(M,) head labels, after checking each indexes a bound class."""
        num = len(self.mean_sizes)
        bad = (labels < 0) | (labels >= num)
        if bool(bad.any()):
            raise ValueError(f'{type(self).__name__} ({self.name}): labels {sorted(set(labels[bad].tolist()))} '
                             f'are outside the head\'s {num} classes {list(self.classes)}')
        return labels

    # ------------------------------------------------------------------ geometry
    @property
    def exclusions(self) -> Dict[str, int]:
        """Objects excluded by the rule in the last :meth:`centers` call:
        ``{'behind_camera': n, 'outside_image': n}`` (logging only)."""
        return {k: int(v) for k, v in self._exclusions.items()}

    def _cam2img_rows(self, gt: InstanceData, grid: Grid, needed: Tensor) -> Tensor:
        """(M, 3, 3) float32 input intrinsics of each object's image (NaN for images whose
        objects are not ``needed``: they have no usable 3D box).

        Raises:
            ValueError: ``grid.metas`` lacks images whose objects need a camera.
            LookupError: an image with a usable 3D box carries no CameraMeta (naming the image).
        """
        M = len(gt.batch_idx)
        device = gt.batch_idx.device
        metas = list(getattr(grid, 'metas', None) or [])
        if len(metas) < grid.batch_size:
            if M and bool(needed.any()):
                raise ValueError(f'{type(self).__name__} needs the camera of every image: grid.metas has '
                                 f'{len(metas)} ImageMeta for a batch of {grid.batch_size}')
            return torch.full((M, 3, 3), float('nan'), device=device)
        with_boxes = set(gt.batch_idx[needed].tolist())
        for i in sorted(with_boxes):
            metas[i].task_meta(CameraMeta)  # raises, naming the image, when it has 3D boxes but no camera
        mats = np.stack([input_cam2img(m) if m.find_task_meta(CameraMeta) is not None
                         else np.full((3, 3), np.nan) for m in metas[:grid.batch_size]])
        return torch.as_tensor(mats, dtype=torch.float32, device=device)[gt.batch_idx]

    def _geometry(self, gt: InstanceData, grid: Grid) -> Dict[str, Tensor]:
        """Per-object camera geometry shared by :meth:`centers` and :meth:`encode`."""
        boxes = self.field_or_nan(gt, 'boxes3d', (7,)).to(torch.float32).reshape(-1, 7)
        usable = torch.isfinite(boxes).all(dim=1) & (boxes[:, 3:6] > 0).all(dim=1)
        usable &= self.annotated_images(gt, 'boxes3d', grid.batch_size)[gt.batch_idx]
        K = self._cam2img_rows(gt, grid, usable)
        usable &= torch.isfinite(K).flatten(1).all(dim=1)
        in_front = usable & (boxes[:, 2] > self.min_depth)
        default = boxes.new_tensor([0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0])
        safe = torch.where(in_front[:, None], boxes, default)
        eye = torch.eye(3, device=boxes.device, dtype=K.dtype)
        K = torch.where(in_front[:, None, None], K, eye)
        uv = project_points(safe[:, :3], K) / grid.stride  # grid cells
        in_front &= torch.isfinite(uv).all(dim=1)
        return {'boxes': safe, 'usable': usable, 'in_front': in_front, 'uv': uv, 'K': K}

    def _rects(self, gt: InstanceData, geo: Dict[str, Tensor], grid: Grid) -> Tuple[Tensor, Tensor]:
        """(M, 4) rectangles in grid cells clipped to the grid (2D box when known, else the
        projected 3D box) and (M,) whether the 2D box was known."""
        rect = boxes3d_to_rects(geo['boxes'], geo['K'], self.min_depth) / grid.stride
        has2d = torch.zeros_like(geo['usable'])
        if 'bboxes' in gt:
            bb = gt.bboxes.to(torch.float32).reshape(-1, 4) / grid.stride
            has2d = torch.isfinite(bb).all(dim=1) & (bb[:, 2] > bb[:, 0]) & (bb[:, 3] > bb[:, 1])
            has2d &= self.annotated_images(gt, 'bboxes', grid.batch_size)[gt.batch_idx]
            rect = torch.where(has2d[:, None], torch.nan_to_num(bb), rect)
        rect = torch.nan_to_num(rect)
        H, W = grid.shape
        x = rect[:, 0::2].clamp(0, W)
        y = rect[:, 1::2].clamp(0, H)
        return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=1), has2d

    # ------------------------------------------------------------------ the task contract
    def centers(self, gt: InstanceData, grid: Grid) -> Centers:
        H, W = grid.shape
        geo = self._geometry(gt, grid)
        rect, has2d = self._rects(gt, geo, grid)
        sizes = torch.stack([rect[:, 2] - rect[:, 0], rect[:, 3] - rect[:, 1]], dim=1)
        if self.center == 'projected':
            xy = geo['uv']
            on_image = (xy[:, 0] >= 0) & (xy[:, 0] < W) & (xy[:, 1] >= 0) & (xy[:, 1] < H)
        else:
            xy = torch.stack([(rect[:, 0] + rect[:, 2]) / 2, (rect[:, 1] + rect[:, 3]) / 2], dim=1)
            on_image = (sizes > 0).all(dim=1)
        placed = geo['in_front'] & on_image
        ignore = gt.ignore.to(torch.bool) & placed
        self._exclusions = {
            'behind_camera': (geo['usable'] & ~geo['in_front']).sum().detach(),
            'outside_image': (geo['in_front'] & ~on_image).sum().detach(),
        }
        return Centers(batch_idx=gt.batch_idx, labels=gt.labels, xy=xy, sizes=sizes,
                       valid=placed & ~ignore, ignore=ignore)

    def encode(self, gt: InstanceData, centers: Centers, grid: Grid) -> Dict[str, Tensor]:
        """Targets from this task's own ``boxes3d`` at the peak cells the head chose: the offset
        reaches from that cell to the projected 3D center; an object has targets when it has a
        peak and its box is usable and in front of the camera."""
        geo = self._geometry(gt, grid)
        offset, weight = self.at_peaks(geo['uv'], geo['in_front'], centers, grid)
        valid = weight > 0
        boxes = geo['boxes']
        labels = self._checked_labels(gt.labels)
        alpha = yaw_to_alpha(boxes[:, 6], boxes[:, 0], boxes[:, 2])
        vmask = valid[:, None]
        targets = {
            'offset': offset,
            'depth': torch.where(vmask, self.encode_depth(boxes[:, 2:3]), torch.zeros_like(boxes[:, 2:3])),
            'depth_m': boxes[:, 2:3],
            'dims': torch.where(vmask, self.encode_dims(boxes[:, 3:6], labels), torch.zeros_like(boxes[:, 3:6])),
            'rot': self.encode_alpha(alpha),
            'alpha': alpha,
            'weight': weight,
        }
        if self.velocity:
            targets.update(velocity_targets(
                gt, valid, self.annotated_images(gt, 'velocities', grid.batch_size)[gt.batch_idx]))
        if self.num_attributes:
            targets.update(attribute_targets(
                gt, valid, self.num_attributes, self.annotated_images(gt, 'attr_labels', grid.batch_size)[gt.batch_idx]))
        return targets

    def loss(self, preds: Dict[str, Tensor], targets: Dict[str, Tensor], centers: Centers,
             grid: Grid) -> Dict[str, Tensor]:
        weight = targets['weight']

        def at(name: str) -> Tensor:
            return centers.gather(preds[name], grid)

        if self.depth_loss == 'decoded':
            depth = weighted_l1_loss(self.decode_depth(at('depth')), targets['depth_m'], weight)
        else:
            depth = weighted_l1_loss(at('depth'), targets['depth'], weight)
        losses = {
            'offset': weighted_l1_loss(at('offset'), targets['offset'], weight),
            'depth': depth,
            'dims': weighted_l1_loss(at('dims'), targets['dims'], weight),
            'rot': self.rot_codec.loss(at('rot'), targets['rot'], weight),
        }
        if self.velocity:
            losses['velocity'] = weighted_l1_loss(at('velocity'), targets['velocity'], targets['velocity_weight'])
        if self.num_attributes:
            losses['attr'] = weighted_ce(at('attr'), targets['attr_index'], targets['attr_weight'])
        return self.weighted(losses)

    def flip_output_maps(self, maps: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Maps of a mirrored input, mirrored back (flip test-time augmentation).

        The mirrored image shows the mirrored scene (``x -> -x``): depth, sizes and
        attributes are unchanged; ``alpha -> pi - alpha``, so (sin, cos) -> (sin, -cos), and
        each multibin residual ``r -> -r`` (both bins map onto themselves), so its sin
        changes sign; ``vx -> -vx``. Offsets are left out (the base class's rule).
        """
        out = {'depth': maps['depth'].flip(-1), 'dims': maps['dims'].flip(-1)}
        rot = maps['rot'].flip(-1)
        out['rot'] = rot * self.rot_codec.mirror_signs(rot).view(1, -1, 1, 1)
        if self.velocity:
            vel = maps['velocity'].flip(-1)
            out['velocity'] = vel * vel.new_tensor([-1.0, 1.0]).view(1, 2, 1, 1)
        if self.num_attributes:
            out['attr'] = maps['attr'].flip(-1)
        return out

    def tta_overlap(self, dets: InstanceData, meta: ImageMeta) -> Tensor:
        """Multi-scale merge: NMS of the 2D projections, the overlap being the IoU of the
        rectangles enclosing each box's projected corners in the original image (its
        :class:`~centerx_tasks.box3d.camera_meta.CameraMeta`); two boxes that one camera sees
        in the same place are the same object."""
        boxes = dets.boxes3d
        K = torch.as_tensor(meta.task_meta(CameraMeta).cam2img, dtype=boxes.dtype, device=boxes.device)
        rects = boxes3d_to_rects(boxes, K, self.min_depth)
        return box_iou(rects, rects)

    def example_meta(self, image_shape) -> Dict[str, Any]:
        """A pinhole camera with a 90-degree horizontal field of view centered on the image."""
        H, W = image_shape
        k = np.array([[W / 2.0, 0.0, W / 2.0], [0.0, W / 2.0, H / 2.0], [0.0, 0.0, 1.0]])
        return {'task_metas': (CameraMeta(cam2img=k),)}

    def example_gt(self, num: int, image_shape, generator: torch.Generator) -> Dict[str, Tensor]:
        """Boxes of the class-mean sizes at 8-40 m in front of the camera, centers in view, any yaw."""
        H, W = image_shape
        z = torch.rand(num, generator=generator) * 32 + 8
        # projected center inside the middle 80 % of the image: x = (u - cx) z / f
        u = (torch.rand(num, generator=generator) * 0.8 + 0.1) * W
        v = (torch.rand(num, generator=generator) * 0.4 + 0.4) * H
        x = (u - W / 2.0) * z / (W / 2.0)
        y = (v - H / 2.0) * z / (W / 2.0)
        sizes = self.mean_sizes.to(torch.float32).cpu()
        lhw = sizes[torch.randint(0, len(sizes), (num,), generator=generator)] if num else torch.zeros(0, 3)
        yaw = (torch.rand(num, generator=generator) * 2 - 1) * math.pi
        return {'boxes3d': torch.cat([torch.stack([x, y, z], 1), lhw, yaw[:, None]], dim=1)}

    def roundtrip_error(self, decoded: Dict[str, Tensor], gt: InstanceData) -> Tensor:
        """Largest of: center distance (m), yaw difference (rad, mod 2π), relative size error.

        Sizes are exact only when the gt label's mean size was used, so the test compares
        the decoded size with the ground truth's own size."""
        a, b = decoded['boxes3d'], gt.boxes3d.to(decoded['boxes3d'].dtype)
        center = (a[:, :3] - b[:, :3]).norm(dim=1)
        yaw = torch.remainder(a[:, 6] - b[:, 6] + math.pi, 2 * math.pi) - math.pi
        size = ((a[:, 3:6] - b[:, 3:6]).abs() / b[:, 3:6]).max(dim=1).values
        return torch.stack([center, yaw.abs(), size], dim=1).max(dim=1).values

    def decode(self, preds: Dict[str, Tensor], peaks: Peaks, ctx: DecodeContext) -> Dict[str, Tensor]:
        offset = gather_at_peaks(preds['offset'], peaks)
        dtype = offset.dtype
        stride = ctx.grid.stride
        uv = torch.stack([(peaks.xs.to(dtype) + offset[..., 0]) * stride,
                          (peaks.ys.to(dtype) + offset[..., 1]) * stride], dim=-1)  # input pixels
        depth = self.decode_depth(gather_at_peaks(preds['depth'], peaks)[..., 0])
        K, flipped = self._decode_cameras(ctx, uv.shape[0], uv.device, dtype)
        xyz = unproject(uv, depth, K[:, None])
        dims = self.decode_dims(gather_at_peaks(preds['dims'], peaks), peaks.labels)
        alpha = self.decode_alpha(gather_at_peaks(preds['rot'], peaks))
        yaw = alpha_to_yaw(alpha, xyz[..., 0], xyz[..., 2])
        boxes = torch.cat([xyz, dims, yaw.unsqueeze(-1)], dim=-1)
        flip = flipped[:, None, None]
        out = {'boxes3d': torch.where(flip, mirror_boxes3d(boxes), boxes)}
        if self.velocity:
            vel = gather_at_peaks(preds['velocity'], peaks)
            out['velocities'] = torch.where(flip, vel * vel.new_tensor([-1.0, 1.0]), vel)
        if self.num_attributes:
            probs = torch.softmax(gather_at_peaks(preds['attr'], peaks), dim=-1)
            scores, labels = probs.max(dim=-1)
            out['attr_labels'] = labels
            out['attr_scores'] = scores
        return out

    def decode_inputs(self, metas: Sequence[ImageMeta]) -> Dict[str, Tensor]:
        """``{'input_cam2img': (B, 3, 3) float32}``: each image's network-input intrinsics."""
        return {CAMERA_INPUT: torch.as_tensor(np.stack([input_cam2img(m) for m in metas]), dtype=torch.float32)}

    def _decode_cameras(self, ctx: DecodeContext, batch_size: int, device: torch.device,
                        dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
        """(B, 3, 3) input intrinsics and (B,) flipped flags: from ``ctx.task_inputs['input_cam2img']``
        / ``ctx.flipped`` when the context carries them (export), else from ``ctx.metas``."""
        K = ctx.task_inputs.get(CAMERA_INPUT)
        flipped = getattr(ctx, 'flipped', None)
        if K is None or flipped is None:
            metas = list(ctx.metas or [])
            if len(metas) != batch_size:
                raise ValueError(f'Box3DTask.decode needs the camera of every image: ctx.metas has '
                                 f'{len(metas)} ImageMeta for a batch of {batch_size}')
            if K is None:
                K = self.decode_inputs(metas)[CAMERA_INPUT]
            if flipped is None:
                flipped = torch.as_tensor([bool(m.flipped) for m in metas], device=device)
        return K.to(device=device, dtype=dtype), flipped.to(device=device, dtype=torch.bool)

