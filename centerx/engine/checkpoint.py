"""Safe checkpoint loading for mmengine on torch >= 2.6.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; since torch 2.6 that
means weights-only unpickling, which rejects the ``HistoryBuffer`` and numpy objects of
an mmengine checkpoint, so ``resume`` and ``load_from`` fail. centerx replaces
mmengine's loader for local files with one that unpickles weights-only with an
allowlist of exactly those types. Loading anything else (an arbitrary pickle can run
code) needs an explicit opt-in: ``trust=True`` or the environment variable
``CENTERX_TRUST_CHECKPOINTS=1`` (``tools/train.py`` and ``tools/test.py`` set it with
``--trust-checkpoint``).

Checkpoints are also written atomically (:func:`atomic_write_bytes`: a temporary file in the
same folder, fsync, ``os.replace``), so a process killed while saving leaves either the old
state or the complete new file, never a half-written one under the checkpoint's name; and a
truncated or corrupted file is refused on loading (:class:`CheckpointCorruptError`, naming it).
"""
from __future__ import annotations

import logging
import os
import os.path as osp
import pickle
import tempfile
import zipfile
from typing import Any, List, Optional

import numpy as np
import torch

TRUST_ENV = 'CENTERX_TRUST_CHECKPOINTS'


class CheckpointCorruptError(RuntimeError):
    """A checkpoint file that is truncated or damaged (the message names the file)."""


def atomic_write_bytes(data: bytes, path: str) -> None:
    """Write ``data`` to ``path`` so that ``path`` is never seen half-written.

    The bytes go to a temporary file in the same folder, are flushed to disk (fsync), and the
    file is renamed over ``path`` (``os.replace``, atomic on POSIX and Windows); the folder is
    fsynced so that the rename survives a power loss. On any error (KeyboardInterrupt included)
    the temporary file is removed and ``path`` is left as it was.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(path)}.', suffix='.tmp', dir=folder)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    if hasattr(os, 'O_DIRECTORY'):
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def check_integrity(filename: str) -> None:
    """Refuse a damaged torch zip checkpoint before unpickling it: every member's CRC is checked
    (torch itself does not check them, so a damaged tensor would load as silent garbage).

    Raises:
        CheckpointCorruptError: a member whose CRC does not match, or an unreadable archive.
    """
    if not zipfile.is_zipfile(filename):
        return  # not a zip: truncated, junk or a legacy format; torch.load decides (see load)
    try:
        with zipfile.ZipFile(filename) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CheckpointCorruptError(f'checkpoint {filename} is corrupted: {err}') from err
    if bad is not None:
        raise CheckpointCorruptError(f'checkpoint {filename} is corrupted: member {bad!r} fails its CRC check')


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
        CheckpointCorruptError: the file is truncated, empty, not a checkpoint, or fails the
            CRC check of :func:`check_integrity`; the message names the file.
        pickle.UnpicklingError: the file holds objects outside the allowlist; the message
            names the file, the offending object and how to opt in.
    """
    filename = osp.expanduser(str(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint {filename} can not be found')
    check_integrity(filename)
    if trust_requested(trust):
        return _load_or_explain(filename, map_location, weights_only=False)
    try:
        with torch.serialization.safe_globals(_allowlist()):
            return _load_or_explain(filename, map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(
            f'checkpoint {filename} holds objects that safe (weights-only) loading does not allow: '
            f'{str(err).splitlines()[0]}\nIf you trust this file, load it with full unpickling: pass '
            f'--trust-checkpoint to tools/train.py / tools/test.py, or set {TRUST_ENV}=1. '
            'Never do this for a file from an untrusted source: unpickling can run arbitrary code.') from err


def _load_or_explain(filename: str, map_location: Any, weights_only: bool) -> Any:
    """``torch.load``; a file that is not a complete zip checkpoint and fails to load raises
    :class:`CheckpointCorruptError` naming it (torch's own message does not)."""
    complete = zipfile.is_zipfile(filename)
    try:
        return torch.load(filename, map_location=map_location, weights_only=weights_only)
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
        if complete and isinstance(err, pickle.UnpicklingError):
            raise  # a complete archive with a disallowed object: the allowlist message applies
        reason = 'it is empty' if osp.getsize(filename) == 0 else \
            'it is not a complete torch checkpoint (truncated while being written, or damaged)'
        raise CheckpointCorruptError(f'checkpoint {filename} can not be loaded: {reason} '
                                     f'({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ""})') from err


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint ``<work_dir>/last_checkpoint`` names (mmengine writes it after each save),
    or ``None`` when there is none (a fresh work dir: training starts from scratch).

    Raises:
        CheckpointCorruptError: ``last_checkpoint`` is empty, or names a file that does not exist
            (the message names both).
    """
    record = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(record):
        return None
    with open(record) as f:
        path = f.read().strip()
    if not path:
        raise CheckpointCorruptError(f'{record} is empty (the process died while writing it); pass the '
                                     'checkpoint to resume from explicitly: --resume <work_dir>/iter_N.pth')
    if not osp.isfile(path):
        raise CheckpointCorruptError(f'{record} names {path}, which does not exist; pass the checkpoint '
                                     'to resume from explicitly: --resume <work_dir>/iter_N.pth')
    return path


def install_atomic_writes() -> None:
    """Make mmengine's local file backend (``save_checkpoint`` writes through it) write with
    :func:`atomic_write_bytes`."""
    from mmengine.fileio.backends.local_backend import LocalBackend

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(obj, str(filepath))

    LocalBackend.put = put


def install_safe_loader() -> None:
    """Make mmengine's local-path checkpoint loader use :func:`load_checkpoint_file`.

    mmengine announces every load with ``Loads checkpoint by <backend> backend from path: ...``,
    printed bare (no logger) when the Runner loads; that line goes to the current logger instead
    (so the tools' terminal filter can drop it and the log file keeps it,
    :mod:`centerx.engine.terminal_noise`).
    """
    import mmengine.runner.checkpoint as mm_checkpoint
    from mmengine.logging import print_log

    def load_from_local_path(filename: str, map_location: Any = None) -> Any:
        return load_checkpoint_file(filename, map_location=map_location)

    def print_log_to_current(msg: Any, logger: Any = None, level: int = logging.INFO) -> None:
        if logger is None and str(msg).startswith('Loads checkpoint by '):
            logger = 'current'
        print_log(msg, logger=logger, level=level)

    mm_checkpoint.CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_path, force=True)
    mm_checkpoint.print_log = print_log_to_current
