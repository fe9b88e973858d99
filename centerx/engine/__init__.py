"""Engine pieces around mmengine: safe checkpoint loading, launch helpers, hooks, optim wrappers."""
from . import consistency, hooks, optim_wrappers, progress, record_losses  # noqa: F401  (register)
from .checkpoint import install_safe_loader, load_checkpoint_file

install_safe_loader()

__all__ = ['install_safe_loader', 'load_checkpoint_file']
