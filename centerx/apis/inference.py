"""``init_detector`` and ``inference_detector``: a trained model on the user's own images.

The test pipeline comes from the config (``test_dataloader.dataset.pipeline``, without the
transforms that load annotations); images go through it, are batched by the model's data
preprocessor and predicted by ``model.test_step``, so inference sees exactly what
``tools/test.py`` evaluates.
"""
from __future__ import annotations

import copy
import os
from typing import Any, List, Mapping, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose
from torch import nn

from centerx.engine.checkpoint import load_checkpoint_file
from centerx.registry import MODELS
from centerx.structures import DetSample

from .config import CfgOptions, dataset_cfg_of, load_model_config
from .pipeline import check_image_array

#: one image: a file path, or an (H, W, 3) BGR uint8 array (as ``cv2.imread`` returns)
ImageInput = Union[str, os.PathLike, np.ndarray]
#: transform types that load images from files; an array input starts with LoadImageFromArray instead
FILE_LOADERS = ('LoadImage',)


def init_detector(config: Union[str, os.PathLike, Config], checkpoint: Optional[str] = None,
                  device: Union[str, torch.device] = 'cpu', cfg_options: CfgOptions = None,
                  trust_checkpoint: Optional[bool] = None) -> nn.Module:
    """Build the model of ``config`` in eval mode on ``device``, with the weights of ``checkpoint``.

    Args:
        config: config path or :class:`~mmengine.config.Config`; its ``custom_imports`` are
            imported (the built-in tasks, a user's plugin) before the model is built.
        checkpoint: an mmengine checkpoint (``state_dict`` inside) or a bare state dict, loaded
            safely (weights-only unpickling with centerx's allowlist,
            :func:`~centerx.engine.checkpoint.load_checkpoint_file`); None keeps random weights.
        device: where the model runs.
        cfg_options: overrides, ``{'model.test_cfg.topk': 50}`` or ``['model.test_cfg.topk=50']``.
        trust_checkpoint: full (unsafe) unpickling; None reads ``CENTERX_TRUST_CHECKPOINTS``.

    Returns:
        The model, with ``model.cfg`` (the config, used by :func:`inference_detector`).

    Raises:
        KeyError: the checkpoint's weights do not fit the model (naming the file and the first
            missing and unexpected keys); see also :func:`load_model_config`.
    """
    cfg = load_model_config(config, cfg_options)
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_weights(model, checkpoint, trust_checkpoint)
    model.cfg = cfg
    return model.to(device).eval()


def load_weights(model: nn.Module, checkpoint: str, trust: Optional[bool] = None) -> None:
    """Load the state dict of ``checkpoint`` into ``model`` (strictly; a DDP ``module.`` prefix
    is removed).

    Raises:
        KeyError: keys missing from the checkpoint or unknown to the model (naming the file).
    """
    state = load_checkpoint_file(checkpoint, map_location='cpu', trust=trust)
    if isinstance(state, Mapping) and 'state_dict' in state:
        state = state['state_dict']
    if not isinstance(state, Mapping):
        raise KeyError(f'checkpoint {checkpoint} holds a {type(state).__name__}, not a state dict')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # tensors of other shapes: torch's message names neither file
        raise KeyError(f'checkpoint {checkpoint} does not fit the model of the config: {err}') from err
    if result.missing_keys or result.unexpected_keys:
        raise KeyError(f'checkpoint {checkpoint} does not fit the model of the config: '
                       f'{len(result.missing_keys)} missing keys {result.missing_keys[:5]}, '
                       f'{len(result.unexpected_keys)} unexpected keys {result.unexpected_keys[:5]}')


def inference_pipeline_of(cfg: Config) -> List[dict]:
    """The transforms of ``test_dataloader.dataset.pipeline`` without those that load annotations
    (types ``Load*Annotation*``).

    Raises:
        KeyError: the config has no test (or val) data loader with a pipeline.
    """
    dataset = dataset_cfg_of(cfg, 'test' if cfg.get('test_dataloader') else 'val')
    pipeline = dataset.get('pipeline')
    if not pipeline:
        raise KeyError(f'the config {cfg.filename or "(in memory)"} has no test_dataloader.dataset.pipeline '
                       '(inference builds its test pipeline from it)')
    return [copy.deepcopy(dict(t)) for t in pipeline if 'Annotation' not in str(t.get('type', ''))]


def _array_pipeline(pipeline: Sequence[dict]) -> List[dict]:
    """The pipeline with its file loader replaced by :class:`LoadImageFromArray`.

    Raises:
        ValueError: the pipeline does not start with a file loader.
    """
    if not pipeline or pipeline[0].get('type') not in FILE_LOADERS:
        raise ValueError(f'the test pipeline must start with one of {FILE_LOADERS} to take image arrays; '
                         f'it starts with {pipeline[0].get("type") if pipeline else "nothing"}')
    return [dict(type='LoadImageFromArray'), *pipeline[1:]]


def _pipelines(model: nn.Module) -> tuple:
    """(file pipeline, array pipeline) of the model's config, built once and cached on the model."""
    cached = getattr(model, '_inference_pipelines', None)
    if cached is None:
        cfg = getattr(model, 'cfg', None)
        if cfg is None:
            raise AttributeError('inference_detector needs a model made by init_detector (it reads the test '
                                 'pipeline from model.cfg)')
        steps = inference_pipeline_of(cfg)
        cached = (Compose(steps), Compose(_array_pipeline(steps)))
        model._inference_pipelines = cached
    return cached


def _item(image: ImageInput, index: int, task_metas: Optional[Sequence[Any]]) -> tuple:
    """(pipeline input dict, is an array) of one image."""
    metas = tuple(task_metas or ())
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        return {'img_path': path, 'img_id': path, 'task_metas': metas}, False
    img = check_image_array(image, f'inference_detector: image {index}')
    return {'img': img, 'img_path': f'<array {index}>', 'img_id': index, 'task_metas': metas}, True


def inference_detector(model: nn.Module, images: Union[ImageInput, Sequence[ImageInput]],
                       task_metas: Optional[Sequence[Any]] = None, batch_size: int = 1
                       ) -> Union[DetSample, List[DetSample]]:
    """Detect objects in one image or a list of them.

    Args:
        model: a model of :func:`init_detector`.
        images: a path or an (H, W, 3) BGR uint8 array, or a list of them.
        task_metas: what some tasks need to know about an image besides its pixels, e.g. a
            3D task's camera intrinsics (``CameraMeta(cam2img=K)`` of ``centerx_tasks.box3d``):
            for a single image, a sequence of its task metas; for a list of images, one such
            sequence (or None) per image.
        batch_size: images per forward pass.

    Returns:
        Per image (a single :class:`DetSample` for a single image) the sample with ``preds``:
        per head an InstanceData of ``scores`` (D,), ``labels`` (D,) (indices into
        ``model.classes``) and every decoded field, in original-image pixels / frames; and
        ``meta`` (the image's :class:`~centerx.structures.ImageMeta`).

    Raises:
        LookupError: a task needs a task meta the image does not carry (the message names the
            image and the missing type; pass it in ``task_metas``).
        FileNotFoundError / ValueError / TypeError: an unreadable file or a bad array (naming it),
            ``task_metas`` of the wrong length.
    """
    single = isinstance(images, (str, os.PathLike, np.ndarray))
    inputs = [images] if single else list(images)
    if task_metas is None:
        per_image: List[Optional[Sequence[Any]]] = [None] * len(inputs)
    elif single:
        per_image = [task_metas]
    else:
        per_image = list(task_metas)
        if len(per_image) != len(inputs):
            raise ValueError(f'inference_detector: {len(per_image)} task_metas entries for {len(inputs)} images '
                             '(give one sequence, or None, per image)')
    if batch_size < 1:
        raise ValueError(f'inference_detector: batch_size must be >= 1, got {batch_size}')
    from_file, from_array = _pipelines(model)
    results: List[DetSample] = []
    for start in range(0, len(inputs), batch_size):
        packed = []
        for i in range(start, min(start + batch_size, len(inputs))):
            item, is_array = _item(inputs[i], i, per_image[i])
            packed.append((from_array if is_array else from_file)(item))
        data = {'inputs': [p['inputs'] for p in packed], 'data_samples': [p['data_samples'] for p in packed]}
        with torch.no_grad():
            try:
                results.extend(model.test_step(data))
            except LookupError as err:
                raise LookupError(f'{err}. inference_detector: pass it with task_metas=..., one sequence '
                                  'of task metas per image') from err
    return results[0] if single else results
