"""The CenterNet detector: backbone -> neck -> any number of center heads with their tasks."""
from __future__ import annotations

import inspect
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.model import BaseModel
from mmengine.structures import InstanceData
from torch import Tensor, nn

from centerx.decode import extract_peaks
from centerx.heatmap import build_kernel
from centerx.registry import MODELS, TASKS
from centerx.structures import DetSample
from centerx.task import DecodeContext, Grid, concat_instances
from centerx.tta import ScaledView, parse_merge, parse_scales, scaled_view
from centerx.utils import check_known_keys

from .center_head import CenterHead
from .fused_branches import run_fused
from .loss_groups import GroupLosses, LossGroup, log_names

#: keys of a head's config: ``name``, ``classes``, ``tasks``, ``kernel`` and CenterHead's own options
HEAD_KEYS = ('name', 'classes', 'tasks', 'kernel',
             *(p for p in inspect.signature(CenterHead).parameters if p not in ('self', 'in_channels')))


def build_task(cfg: Union[dict, nn.Module]) -> nn.Module:
    """Build a task from config, with an error that lists the registered tasks."""
    if isinstance(cfg, nn.Module):
        return cfg
    cfg = dict(cfg)
    type_name = cfg.get('type')
    if TASKS.get(type_name) is None:
        known = sorted(TASKS.module_dict)
        raise KeyError(f'unknown task type {type_name!r}; registered tasks: {known}. A task from a '
                       "plugin must be imported first: custom_imports = dict(imports=['my_plugin'])")
    return TASKS.build(cfg)


@MODELS.register_module()
class CenterNet(BaseModel):
    """Objects as points, with pluggable tasks and several heads.

    Args:
        backbone: config of a backbone returning a tuple of features.
        neck: config of a neck turning that tuple into one stride-4 (B, C, H/4, W/4) feature;
            it receives ``in_channels`` from the backbone unless the config sets it.
        heads: one dict per head: ``name``, ``classes`` (names; None = all ``classes``),
            ``tasks`` (task configs), optional ``kernel`` (default ``CornerNetGaussian``),
            ``center_task``, ``head_conv``, ``heatmap_bias``, ``loss_heatmap_weight``.
        classes: the dataset's class names, in label-index order.
        data_preprocessor: batching and normalization config.
        test_cfg: ``topk`` (100), ``score_thr`` (0.0), ``pool_size`` (3), ``flip`` (False: flip
            test-time augmentation, every task must implement ``flip_output_maps``), ``scales``
            (None: multi-scale test-time augmentation, e.g. ``(0.5, 0.75, 1.0, 1.25, 1.5)``) and
            ``tta_merge`` (how the scales' detections merge; :mod:`centerx.tta.config`).
        loss_balancing: optional weights per head heatmap and per task on top of the configured
            per-term weights: ``dict(type='UncertaintyLossBalancing', init=0.0)`` (Kendall et al.
            2018), ``dict(type='GradNormLossBalancing', alpha=1.5)`` (Chen et al. 2018, on the
            neck's output) or ``dict(type='DynamicWeightAverage', temperature=2.0, period=50)``
            (Liu et al. 2019); it receives ``groups`` (:meth:`loss_groups`) and is called with the
            shared feature.
        fuse_branches: run the branches of all heads as one wide 3x3 conv and one block-diagonal
            1x1 conv (:mod:`~centerx.models.fused_branches`): the same function, parameters and
            checkpoints as separate branches (default False: separate was faster on the CPUs
            measured, docs/benchmarks.md).
    """

    def __init__(self, backbone: dict, neck: dict, heads: Sequence[dict], classes: Sequence[str],
                 data_preprocessor: Optional[dict] = None, test_cfg: Optional[dict] = None,
                 loss_balancing: Optional[dict] = None, init_cfg: Optional[dict] = None,
                 fuse_branches: bool = False) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='DetDataPreprocessor')
        if isinstance(data_preprocessor, dict):  # build in our scope, whatever the default scope is
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.classes = tuple(classes)
        self.fuse_branches = bool(fuse_branches)
        self.backbone = MODELS.build(backbone)
        neck = dict(neck)
        neck.setdefault('in_channels', tuple(self.backbone.out_channels))
        self.neck = MODELS.build(neck)
        self.test_cfg = dict(topk=100, score_thr=0.0, pool_size=3, flip=False)
        check_known_keys(test_cfg or {}, (*self.test_cfg, 'scales', 'tta_merge'), 'model.test_cfg')
        self.test_cfg.update(test_cfg or {})
        self.heads = nn.ModuleDict()
        for i, head_cfg in enumerate(heads):
            head_cfg = dict(head_cfg)
            name = head_cfg.pop('name', f'head{i}')
            if name in self.heads:
                raise ValueError(f'duplicate head name {name!r}')
            head_classes = tuple(head_cfg.pop('classes', None) or self.classes)
            missing = [c for c in head_classes if c not in self.classes]
            if missing:
                raise ValueError(f'head {name!r} names classes {missing} that are not among the '
                                 f'model classes {list(self.classes)}')
            check_known_keys(head_cfg, HEAD_KEYS, f'model.heads[{i}] ({name!r})')
            tasks = [build_task(t) for t in head_cfg.pop('tasks')]
            kernel = build_kernel(head_cfg.pop('kernel', None))
            self.heads[name] = CenterHead(name=name, in_channels=self.neck.out_channels,
                                          classes=head_classes, tasks=tasks, kernel=kernel, **head_cfg)
            label_map = torch.full((len(self.classes),), -1, dtype=torch.int64)
            for j, c in enumerate(head_classes):
                label_map[self.classes.index(c)] = j
            self.register_buffer(f'_label_map_{name}', label_map, persistent=False)
            self.register_buffer(f'_head_to_dataset_{name}',
                                 torch.tensor([self.classes.index(c) for c in head_classes]), persistent=False)

        if self.fuse_branches:  # one pass over every head's branches needs them all to read the feature
            optioned = [n for n, h in self.heads.items() if h.class_agnostic is not None or h.center_attention is not None]
            if optioned:
                raise ValueError(f'fuse_branches does not combine with center_attention or '
                                 f"center_mode='class_agnostic' (heads {optioned})")
        self.check_tta_config()

        self.loss_balancing = None
        if loss_balancing is not None:
            self.loss_balancing = MODELS.build(dict(loss_balancing, groups=self.loss_groups()))

    # ------------------------------------------------------------------ plumbing
    def loss_groups(self) -> List[LossGroup]:
        """One group per head heatmap and per task of a head, in head order."""
        return [LossGroup(name, task) for name, head in self.heads.items() for task in (None, *head.tasks)]

    def label_map(self, head: str) -> Tensor:
        """(num_classes,) int64: dataset label -> head channel (-1 when the head skips it)."""
        return getattr(self, f'_label_map_{head}')

    def head_to_dataset(self, head: str) -> Tensor:
        """(head classes,) int64: head channel -> dataset label."""
        return getattr(self, f'_head_to_dataset_{head}')

    def extract_feat(self, inputs: Tensor) -> Tensor:
        """(B, 3, H, W) normalized images -> (B, C, H/4, W/4) feature."""
        return self.neck(self.backbone(inputs))

    def _grid(self, inputs: Tensor, feat: Tensor, data_samples: Optional[List[DetSample]] = None) -> Grid:
        stride = inputs.shape[-1] // feat.shape[-1]
        return Grid(batch_size=inputs.shape[0], shape=tuple(feat.shape[-2:]), stride=stride,
                    input_shape=tuple(inputs.shape[-2:]), metas=[s.meta for s in data_samples or []])

    def forward(self, inputs: Tensor, data_samples: Optional[List[DetSample]] = None,
                mode: str = 'tensor') -> Union[Dict, List[DetSample]]:
        """mmengine entry: ``loss`` -> dict of losses, ``predict`` -> samples with ``preds``,
        ``tensor`` -> ``{head name: {'heatmap': logits, task: {map: tensor}}}``."""
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs)
        raise RuntimeError(f'invalid mode {mode!r}; expected loss, predict or tensor')

    def _forward(self, inputs: Tensor) -> Dict[str, Dict]:
        return self.head_outputs(self.extract_feat(inputs))

    def head_outputs(self, feat: Tensor) -> Dict[str, Dict]:
        """Every head's forward outputs on the (B, C, H/4, W/4) feature: ``{head: {'heatmap': ...,
        task: {map: ...}}}``; with ``fuse_branches`` all branches of all heads in one pass."""
        if not self.fuse_branches:
            return {name: head(feat) for name, head in self.heads.items()}
        per_head = [[m for _, m in head.branch_modules()] for head in self.heads.values()]
        names = [n for head in self.heads.values() for n in head.branch_names()]
        maps = run_fused([m for modules in per_head for m in modules], feat, names)
        outputs, start = {}, 0
        for (name, head), modules in zip(self.heads.items(), per_head):
            outputs[name] = head.assemble(maps[start:start + len(modules)])
            start += len(modules)
        return outputs

    # ------------------------------------------------------------------ training
    def grouped_losses(self, inputs: Tensor, data_samples: List[DetSample],
                       feat: Optional[Tensor] = None) -> GroupLosses:
        """Losses of every head by group (:class:`~centerx.models.loss_groups.LossGroup`), before
        any balancing (``feat``: the already extracted feature of ``inputs``, if any)."""
        feat = self.extract_feat(inputs) if feat is None else feat
        grid = self._grid(inputs, feat, data_samples)
        gts = [s.gt for s in data_samples]
        annotated_labels = [getattr(s, 'annotated_labels', None) for s in data_samples]
        grouped: GroupLosses = {}
        outputs = self.head_outputs(feat)
        for name, head in self.heads.items():
            gt = concat_instances(gts, self.label_map(name), annotated_labels)
            grouped.update(head.loss(outputs[name], gt, grid))
        return grouped

    def loss(self, inputs: Tensor, data_samples: List[DetSample]) -> Dict[str, Tensor]:
        """Losses of every head, balanced when ``loss_balancing`` is set, under their log names
        (:func:`~centerx.models.loss_groups.log_names`: ``loss_<head>_<task>_<term>``, without the
        head when there is one)."""
        feat = self.extract_feat(inputs)
        grouped = self.grouped_losses(inputs, data_samples, feat)
        several = len(self.heads) > 1
        if self.loss_balancing is None:
            return log_names(grouped, several)
        balanced = self.loss_balancing(grouped, shared=feat)
        return log_names(balanced.groups, several, balanced.regularizers, balanced.weights,
                         balanced.regularizer_name)

    # ------------------------------------------------------------------ inference
    def decode_outputs(self, outputs: Dict[str, Dict], ctx: DecodeContext,
                       export: bool = False) -> Dict[str, Dict[str, Tensor]]:
        """Peaks and task attributes per head, batched and traceable (with ``export``, each task's
        :meth:`~centerx.task.Task.export_decode` runs instead of its ``decode``).

        Args:
            outputs: ``{head: {'heatmap': (B, C, H, W) logits, <task>: {map: (B, ch, H, W)}}}`` of
                any subset of the heads (a head left out is not decoded).
            ctx: the batch's :class:`~centerx.task.DecodeContext`.

        Returns:
            ``{head: {'scores': (B, K), 'labels': (B, K) dataset labels, <field>: (B, K, ...)}}``
            for the heads in ``outputs``.

        Raises:
            KeyError: ``outputs`` names a head the model does not have.
        """
        unknown = [name for name in outputs if name not in self.heads]
        if unknown:
            raise KeyError(f'outputs of unknown heads {unknown}; the model has heads {list(self.heads)}')
        results = {}
        for name, head in self.heads.items():
            if name not in outputs:
                continue
            out = outputs[name]
            peaks = extract_peaks(torch.sigmoid(out['heatmap']), self.test_cfg['topk'], self.test_cfg['pool_size'])
            fields = {'scores': peaks.scores, 'labels': self.head_to_dataset(name)[peaks.labels]}
            ctx.decoded = {}
            for task_name, task in head.tasks.items():
                decode = task.export_decode if export else task.decode
                fields.update(decode(out[task_name], peaks, ctx))
                ctx.decoded = {k: v for k, v in fields.items() if k not in ('scores', 'labels')}
            results[name] = fields
        return results

    def predict(self, inputs: Tensor, data_samples: List[DetSample]) -> List[DetSample]:
        """Detections per head in original-image coordinates, written to ``sample.preds``
        (with ``test_cfg.scales``: of every scale, merged, :meth:`predict_multiscale`)."""
        scales = parse_scales(self.test_cfg.get('scales'))
        if scales is not None:
            return self.predict_multiscale(inputs, data_samples, scales)
        outputs = self.view_outputs(inputs)
        return self.attach_predictions(self.decode_view(outputs, ScaledView(1.0, inputs, data_samples)), data_samples)

    # ------------------------------------------------------------------ multi-scale test
    def check_tta_config(self) -> None:
        """Raise at build time when ``test_cfg.scales`` / ``tta_merge`` are invalid, when a head's
        center task cannot merge its head's detections (:meth:`Task.check_tta_support`), or when
        the data preprocessor does not say how it pads."""
        if parse_scales(self.test_cfg.get('scales')) is None:
            return
        parse_merge(self.test_cfg.get('tta_merge'), self.test_cfg['topk'])
        for head in self.heads.values():
            fields = {f for task in head.tasks.values() for f in task.provides}
            head.tasks[head.center_task].check_tta_support(fields)
        self.tta_padding()

    def tta_padding(self) -> Tuple[int, Tensor]:
        """The data preprocessor's size divisor and its (3, 1, 1) normalized padding value, which the
        multi-scale views pad with."""
        dp = self.data_preprocessor
        missing = [a for a in ('pad_size_divisor', 'pad_value', 'mean', 'std') if not hasattr(dp, a)]
        if missing:
            raise TypeError(f'multi-scale test (test_cfg.scales) needs the data preprocessor\'s padding, but '
                            f'{type(dp).__name__} has no {missing}')
        return int(dp.pad_size_divisor), (dp.pad_value - dp.mean) / dp.std

    def tta_views(self, inputs: Tensor, data_samples: List[DetSample],
                  scales: Sequence[float]) -> List[ScaledView]:
        """The batch resized by each scale, with metas whose affines include the resize
        (:mod:`centerx.tta.views`)."""
        divisor, pad_value = self.tta_padding()
        return [scaled_view(inputs, data_samples, s, divisor, pad_value) for s in scales]

    def view_outputs(self, inputs: Tensor) -> Dict[str, Dict]:
        """Every head's outputs on one view's input (flip-averaged with ``test_cfg.flip``)."""
        feat = self.extract_feat(inputs)
        outputs = self.head_outputs(feat)
        if self.test_cfg.get('flip', False):
            feat_flipped = self.extract_feat(inputs.flip(-1))
            outputs = self.merge_flipped(outputs, self.head_outputs(feat_flipped))
        return outputs

    def decode_view(self, outputs: Dict[str, Dict], view: ScaledView) -> Dict[str, Dict[str, Tensor]]:
        """Decode one view's outputs to original-image coordinates (:meth:`decode_outputs` with the
        view's metas)."""
        some = next(iter(outputs.values()))['heatmap']
        grid = Grid(batch_size=view.inputs.shape[0], shape=tuple(some.shape[-2:]),
                    stride=view.inputs.shape[-1] // some.shape[-1], input_shape=tuple(view.inputs.shape[-2:]),
                    metas=[s.meta for s in view.samples])
        return self.decode_outputs(outputs, self.decode_context(grid, view.samples, view.inputs.device))

    def merge_views(self, decoded: Sequence[Dict[str, Dict[str, Tensor]]],
                    data_samples: List[DetSample]) -> List[DetSample]:
        """Per head and image: the detections of every view above ``score_thr``, merged by the
        head's center task (:meth:`Task.merge_tta`; one view is taken as it is), written to
        ``sample.preds``; merged scores at or below ``score_thr`` are dropped."""
        thr = self.test_cfg['score_thr']
        cfg = parse_merge(self.test_cfg.get('tta_merge'), self.test_cfg['topk'])
        for name, head in self.heads.items():
            merger = head.tasks[head.center_task]
            for i, sample in enumerate(data_samples):
                views = []
                for fields in decoded:
                    keep = fields[name]['scores'][i] > thr
                    view = InstanceData()
                    for key, value in fields[name].items():
                        view.set_field(value[i][keep].detach(), key)
                    views.append(view)
                pred = views[0] if len(views) == 1 else merger.merge_tta(views, sample.meta, cfg)
                sample.preds[name] = pred[pred.scores > thr]
        return data_samples

    def predict_multiscale(self, inputs: Tensor, data_samples: List[DetSample],
                           scales: Sequence[float]) -> List[DetSample]:
        """Multi-scale test-time augmentation: run the model on the input resized by each scale
        (each flip-averaged with ``test_cfg.flip``), decode every scale to original-image
        coordinates, merge per head (:meth:`merge_views`)."""
        views = self.tta_views(inputs, data_samples, scales)
        decoded = [self.decode_view(self.view_outputs(v.inputs), v) for v in views]
        return self.merge_views(decoded, data_samples)

    def merge_flipped(self, outputs: Dict[str, Dict], flipped: Dict[str, Dict]) -> Dict[str, Dict]:
        """Flip test-time augmentation: average each head's outputs with those of the mirrored
        input, mirrored back.

        Heatmaps are averaged as probabilities (CenterNet) and returned as logits; each task
        says which of its maps mirror back and how (:meth:`Task.flip_output_maps`); the
        others come from the original image alone.
        """
        merged = {}
        for name, head in self.heads.items():
            out, out_f = outputs[name], flipped[name]
            prob = (torch.sigmoid(out['heatmap']) + torch.sigmoid(out_f['heatmap'].flip(-1))) / 2
            head_out = {'heatmap': torch.logit(prob.clamp(1e-6, 1 - 1e-6))}
            for task_name, task in head.tasks.items():
                maps = dict(out[task_name])
                for key, value in task.flip_output_maps(out_f[task_name]).items():
                    if key in task.logit_maps:
                        prob = (torch.sigmoid(maps[key]) + torch.sigmoid(value)) / 2
                        maps[key] = torch.logit(prob.clamp(1e-6, 1 - 1e-6))
                    else:
                        maps[key] = (maps[key] + value) / 2
                head_out[task_name] = maps
            merged[name] = head_out
        return merged

    @staticmethod
    def decode_context(grid: Grid, data_samples: List[DetSample], device: torch.device) -> DecodeContext:
        """Build the decode context (inverse affines, original shapes, flips, metas) of a batch;
        tasks read their own per-task metas from ``metas``."""
        inv = torch.as_tensor(np.stack([s.meta.inverse_affine for s in data_samples]),
                              dtype=torch.float32, device=device)
        shapes = torch.as_tensor([list(s.meta.ori_shape) for s in data_samples], dtype=torch.int64, device=device)
        metas = [s.meta for s in data_samples]
        flipped = torch.as_tensor([bool(m.flipped) for m in metas], dtype=torch.bool, device=device)
        return DecodeContext(grid=grid, inverse_affine=inv, ori_shapes=shapes, metas=metas, flipped=flipped)

    def attach_predictions(self, decoded: Dict[str, Dict[str, Tensor]],
                           data_samples: List[DetSample]) -> List[DetSample]:
        """Split batched (B, K, ...) fields per image, drop scores below ``score_thr``."""
        thr = self.test_cfg['score_thr']
        for name, fields in decoded.items():
            for i, sample in enumerate(data_samples):
                keep = fields['scores'][i] > thr
                pred = InstanceData()
                for key, value in fields.items():
                    pred.set_field(value[i][keep].detach(), key)
                sample.preds[name] = pred
        return data_samples
