"""Built-in tasks. Each one is a plugin written only against centerx's public API."""
from . import box2d  # noqa: F401
from . import rotated  # noqa: F401
