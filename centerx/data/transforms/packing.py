"""The last transform: turn a sample dict into model inputs."""
from __future__ import annotations

from typing import Dict

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import InstanceData

from centerx.registry import TRANSFORMS
from centerx.structures import DetSample


@TRANSFORMS.register_module()
class PackDetInputs(BaseTransform):
    """``{'inputs': (3, H, W) uint8 tensor, 'data_samples': DetSample}``.

    Every field of ``results['instances']`` becomes a tensor field of ``DetSample.gt``
    (float arrays -> float32, integers -> int64, booleans stay bool); nothing is dropped.
    """

    def transform(self, results: Dict) -> Dict:
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        gt = InstanceData()
        for name, values in results.get('instances', {}).items():
            arr = np.asarray(values)
            if arr.dtype == np.bool_:
                tensor = torch.from_numpy(arr.copy())
            elif np.issubdtype(arr.dtype, np.integer):
                tensor = torch.from_numpy(arr.astype(np.int64))
            else:
                tensor = torch.from_numpy(arr.astype(np.float32))
            gt.set_field(tensor, name)
        return {'inputs': inputs, 'data_samples': DetSample(meta=results['meta'], gt=gt)}
