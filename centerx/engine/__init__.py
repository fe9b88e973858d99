"""Engine pieces around mmengine: safe checkpoint loading, launch helpers, hooks, optim wrappers
(with the non-finite loss guard)."""
from . import consistency, hooks, non_finite, optim_wrappers, progress, record_losses, visualizer  # noqa: F401  (register)
from .checkpoint import (CheckpointCorruptError, atomic_write_bytes, install_atomic_writes, install_safe_loader,
                         load_checkpoint_file)

install_safe_loader()
install_atomic_writes()

__all__ = ['CheckpointCorruptError', 'atomic_write_bytes', 'install_atomic_writes', 'install_safe_loader',
           'load_checkpoint_file']
