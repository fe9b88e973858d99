"""The task plugin API: the base class and the structures tasks exchange with the core."""
from .base import Task
from .collate import concat_instances
from .presence import Presence, presence_of
from .size_codec import SizeCodec
from .targets import Centers, DecodeContext, Grid, grid_to_image

__all__ = ['Task', 'Centers', 'DecodeContext', 'Grid', 'Presence', 'SizeCodec', 'concat_instances',
           'grid_to_image', 'presence_of']
