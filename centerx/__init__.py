"""centerx: CenterNet-style detection with pluggable tasks."""
from . import registry  # noqa: F401
from . import data, decode, engine, evaluation, heatmap, losses, models, structures, task  # noqa: F401

__version__ = '0.1.0'
