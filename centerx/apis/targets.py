"""The targets a model is asked to learn on one training sample, as pictures' raw material:
each head's rendered center heatmap, and the heatmap-like maps of its tasks."""
from __future__ import annotations

from dataclasses import dataclass
from typing import List

import numpy as np
import torch
from torch import nn

from centerx.structures import DetSample
from centerx.task import concat_instances


@dataclass
class TargetMap:
    """One target heatmap of one image.

    Attributes:
        title: ``<head>`` for a center heatmap, ``<head>/<task>.<map>`` for a task's map.
        heat: (h, w) float32 in [0, 1], the maximum over the map's channels, on the output grid
            (cropped to the cells that cover the unpadded input).
        stride: input pixels per grid cell.
    """

    title: str
    heat: np.ndarray
    stride: int


def target_maps(model: nn.Module, inputs: torch.Tensor, sample: DetSample) -> List[TargetMap]:
    """The targets of one packed training sample (``inputs`` (3, H, W) uint8 and ``sample``,
    ground truth in input pixels, as the training pipeline's ``PackDetInputs`` gives them):
    per head, the heatmap its own render path draws (``place_centers`` then ``render``), then,
    for every task of the head with ``logit_maps`` (heatmap-like maps, e.g. the keypoint
    task's ``kp_heatmap``), the sigmoid of those maps of the task's ``perfect_maps``.

    The batch goes through the model's data preprocessor and backbone once (for the grid).
    """
    data = model.data_preprocessor({'inputs': [inputs], 'data_samples': [sample]}, False)
    inputs, samples = data['inputs'], data['data_samples']
    with torch.no_grad():
        grid = model._grid(inputs, model.extract_feat(inputs), samples)
        h, w = samples[0].meta.img_shape
        rows, cols = -(-int(h) // grid.stride), -(-int(w) // grid.stride)
        out: List[TargetMap] = []
        for name, head in model.heads.items():
            gt = concat_instances([s.gt for s in samples], model.label_map(name),
                                  [s.annotated_labels for s in samples])
            centers = head.place_centers(gt, grid)
            heat, _ = head.render(centers, grid)
            out.append(TargetMap(name, _crop_max(heat, rows, cols), grid.stride))
            for task_name, task in head.tasks.items():
                if not task.logit_maps:
                    continue
                maps = task.perfect_maps(task.encode(gt, centers, grid), centers, grid)
                for key in task.logit_maps:
                    out.append(TargetMap(f'{name}/{task_name}.{key}',
                                         _crop_max(torch.sigmoid(maps[key]), rows, cols), grid.stride))
    return out


def _crop_max(maps: torch.Tensor, rows: int, cols: int) -> np.ndarray:
    """(1, C, H, W) -> (rows, cols) float32: the channel maximum of the first image, cropped."""
    if maps.shape[1] == 0:
        return np.zeros((rows, cols), np.float32)
    return maps[0, :, :rows, :cols].amax(dim=0).float().cpu().numpy()
