"""The task plugin API: the base class and the structures tasks exchange with the core."""
from .base import Task
from .collate import concat_instances
from .targets import Centers, DecodeContext, Grid, grid_to_image

__all__ = ['Task', 'Centers', 'DecodeContext', 'Grid', 'concat_instances', 'grid_to_image']
