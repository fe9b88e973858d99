"""Small helpers shared by the tasks' datasets, metrics and generators."""
from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping, Optional

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


def check_known_keys(given: Mapping[str, Any], known: Iterable[str], where: str) -> None:
    """Refuse keys of a free config dict that nothing reads (a typo would be ignored silently).

    Args:
        given: the dict from the config.
        known: the keys its reader understands.
        where: what the dict is, for the message, e.g. ``'model.test_cfg'``.

    Raises:
        ValueError: naming the unknown keys and listing the known ones.
    """
    known = sorted(set(known))
    unknown = [k for k in given if k not in known]
    if unknown:
        raise ValueError(f'{where}: unknown key{"s" * (len(unknown) > 1)} {", ".join(map(repr, unknown))}; '
                         f'known keys: {", ".join(known)}')
