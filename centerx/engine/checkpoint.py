"""Safe checkpoint loading for mmengine on torch >= 2.6.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; since torch 2.6 that
means weights-only unpickling, which rejects the ``HistoryBuffer`` and numpy objects of
an mmengine checkpoint, so ``resume`` and ``load_from`` fail. centerx replaces
mmengine's loader for local files with one that unpickles weights-only with an
allowlist of exactly those types. Loading anything else (an arbitrary pickle can run
code) needs an explicit opt-in: ``trust=True`` or the environment variable
``CENTERX_TRUST_CHECKPOINTS=1`` (``tools/train.py`` and ``tools/test.py`` set it with
``--trust-checkpoint``).
"""
from __future__ import annotations

import os
import os.path as osp
import pickle
from typing import Any, List, Optional

import numpy as np
import torch

TRUST_ENV = 'CENTERX_TRUST_CHECKPOINTS'


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """Stand-in for ``getattr`` during safe loading.

    mmengine's ``HistoryBuffer`` pickles its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``. A general ``getattr`` would let a crafted file
    reach arbitrary attributes, so only those statistics methods are resolved.
    """
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed = {'min', 'max', 'current', 'mean'} | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and name in allowed:
        return getattr(obj, name)
    raise pickle.UnpicklingError(f'safe checkpoint loading refuses getattr({obj!r}, {name!r})')


def _allowlist() -> List[Any]:
    """Types an mmengine/centerx checkpoint legitimately holds besides tensors and builtins."""
    from mmengine.logging.history_buffer import HistoryBuffer
    allowed: List[Any] = [HistoryBuffer, np.ndarray, np.dtype, np.core.multiarray._reconstruct,
                          np.core.multiarray.scalar, (_history_buffer_getattr, 'builtins.getattr'),
                          (_history_buffer_getattr, '__builtin__.getattr')]
    allowed += [type(np.dtype(t)) for t in ('float16', 'float32', 'float64', 'int8', 'int16', 'int32',
                                             'int64', 'uint8', 'bool', 'uint16', 'uint32', 'uint64')]
    return allowed


def trust_requested(trust: Optional[bool] = None) -> bool:
    """Whether full (unsafe) unpickling was explicitly asked for."""
    if trust is not None:
        return trust
    return os.environ.get(TRUST_ENV, '').lower() in ('1', 'true', 'yes')


def load_checkpoint_file(filename: str, map_location: Any = 'cpu', trust: Optional[bool] = None) -> Any:
    """Load a local checkpoint, weights-only with centerx's allowlist unless trusted.

    Raises:
        FileNotFoundError: the file does not exist.
        pickle.UnpicklingError: the file holds objects outside the allowlist; the message
            names the file, the offending object and how to opt in.
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    if trust_requested(trust):
        return torch.load(filename, map_location=map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(_allowlist()):
            return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(
            f'checkpoint {filename} holds objects that safe (weights-only) loading does not allow: '
            f'{str(err).splitlines()[0]}\nIf you trust this file, load it with full unpickling: pass '
            f'--trust-checkpoint to tools/train.py / tools/test.py, or set {TRUST_ENV}=1. '
            'Never do this for a file from an untrusted source: unpickling can run arbitrary code.') from err


def install_safe_loader() -> None:
    """Make mmengine's local-path checkpoint loader use :func:`load_checkpoint_file`."""
    from mmengine.runner.checkpoint import CheckpointLoader

    def _load_local(filename: str, map_location: Any = None) -> Any:
        return load_checkpoint_file(filename, map_location=map_location)

    CheckpointLoader.register_scheme(prefixes='', loader=_load_local, force=True)
