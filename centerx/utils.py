"""Small helpers shared by the tasks' datasets, metrics and generators."""
from __future__ import annotations

import logging
from typing import Any, Optional

import numpy as np


def to_numpy(value: Any, dtype: Optional[Any] = None) -> np.ndarray:
    """Tensor or array-like -> numpy (detached, on CPU), of ``dtype`` when given.

    ``dtype=None`` keeps the value's own dtype (``np.asarray(value)``).
    """
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def log(msg: str, level: int = logging.INFO) -> None:
    """``mmengine.logging.print_log(msg, logger='current', level=level)``."""
    from mmengine.logging import print_log  # lazy: keeps command-line generators light
    print_log(msg, logger='current', level=level)
