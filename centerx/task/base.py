"""The task plugin contract.

A task is an attribute family regressed at center peaks. It declares the output maps
it needs (``maps``) and the ground-truth fields it reads (``requires``), and supplies
pure, separately testable pieces:

- ``centers`` (only for a task that places peaks): where each object peaks and how
  the peak spreads;
- ``encode``: per-object regression targets at those centers;
- ``loss``: named losses (``loss_<term>``) from the maps and the targets;
- ``decode``: attributes at heatmap peaks, in original-image coordinates.

Encoders and decoders are vectorized tensor functions (no per-object Python loops).

Where a task may sit on a head
------------------------------
One task of a head (its ``center_task``, by default the first that can) places the peaks;
every other task of the head is an *attribute* task there, whether or not it could place
centers itself. Any center-placing task may be the center task, and any task may sit behind
any center task. That holds because of one encode rule:

    A task encodes from its **own** ground truth. From the ``centers`` argument it takes the
    cells chosen (``batch_idx``, :meth:`Centers.peak_cells`) and which objects have a peak
    (``valid``), and at most the object's extent listed below. Offsets are measured from those
    cells to the task's own point (box center, projected 3D center ...), and its weight is
    ``centers.valid & <own validity>``.

:meth:`Task.at_peaks` implements the rule; a task calls it from ``encode`` (when the task
placed the centers itself, the offset is the usual sub-cell offset in ``[0, 1)``).

A task behind the center task reads from ``centers`` only ``batch_idx``, the peak cells,
``valid`` / ``ignore``, and the center task's ``xy`` and ``sizes`` as the object's extent (e.g.
a keypoint task scaling its heatmap spread by the person's size); it never reads ``angles`` or
``offset``, which belong to the center task: reading them ties the task to one center task and
breaks the mix.

How classes reach a task
------------------------
The head hands its class names to each of its tasks at build time with :meth:`Task.bind_classes`
(as mmdet hands ``num_classes`` to its heads); a task that needs per-class knowledge (mean 3D
sizes ...) overrides it and raises there, naming the class, when it cannot serve one. Labels
reaching ``encode`` are head channels ``0 .. len(classes) - 1``.
"""
from __future__ import annotations

from typing import Any, ClassVar, Collection, Dict, Optional, Sequence, Tuple

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from centerx.decode import Peaks
from centerx.structures import ImageMeta
from centerx.tta.config import TTAMerge
from centerx.tta.merge import concat_views, merge_by_overlap
from centerx.tta.nms import box_iou

from .presence import presence_of
from .targets import Centers, DecodeContext, Grid


class Task(nn.Module):
    """Base class of all tasks.

    Args:
        name: short name used in branch and loss names (default: ``default_name``).
        loss_weights: multiplier per loss term, e.g. ``dict(size=0.1, offset=1.0)``;
            terms not listed use ``default_loss_weights``.
    """

    #: output maps and their channel counts, e.g. ``{'size': 2, 'offset': 2}``
    maps: ClassVar[Dict[str, int]] = {}
    #: ground-truth fields this task reads (besides ``labels`` and ``ignore``)
    requires: ClassVar[Tuple[str, ...]] = ()
    #: ground-truth fields this task's decoder writes into predictions
    provides: ClassVar[Tuple[str, ...]] = ()
    default_name: ClassVar[str] = 'task'
    #: maps holding logits (keypoint heatmaps ...): flip TTA averages them as probabilities
    logit_maps: ClassVar[Tuple[str, ...]] = ()
    #: for a task that does not place centers: the registered type of a center task it is
    #: usually paired with (e.g. ``'Box2DTask'`` for keypoints); the registry-wide tests also put
    #: it behind every other center task
    companion: ClassVar[Optional[str]] = None
    #: largest ``roundtrip_error`` the registry-wide round-trip test accepts
    roundtrip_tolerance: ClassVar[float] = 1e-3
    default_loss_weights: ClassVar[Dict[str, float]] = {}

    def __init__(self, name: Optional[str] = None, loss_weights: Optional[Dict[str, float]] = None) -> None:
        super().__init__()
        self.name = name or self.default_name
        weights = dict(self.default_loss_weights)
        unknown = set(loss_weights or {}) - set(weights)
        if unknown:
            raise ValueError(f'{type(self).__name__}: unknown loss_weights {sorted(unknown)}; '
                             f'known terms are {sorted(weights)}')
        weights.update(loss_weights or {})
        self.loss_weights = weights
        #: the head's class names in channel order, set by :meth:`bind_classes` (None until bound)
        self.classes: Optional[Tuple[str, ...]] = None

    def bind_classes(self, classes: Sequence[str]) -> None:
        """Receive the class names of the head this task sits on (heatmap channel order).

        Called once by the head at build time. The default stores them in :attr:`classes`; a
        task that needs per-class knowledge extends this and raises ``ValueError`` naming any
        class it cannot serve.
        """
        self.classes = tuple(classes)

    @staticmethod
    def at_peaks(own_xy: Tensor, own_valid: Tensor, centers: Centers, grid: Grid) -> Tuple[Tensor, Tensor]:
        """The encode rule: this task's own point measured from the peak cells the head chose.

        Args:
            own_xy: (M, 2) this task's own point of each object (grid cells), from its own ground
                truth; non-finite rows are allowed where ``own_valid`` is False.
            own_valid: (M,) bool, this task has a usable target for the object.
            centers: the head's centers (M rows); only ``peak_cells`` and ``valid`` are read.
            grid: the output grid.

        Returns:
            offset (M, 2) float, ``own_xy - peak cell`` (zero where the weight is zero), and
            weight (M,) float32, ``centers.valid & own_valid``.
        """
        valid = centers.valid & own_valid
        offset = centers.offsets_to(own_xy, grid)
        offset = torch.where(valid[:, None], offset, torch.zeros_like(offset))
        return offset, valid.to(torch.float32)

    @property
    def places_centers(self) -> bool:
        """Whether this task implements :meth:`centers` (can be a head's center task)."""
        return type(self).centers is not Task.centers

    def centers(self, gt: InstanceData, grid: Grid) -> Centers:
        """Where each object peaks.

        Args:
            gt: concatenated ground truth of a head (M rows) in network-input pixels,
                with ``batch_idx`` (M,), ``labels`` (M,) head class, ``ignore`` (M,).
            grid: the output grid.
        """
        raise NotImplementedError(f'{type(self).__name__} does not place centers; put a task that does '
                                  '(Box2DTask, RotatedBoxTask, Box3DTask ...) on the same head')

    def init_branch(self, map_name: str, branch: nn.Sequential) -> None:
        """Initialise the last layer of a map's branch (default: zero bias)."""
        nn.init.constant_(branch[-1].bias, 0.0)

    def encode(self, gt: InstanceData, centers: Centers, grid: Grid) -> Dict[str, Tensor]:
        """Regression targets at the centers: dict of (M, ...) tensors (``weight`` (M,) or (M, C)).

        Follows the encode rule of the module docstring (use :meth:`at_peaks`): targets come
        from ``gt``; ``centers`` only says which cell each object is read at and whether it has
        a peak.
        """
        raise NotImplementedError

    def loss(self, preds: Dict[str, Tensor], targets: Dict[str, Tensor], centers: Centers,
             grid: Grid) -> Dict[str, Tensor]:
        """Named, already weighted losses ``{'loss_<term>': scalar}`` from (B, C, H, W) maps."""
        raise NotImplementedError

    def decode(self, preds: Dict[str, Tensor], peaks: Peaks, ctx: DecodeContext) -> Dict[str, Tensor]:
        """Attributes at the peaks: dict of (B, K, ...) tensors in original-image coordinates."""
        raise NotImplementedError

    def export_decode(self, preds: Dict[str, Tensor], peaks: Peaks, ctx: DecodeContext) -> Dict[str, Tensor]:
        """The decode an exported graph runs (:mod:`centerx.export`); default: :meth:`decode`.

        It gets what :meth:`decode` gets, except that ``ctx.metas`` is empty: whatever the task
        reads from metas arrives in ``ctx.task_inputs`` (:meth:`decode_inputs`). It must be
        traceable: torch ops only, no Python branching on tensor values, no ``.item()`` /
        ``.tolist()`` / numpy, output shapes fixed by the input shapes and K. A task whose
        :meth:`decode` is not (a data-dependent filter ...) overrides this with a static
        variant returning the same fields (docs/writing_a_task.md, "Keeping a decoder
        exportable").

        Returns:
            the fields of :meth:`decode`, as (B, K, ...) tensors.
        """
        return self.decode(preds, peaks, ctx)

    def decode_inputs(self, metas: Sequence[ImageMeta]) -> Dict[str, Tensor]:
        """The ``DecodeContext.task_inputs`` this task's :meth:`decode` reads, from the batch's metas.

        A traced or exported decode takes them as graph inputs instead of reading ``metas``
        (``Box3DTask``: the (B, 3, 3) network-input intrinsics). Default: none.

        Args:
            metas: the B image metas, in batch order.

        Returns:
            ``{key: (B, ...) tensor}``, the keys the task documents.
        """
        return {}

    def flip_output_maps(self, maps: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Mirror the maps predicted on a horizontally flipped image back to the original.

        Used by flip test-time augmentation: the returned maps are averaged with the maps of
        the original image. Maps that cannot be averaged (sub-cell offsets, whose cell
        shifts under a mirror) are left out and taken from the original image alone.

        Args:
            maps: this task's (B, C, H, W) maps for the flipped image.

        Returns:
            the subset of maps that can be averaged, in the original orientation.
        """
        raise NotImplementedError(f'{type(self).__name__} does not support flip test-time augmentation '
                                  '(implement flip_output_maps)')

    def check_flip_support(self) -> None:
        """Raise when this task, as configured, cannot serve flip test-time augmentation.

        Called at build time (:func:`~centerx.engine.consistency.check_flip_support`) when
        ``model.test_cfg.flip`` is True, so that a task that would fail in
        :meth:`flip_output_maps` fails before the first iteration instead of at the first
        validation. The default raises when :meth:`flip_output_maps` is not overridden; a
        task whose flip needs configuration (keypoint ``flip_pairs`` ...) overrides this and
        raises when that configuration is missing.

        Raises:
            ValueError: the reason, naming the task and what to set or implement.
        """
        if type(self).flip_output_maps is Task.flip_output_maps:
            raise ValueError(f'{type(self).__name__} ({self.name!r}) does not implement flip_output_maps; '
                             "implement it (how the task's maps mirror)")

    # ------------------------------------------------------------------ multi-scale test
    def merge_tta(self, views: Sequence[InstanceData], meta: ImageMeta, cfg: TTAMerge) -> InstanceData:
        """Merge one image's detections of several test-time views (scales) into one list.

        Called on a head's **center task** (the task that says where an object is) with the
        detections of the whole head: every field of every task of the head, already in
        original-image coordinates; the other tasks' fields follow the rows the merge keeps
        (a pose follows its person box). The default concatenates the views and runs class-wise
        soft-NMS or NMS (``cfg.type``) over :meth:`tta_overlap`, keeping ``cfg.max_per_img``. A task
        overrides :meth:`tta_overlap` to say when two detections are the same object, or this
        method for another merge (weighted fusion ...).

        Args:
            views: per view an InstanceData with ``scores`` (D_v,), ``labels`` (D_v,) dataset
                labels and the head's decoded fields (D_v, ...), all with the same fields.
            meta: the image's meta (original geometry, task metas such as a camera).
            cfg: the merge settings (``model.test_cfg.tta_merge``).

        Returns:
            the merged detections (same fields), by descending score.
        """
        dets = concat_views(views)
        return merge_by_overlap(dets, self.tta_overlap(dets, meta), cfg)

    def tta_overlap(self, dets: InstanceData, meta: ImageMeta) -> Tensor:
        """(N, N) overlap in [0, 1] of one image's N candidate detections (an IoU), read by the
        default :meth:`merge_tta`. Default: the IoU of their ``bboxes`` (original-image xyxy),
        so a head with a box task on it merges with no code.

        Raises:
            NotImplementedError: the detections have no ``bboxes`` (naming the task and what to
                implement).
        """
        if 'bboxes' not in dets:
            raise NotImplementedError(self._no_tta_overlap_message(dets.keys()))
        return box_iou(dets.bboxes, dets.bboxes)

    def check_tta_support(self, head_fields: Collection[str]) -> None:
        """Raise when this task, as the center task of a head that decodes ``head_fields``,
        cannot merge multi-scale detections (called at build time when ``test_cfg.scales`` is
        set). The default accepts a task that overrides :meth:`merge_tta` or :meth:`tta_overlap`,
        or a head that decodes ``bboxes``.

        Raises:
            ValueError: the reason, naming the task and what to implement.
        """
        own = type(self).merge_tta is not Task.merge_tta or type(self).tta_overlap is not Task.tta_overlap
        if not own and 'bboxes' not in head_fields:
            raise ValueError(self._no_tta_overlap_message(head_fields))

    def _no_tta_overlap_message(self, fields: Collection[str]) -> str:
        return (f'{type(self).__name__} ({self.name!r}) cannot merge multi-scale detections: its head decodes '
                f'{sorted(fields)} and no bboxes; implement tta_overlap (the (N, N) overlap of N detections) '
                'or merge_tta')

    def perfect_maps(self, targets: Dict[str, Tensor], centers: Centers, grid: Grid) -> Dict[str, Tensor]:
        """Maps that hold each valid object's targets at its peak cell (zeros elsewhere).

        Used by round-trip tests: ``decode(perfect_maps(encode(gt)))`` must give ``gt`` back.
        Returns a dict of (B, C, H, W) tensors, one per entry of :attr:`maps`.
        """
        out = {}
        H, W = grid.shape
        valid = centers.valid
        flat_idx = centers.batch_idx[valid] * (H * W) + centers.cell_index(grid)[valid]
        for name, channels in self.maps.items():
            flat = torch.zeros(grid.batch_size * H * W, channels, device=centers.xy.device)
            flat[flat_idx] = targets[name][valid].to(flat.dtype)
            out[name] = flat.view(grid.batch_size, H, W, channels).permute(0, 3, 1, 2).contiguous()
        return out

    @staticmethod
    def field_or_nan(gt: InstanceData, name: str, trailing: Tuple[int, ...]) -> Tensor:
        """``gt.<name>``, or NaN rows of shape (M, *trailing) when no image of the batch has it
        (NaN rows are invalid for every task, so such objects get no targets). Rows of images
        that lack the field hold fillers: mask them with :meth:`annotated_images`."""
        if name in gt:
            return gt.get(name)
        return torch.full((len(gt.batch_idx), *trailing), float('nan'), device=gt.batch_idx.device)

    @staticmethod
    def annotated_images(gt: InstanceData, name: str, batch_size: int) -> Tensor:
        """(B,) bool: images annotated for the field ``name`` (they carry it, maybe with zero
        rows), from the ground truth's presence mask (:mod:`centerx.task.presence`).

        ``annotated_images(gt, name, B)[gt.batch_idx]`` masks the (M,) rows; the (B,) form also
        covers images with no row on the head (for a task's dense maps).
        """
        return presence_of(gt, batch_size).images(name).to(gt.batch_idx.device)

    # ------------------------------------------------------------------ generic tests
    def example_gt(self, num: int, image_shape: Tuple[int, int], generator: torch.Generator) -> Dict[str, Tensor]:
        """Random, valid ground truth for the registry-wide tests.

        Args:
            num: number of objects.
            image_shape: (height, width) of the network input in pixels.
            generator: the random generator to draw from.

        Returns:
            the fields of :attr:`requires` (and those a companion center task needs) in
            input pixels, with N = ``num`` rows; ``labels`` and ``ignore`` are added by the test.
        """
        raise NotImplementedError(f'{type(self).__name__} does not implement example_gt')

    def example_meta(self, image_shape: Tuple[int, int]) -> Dict[str, Any]:
        """Extra :class:`~centerx.structures.ImageMeta` arguments the examples need (e.g. the
        ``task_metas`` a task reads)."""
        return {}

    def example_metainfo(self) -> Dict[str, Any]:
        """Dataset metainfo the examples travel with through the data pipeline (e.g. the
        left/right pairs an annotation kind swaps under a mirror); default none."""
        return {}

    def roundtrip_error(self, decoded: Dict[str, Tensor], gt: InstanceData) -> Tensor:
        """Per-object error of decoded fields against the ground truth they were encoded from.

        Args:
            decoded: this task's decoded fields for N detections, one row per ``gt`` row,
                in original-image coordinates.
            gt: the N ground-truth rows (original-image coordinates).

        Returns:
            (N,) errors in the task's units (pixels, meters ...), compared with
            :attr:`roundtrip_tolerance`.
        """
        raise NotImplementedError(f'{type(self).__name__} does not implement roundtrip_error')

    def weighted(self, losses: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Apply ``loss_weights`` to ``{term: loss}`` and name them ``loss_<term>``."""
        return {f'loss_{term}': value * self.loss_weights.get(term, 1.0) for term, value in losses.items()}
