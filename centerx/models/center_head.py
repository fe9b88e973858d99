"""One center heatmap over a class set, with the attribute branches of its tasks."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.structures import InstanceData
from torch import Tensor, nn

from centerx.heatmap import Kernel, SparseHeatmap, render_gaussians, render_sparse
from centerx.losses import penalty_reduced_focal_loss, sparse_focal_loss
from centerx.task import Centers, Grid, Task, presence_of

from .head_options import CENTER_MODES, ClassAgnosticCenters, build_center_attention
from .head_options.class_agnostic import PARTS_KEY
from .fused_branches import run_fused
from .loss_groups import GroupLosses, LossGroup, task_terms


def conv_branch(in_channels: int, head_conv: int, out_channels: int) -> nn.Sequential:
    """CenterNet's output branch: 3x3 conv -> ReLU -> 1x1 conv (a 1x1 conv when head_conv <= 0)."""
    if head_conv <= 0:
        return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1))
    return nn.Sequential(nn.Conv2d(in_channels, head_conv, 3, padding=1), nn.ReLU(inplace=True),
                         nn.Conv2d(head_conv, out_channels, 1))


class CenterHead(nn.Module):
    """A heatmap branch (one channel per class) plus one branch per map of each task.

    Args:
        name: head name (prefix of its losses when a model has several heads).
        in_channels: channels of the stride-4 feature.
        classes: class names of this head's heatmap channels; handed to every task with
            :meth:`~centerx.task.Task.bind_classes` at build time.
        tasks: built tasks; task names must be unique within the head. Any task that places
            centers may be the center task, and any task may sit behind it (the encode rule of
            :class:`~centerx.task.Task`).
        kernel: how centers spread on the heatmap.
        center_task: name of the task that places the peaks (default: the first
            task that can).
        head_conv: hidden channels of every branch (CenterNet: 64 for ResNet, 256 for DLA).
        heatmap_bias: initial bias of the heatmap logits (-2.19 ~ prior 0.1).
        loss_heatmap_weight, focal_alpha, focal_beta: the focal loss settings.
        center_attention: gate the regression branches' feature with a spatial attention from the
            heatmap logits (:mod:`~centerx.models.head_options.center_attention`): False, True or
            ``dict(detach=False)``.
        center_mode: ``'per_class'`` (CenterNet: one heatmap channel per class) or
            ``'class_agnostic'`` (one center channel + a sigmoid class branch, decoded as center x
            class: :mod:`~centerx.models.head_options.class_agnostic`).
        loss_class_weight: weight of the class branch's loss (``class_agnostic`` only).
        fuse_branches: run all branches as one wide 3x3 conv and one block-diagonal 1x1 conv
            (:mod:`centerx.models.fused_branches`; the same function and parameters). The detector
            fuses across heads with its own ``fuse_branches``. Not combined with ``center_attention`` or
            ``center_mode='class_agnostic'`` (their branches read other inputs): refused at build.
        heatmap_loss: ``'sparse'`` (default: the focal loss from the logits and the sparse target
            of :meth:`render_sparse`, no dense target map) or ``'dense'`` (the rendered
            (B, C, H, W) target of :meth:`render` and :func:`penalty_reduced_focal_loss`); both
            give the same loss and gradient up to float rounding. A ``class_agnostic`` head trains its
            center channel on the dense target.
    """

    HEATMAP_LOSSES = ('sparse', 'dense')

    def __init__(self, name: str, in_channels: int, classes: Sequence[str], tasks: Sequence[Task],
                 kernel: Kernel, center_task: Optional[str] = None, head_conv: int = 64,
                 heatmap_bias: float = -2.19, loss_heatmap_weight: float = 1.0,
                 focal_alpha: float = 2.0, focal_beta: float = 4.0, center_attention: Union[bool, dict] = False,
                 center_mode: str = 'per_class', loss_class_weight: float = 1.0,
                 fuse_branches: bool = False, heatmap_loss: str = 'sparse') -> None:
        super().__init__()
        if heatmap_loss not in self.HEATMAP_LOSSES:
            raise ValueError(f'head {name!r}: heatmap_loss must be one of {self.HEATMAP_LOSSES}, '
                             f'got {heatmap_loss!r}')
        self.heatmap_loss = heatmap_loss
        self.fuse_branches = bool(fuse_branches)
        self.name = name
        self.classes = tuple(classes)
        self.kernel = kernel
        self.loss_heatmap_weight = loss_heatmap_weight
        self.focal_alpha, self.focal_beta = focal_alpha, focal_beta
        names = [t.name for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f'head {name!r}: task names must be unique, got {names}; '
                             'give duplicates a name=... in config')
        if not tasks:
            raise ValueError(f'head {name!r} has no tasks')
        if 'heatmap' in names:  # forward() returns the heatmap logits under that key
            raise ValueError(f"head {name!r}: a task may not be named 'heatmap' (the key of the head's "
                             "heatmap logits); give it another name=... in config")
        for task in tasks:  # classes reach every task before anything is built from them
            try:
                task.bind_classes(self.classes)
            except ValueError as err:
                raise ValueError(f'head {name!r}: {err}') from err
        self.tasks = nn.ModuleDict({t.name: t for t in tasks})
        if center_task is None:
            placing = [t.name for t in tasks if t.places_centers]
            if not placing:
                raise ValueError(f'head {name!r}: none of its tasks {names} places centers')
            center_task = placing[0]
        if center_task not in self.tasks or not self.tasks[center_task].places_centers:
            raise ValueError(f'head {name!r}: center_task {center_task!r} is not one of its tasks '
                             f'that place centers ({[t.name for t in tasks if t.places_centers]})')
        self.center_task = center_task
        if center_mode not in CENTER_MODES:
            raise ValueError(f'head {name!r}: center_mode must be one of {CENTER_MODES}, got {center_mode!r}')
        if center_mode == 'class_agnostic' and PARTS_KEY in names:
            raise ValueError(f'head {name!r}: a task may not be named {PARTS_KEY!r} on a class_agnostic head')
        agnostic = center_mode == 'class_agnostic'
        self.heatmap = conv_branch(in_channels, head_conv, 1 if agnostic else len(self.classes))
        nn.init.constant_(self.heatmap[-1].bias, heatmap_bias)
        self.class_agnostic = (ClassAgnosticCenters(conv_branch(in_channels, head_conv, len(self.classes)),
                                                    len(self.classes), loss_class_weight) if agnostic else None)
        self.center_attention = build_center_attention(center_attention, 1 if agnostic else len(self.classes),
                                                       f'head {name!r}')
        if self.fuse_branches and (agnostic or self.center_attention is not None):
            raise ValueError(f'head {name!r}: fuse_branches does not combine with center_attention or '
                             "center_mode='class_agnostic' (their branches do not all read the neck feature)")
        self.branches = nn.ModuleDict()
        for task in tasks:
            for map_name, channels in task.maps.items():
                branch = conv_branch(in_channels, head_conv, channels)
                task.init_branch(map_name, branch)
                self.branches[f'{task.name}__{map_name}'] = branch

    def forward(self, feat: Tensor) -> Dict[str, Union[Tensor, Dict[str, Tensor]]]:
        """Run all branches (in one fused pass when ``fuse_branches``).

        Args:
            feat: (B, in_channels, H, W) stride-4 feature.

        Returns:
            ``{'heatmap': (B, num_classes, H, W) logits, <task name>: {<map>: (B, C, H, W)}}``; a
            ``class_agnostic`` head's ``'heatmap'`` holds the combined center x class logits and
            ``'center_class'`` the raw ``{'center': (B, 1, H, W), 'classes': (B, C, H, W)}``.
        """
        if self.fuse_branches:
            modules = self.branch_modules()
            return self.assemble(run_fused([m for _, m in modules], feat, self.branch_names()))
        logits = self.heatmap(feat)
        out: Dict[str, Union[Tensor, Dict[str, Tensor]]] = (
            self.class_agnostic(feat, logits) if self.class_agnostic is not None else {'heatmap': logits})
        reg_feat = self.center_attention(feat, logits) if self.center_attention is not None else feat
        for task_name, task in self.tasks.items():
            out[task_name] = {m: self.branches[f'{task_name}__{m}'](reg_feat) for m in task.maps}
        return out

    def branch_modules(self) -> List[Tuple[Tuple[Optional[str], str], nn.Module]]:
        """The output branches in :meth:`assemble` order: ``((None, 'heatmap'), heatmap)`` first,
        then ``((task, map), branch)`` for every map of every task."""
        modules: List[Tuple[Tuple[Optional[str], str], nn.Module]] = [((None, 'heatmap'), self.heatmap)]
        for task_name, task in self.tasks.items():
            modules += [((task_name, m), self.branches[f'{task_name}__{m}']) for m in task.maps]
        return modules

    def branch_names(self) -> List[str]:
        """``'<head>.heatmap'`` and ``'<head>.<task>.<map>'`` in :meth:`branch_modules` order."""
        return [f'{self.name}.{map_name}' if task is None else f'{self.name}.{task}.{map_name}'
                for (task, map_name), _ in self.branch_modules()]

    def assemble(self, maps: Sequence[Tensor]) -> Dict[str, Union[Tensor, Dict[str, Tensor]]]:
        """The :meth:`forward` dict from the branch outputs in :meth:`branch_modules` order."""
        keys = [key for key, _ in self.branch_modules()]
        if len(maps) != len(keys):
            raise ValueError(f'head {self.name!r}: {len(maps)} branch outputs for {len(keys)} branches')
        out: Dict[str, Union[Tensor, Dict[str, Tensor]]] = {'heatmap': maps[0]}
        out.update({task_name: {} for task_name in self.tasks})
        for (task_name, map_name), value in zip(keys[1:], maps[1:]):
            out[task_name][map_name] = value
        return out

    def place_centers(self, gt: InstanceData, grid: Grid) -> Centers:
        """Centers of the concatenated ground truth (M rows), by the head's center task."""
        return self.tasks[self.center_task].centers(gt, grid)

    def render(self, centers: Centers, grid: Grid) -> tuple[Tensor, Tensor]:
        """Render the target heatmap and the ignore mask.

        Returns:
            heatmap (B, C, H, W) float in [0, 1], and ignore (B, C, H, W) bool: cells
            near ignored objects that are not positives.
        """
        shape = (grid.batch_size, len(self.classes), *grid.shape)
        kernel = self.kernel(centers.sizes, centers.angles)
        xy_int = centers.xy_int
        xy_int = torch.stack([xy_int[:, 0].clamp(0, grid.shape[1] - 1), xy_int[:, 1].clamp(0, grid.shape[0] - 1)], 1)

        def draw(mask: Tensor) -> Tensor:
            return render_gaussians(shape, centers.batch_idx[mask], centers.labels[mask], xy_int[mask],
                                    kernel.select(mask))

        heat = draw(centers.valid)
        ignore = (draw(centers.ignore) > 0) & (heat < 1)
        return heat, ignore

    def render_sparse(self, centers: Centers, grid: Grid) -> SparseHeatmap:
        """The target of :meth:`render` as its window cells (``to_dense()`` gives it back exactly)."""
        shape = (grid.batch_size, len(self.classes), *grid.shape)
        kernel = self.kernel(centers.sizes, centers.angles)
        xy_int = centers.xy_int
        xy_int = torch.stack([xy_int[:, 0].clamp(0, grid.shape[1] - 1), xy_int[:, 1].clamp(0, grid.shape[0] - 1)], 1)
        # valid objects draw the heatmap, ignored ones the ignore map (an object may do both)
        rows = torch.cat([torch.nonzero(centers.valid).view(-1), torch.nonzero(centers.ignore).view(-1)])
        ignored = torch.arange(len(rows), device=rows.device) >= int(centers.valid.sum())
        return render_sparse(shape, centers.batch_idx[rows], centers.labels[rows], xy_int[rows],
                             kernel.select(rows), ignored)

    def perfect_outputs(self, gt: InstanceData, grid: Grid) -> tuple[Dict[str, Union[Tensor, Dict[str, Tensor]]], Centers]:
        """The outputs a perfect network would give for this ground truth, and its centers.

        Heatmap logits are the logit of the rendered target; each task's maps are its
        :meth:`~centerx.task.Task.perfect_maps`. Decoding them must give the ground truth back
        (the round-trip law every task is tested against).
        """
        centers = self.place_centers(gt, grid)
        heat, _ = self.render(centers, grid)
        out: Dict[str, Union[Tensor, Dict[str, Tensor]]] = (
            self.class_agnostic.perfect_outputs(heat) if self.class_agnostic is not None
            else {'heatmap': torch.logit(heat.clamp(1e-6, 1 - 1e-6))})
        for name, task in self.tasks.items():
            out[name] = task.perfect_maps(task.encode(gt, centers, grid), centers, grid)
        return out, centers

    def annotated_classes(self, gt: InstanceData, grid: Grid) -> Tensor:
        """(B, C) bool: image b is annotated for class channel c of this head.

        From the ground truth's presence mask (:mod:`centerx.task.presence`): the image carries
        every field its center task requires (an image with zero objects of a field is
        annotated; one without the field is not) and its source annotates the class
        (``DetSample.annotated_labels``).
        """
        presence = presence_of(gt, grid.batch_size)
        images = torch.ones(grid.batch_size, dtype=torch.bool, device=gt.batch_idx.device)
        for name in self.tasks[self.center_task].requires:
            images = images & presence.images(name).to(images.device)
        return images[:, None] & presence.class_mask(len(self.classes)).to(images.device)

    def heatmap_focal_loss(self, logits: Tensor, gt: InstanceData, centers: Centers, grid: Grid) -> Tensor:
        """The focal loss of the (B, C, H, W) heatmap ``logits`` (scalar), by ``heatmap_loss``.

        Channels of an image not annotated for their class (:meth:`annotated_classes`) add no loss,
        and their objects are made invalid in ``centers`` (no peak, no regression loss).
        """
        annotated, partial = self.drop_unannotated(gt, centers, grid, logits.device)
        if self.heatmap_loss == 'sparse':
            return sparse_focal_loss(logits, self.render_sparse(centers, grid), self.focal_alpha,
                                     self.focal_beta, channels=annotated if partial else None)
        heat, ignore = self.render_annotated(centers, grid, annotated, partial)
        return penalty_reduced_focal_loss(logits, heat, self.focal_alpha, self.focal_beta, ignore=ignore)

    def drop_unannotated(self, gt: InstanceData, centers: Centers, grid: Grid,
                         device: torch.device) -> Tuple[Tensor, bool]:
        """The (B, C) bool :meth:`annotated_classes` mask on ``device`` and whether some channel is
        unannotated; objects on an unannotated channel are made invalid in ``centers`` (no peak, no
        regression loss)."""
        annotated = self.annotated_classes(gt, grid).to(device)
        partial = not bool(annotated.all())
        if partial and len(centers.labels):
            centers.valid = centers.valid & annotated[centers.batch_idx, centers.labels]
        return annotated, partial

    def render_annotated(self, centers: Centers, grid: Grid, annotated: Tensor,
                         partial: bool) -> tuple[Tensor, Tensor]:
        """:meth:`render`, with every cell of an unannotated (image, class) channel ignored."""
        heat, ignore = self.render(centers, grid)
        if partial:
            ignore = ignore | ~annotated[:, :, None, None].expand_as(ignore)
        return heat, ignore

    def loss(self, outputs: Dict, gt: InstanceData, grid: Grid) -> GroupLosses:
        """All losses of this head, by group: the heatmap focal loss and every task's losses.

        Cells of an image not annotated for a class (:meth:`annotated_classes`) add no heatmap
        loss on that class's channel: they are unlabeled, not negatives. Objects there (if
        any) get no regression loss either.

        Args:
            outputs: the head's forward outputs.
            gt: the batch's ground truth for this head, concatenated (M rows) by
                :func:`~centerx.task.concat_instances` (its presence mask says what each image
                is annotated for).
            grid: the output grid.

        Returns:
            ``{LossGroup(head): {'heatmap': loss}, LossGroup(head, task): {term: loss}, ...}`` (a
            ``class_agnostic`` head's group holds the center map's focal loss as ``'heatmap'`` and
            the class branch's loss as ``'classes'``):
            one group per task, the terms without their ``loss_`` prefix.
        """
        centers = self.place_centers(gt, grid)
        if self.class_agnostic is not None:  # its center and class losses read the dense target
            annotated, partial = self.drop_unannotated(gt, centers, grid, outputs['heatmap'].device)
            heat, ignore = self.render_annotated(centers, grid, annotated, partial)
            parts = self.class_agnostic.loss(outputs, heat, ignore, annotated, self.focal_alpha, self.focal_beta)
            terms = {'heatmap': self.loss_heatmap_weight * parts['center'], 'classes': parts['classes']}
        else:
            terms = {'heatmap': self.loss_heatmap_weight * self.heatmap_focal_loss(outputs['heatmap'], gt, centers, grid)}
        losses: GroupLosses = {LossGroup(self.name): terms}
        for task_name, task in self.tasks.items():
            targets = task.encode(gt, centers, grid)
            losses[LossGroup(self.name, task_name)] = task_terms(
                type(task).__name__, task_name, task.loss(outputs[task_name], targets, centers, grid))
        return losses
