"""One traceable module for a trained CenterNet: images in, decoded detections of every head out.

The module bundles what ``CenterNet.predict`` runs after the data pipeline: normalization (the
model's ``DetDataPreprocessor``), backbone, neck, every head, 3x3 max-pool peak extraction with a
static top-K, and each task's :meth:`~centerx.task.Task.export_decode`. Its ``forward`` takes and
returns plain tensors only, so that ``torch.onnx.export`` can trace it.

Inputs (in :attr:`ExportGraph.input_names` order):

- ``images`` (B, 3, H, W) float32: the letterboxed image as the data pipeline hands it to the data
  preprocessor (0-255, channels in loading order, BGR for OpenCV), at the export input size;
- ``inverse_affine`` (B, 3, 3) float32: network-input pixel -> original-image pixel (the inverse of
  the letterbox; :func:`centerx.export.host.letterbox` computes it);
- ``ori_shapes`` (B, 2) int64: (height, width) of the original images (boxes are clipped to them);
- one input per key of the tasks' ``decode_inputs`` (Box3DTask: ``input_cam2img`` (B, 3, 3), the
  intrinsics of the network input).

Outputs: ``<head>.scores`` (B, K), ``<head>.labels`` (B, K) dataset labels, and every decoded field
``<head>.<field>`` (B, K, ...) in original-image pixels, in head order and then task order
(:attr:`ExportGraph.output_names`). All K detections are returned; the score threshold is the
caller's (``scores > test_cfg.score_thr`` keeps what ``predict`` keeps).
"""
from __future__ import annotations

import copy
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from centerx.structures import ImageMeta
from centerx.task import DecodeContext, Grid

#: the graph inputs that every exported model has, before the tasks' own inputs
FIXED_INPUTS = ('images', 'inverse_affine', 'ori_shapes')


def example_image_meta(tasks: Sequence[nn.Module], input_shape: Tuple[int, int]) -> ImageMeta:
    """An identity-geometry :class:`ImageMeta` with the ``example_meta`` of every task (their
    ``task_metas`` together): what ``decode_inputs`` is asked for to learn a task's graph inputs."""
    extra: Dict = {}
    for task in tasks:
        for key, value in task.example_meta(input_shape).items():
            extra[key] = tuple(extra.get(key, ())) + tuple(value) if key == 'task_metas' else value
    return ImageMeta(img_id=0, img_path='<export example>', ori_shape=tuple(input_shape),
                     img_shape=tuple(input_shape), pad_shape=tuple(input_shape), **extra)


class ExportGraph(nn.Module):
    """A CenterNet with its decoding, as a function of tensors.

    Args:
        model: a built ``CenterNet`` (any heads and tasks); it is copied, not changed.
        input_shape: (H, W) of the network input the graph is traced for (multiples of the data
            preprocessor's ``pad_size_divisor``).
        topk: detections per head and image (default: the model's ``test_cfg.topk``).
        batch_size: B of the example inputs.
        normalize: apply the data preprocessor's channel order and mean/std inside the graph
            (``images`` are 0-255 pixels); False: ``images`` are already normalized.

    Raises:
        ValueError: the input size is not a multiple of the padding divisor, ``topk`` is not
            positive, or ``normalize`` is asked of a preprocessor without ``mean`` / ``std``.
    """

    def __init__(self, model: nn.Module, input_shape: Tuple[int, int], topk: Optional[int] = None,
                 batch_size: int = 1, normalize: bool = True) -> None:
        super().__init__()
        model = copy.deepcopy(model).eval()
        if topk is not None:
            if int(topk) < 1:
                raise ValueError(f'topk must be positive, got {topk}')
            model.test_cfg = dict(model.test_cfg, topk=int(topk))
        self.input_shape = (int(input_shape[0]), int(input_shape[1]))
        pre = model.data_preprocessor
        divisor = int(getattr(pre, 'pad_size_divisor', 1) or 1)
        if any(side <= 0 or side % divisor for side in self.input_shape):
            raise ValueError(f'input size {self.input_shape} (H, W) must be positive multiples of the data '
                             f"preprocessor's pad_size_divisor {divisor}")
        if normalize and not all(hasattr(pre, a) for a in ('mean', 'std')):
            raise ValueError(f'{type(pre).__name__} has no mean/std to put in the graph; export with '
                             'normalize=False (--no-normalize) and feed normalized images')
        self.model = model
        self.normalize = bool(normalize)
        self.batch_size = int(batch_size)
        tasks = [task for head in model.heads.values() for task in head.tasks.values()]
        self._example_meta = example_image_meta(tasks, self.input_shape)
        keys: List[str] = []
        for task in tasks:
            for key in task.decode_inputs([self._example_meta]):
                if key in FIXED_INPUTS:
                    raise ValueError(f'{type(task).__name__} ({task.name!r}): decode_inputs key {key!r} '
                                     f'clashes with a fixed graph input {FIXED_INPUTS}')
                if key not in keys:
                    keys.append(key)
        #: the tasks' graph inputs (``DecodeContext.task_inputs`` keys), in order
        self.task_input_keys: Tuple[str, ...] = tuple(keys)
        self.eval()  # an exporter restores the mode it found: inference (BatchNorm statistics ...)

    @property
    def topk(self) -> int:
        """K: detections per head and image in every output."""
        return int(self.model.test_cfg['topk'])

    @property
    def input_names(self) -> List[str]:
        """The arguments of :meth:`forward`: :data:`FIXED_INPUTS`, then :attr:`task_input_keys`."""
        return [*FIXED_INPUTS, *self.task_input_keys]

    def example_inputs(self, seed: int = 0) -> Tuple[Tensor, ...]:
        """Inputs in :attr:`input_names` order: random 0-255 images, identity geometry, the
        tasks' ``decode_inputs`` of their ``example_meta``."""
        B, (H, W) = self.batch_size, self.input_shape
        device = next(self.model.parameters()).device
        gen = torch.Generator().manual_seed(seed)
        images = torch.randint(0, 256, (B, 3, H, W), generator=gen).to(torch.float32)
        inverse = torch.eye(3).expand(B, 3, 3).contiguous()
        shapes = torch.tensor([[H, W]] * B, dtype=torch.int64)
        task_inputs = self.task_inputs([self._example_meta] * B)
        return tuple(t.to(device) for t in (images, inverse, shapes, *task_inputs))

    def task_inputs(self, metas: Sequence[ImageMeta]) -> Tuple[Tensor, ...]:
        """The tasks' graph inputs for a batch of image metas, in :attr:`task_input_keys` order."""
        found: Dict[str, Tensor] = {}
        for head in self.model.heads.values():
            for task in head.tasks.values():
                found.update(task.decode_inputs(metas))
        return tuple(found[k] for k in self.task_input_keys)

    def normalized(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) 0-255 pixels -> the network input, as the data preprocessor makes it."""
        if not self.normalize:
            return images
        pre = self.model.data_preprocessor
        if getattr(pre, 'bgr_to_rgb', False):
            images = images.flip(1)
        return (images - pre.mean.to(images.dtype)) / pre.std.to(images.dtype)

    def decode(self, images: Tensor, inverse_affine: Tensor, ori_shapes: Tensor,
               *task_inputs: Tensor) -> Dict[str, Dict[str, Tensor]]:
        """``{head: {'scores', 'labels', <field>: (B, K, ...)}}`` (the arguments of :meth:`forward`)."""
        if len(task_inputs) != len(self.task_input_keys):
            raise ValueError(f'expected the task inputs {list(self.task_input_keys)}, got {len(task_inputs)} tensors')
        inputs = self.normalized(images)
        feat = self.model.extract_feat(inputs)
        B = inputs.shape[0]
        grid = Grid(batch_size=B, shape=tuple(feat.shape[-2:]), stride=inputs.shape[-1] // feat.shape[-1],
                    input_shape=tuple(inputs.shape[-2:]))
        ctx = DecodeContext(grid=grid, inverse_affine=inverse_affine, ori_shapes=ori_shapes,
                            flipped=torch.zeros(B, dtype=torch.bool, device=inputs.device),
                            task_inputs=dict(zip(self.task_input_keys, task_inputs)))
        outputs = {name: head(feat) for name, head in self.model.heads.items()}
        return self.model.decode_outputs(outputs, ctx, export=True)

    def forward(self, images: Tensor, inverse_affine: Tensor, ori_shapes: Tensor, *task_inputs: Tensor) -> Tuple[Tensor, ...]:
        """The flat outputs, in :meth:`output_names` order (see the module docstring)."""
        decoded = self.decode(images, inverse_affine, ori_shapes, *task_inputs)
        return tuple(value for fields in decoded.values() for value in fields.values())

    def output_names(self) -> List[str]:
        """``<head>.<field>`` of every output, in :meth:`forward` order (one eager run on the examples)."""
        with torch.no_grad():
            decoded = self.decode(*self.example_inputs())
        return [f'{head}.{field}' for head, fields in decoded.items() for field in fields]
