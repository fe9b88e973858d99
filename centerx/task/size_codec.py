"""How a task's ``size`` map encodes box extents: as they are (CenterNet) or as logarithms."""
from __future__ import annotations

import math
from typing import Dict, Optional

import torch
from torch import Tensor

#: decoded log-sizes are clamped to this before ``exp`` (e**12 ~ 1.6e5 cells: no overflow, no inf)
LOG_SIZE_MAX = 12.0
#: extents below this (cells) are encoded as it (a zero-size object places no peak anyway)
MIN_SIZE = 1e-3


class SizeCodec:
    """Encode / decode positive extents (box widths and heights, in grid cells).

    ``'linear'``: the map holds the extents themselves (CenterNet's ``wh``: targets span
    0 to the image size in cells, so large boxes need large outputs and dominate an L1).
    ``'log'``: the map holds ``log(extent)``; an L1 on it is a relative error (0.1 ~ 10 %)
    whatever the box size, and the outputs stay within a few units.

    Shapes: any (..., C) tensor in, the same shape out.
    """

    ENCODINGS = ('linear', 'log')

    def __init__(self, encoding: str = 'linear', owner: str = 'task') -> None:
        if encoding not in self.ENCODINGS:
            raise ValueError(f"{owner}: size_encoding must be one of {self.ENCODINGS}, got {encoding!r}")
        self.encoding = encoding

    def size_weight(self, configured: Optional[Dict[str, float]], linear_weight: float) -> float:
        """The loss weight of a task's size term: the configured one (``loss_weights['size']``)
        when given, else the task's CenterNet weight for ``'linear'`` and 1.0 for ``'log'``
        (the log error is already relative)."""
        if configured and 'size' in configured:
            return float(configured['size'])
        return linear_weight if self.encoding == 'linear' else 1.0

    def encode(self, sizes: Tensor) -> Tensor:
        """(..., C) extents in cells -> map targets."""
        if self.encoding == 'linear':
            return sizes
        return torch.log(torch.nan_to_num(sizes, nan=1.0).clamp(min=MIN_SIZE))

    def decode(self, values: Tensor) -> Tensor:
        """(..., C) map values -> non-negative extents in cells."""
        if self.encoding == 'linear':
            return values
        return torch.exp(values.clamp(min=math.log(MIN_SIZE), max=LOG_SIZE_MAX))
