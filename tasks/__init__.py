"""Built-in tasks. Each one is a plugin written only against centerx's public API."""
from . import box2d, box3d, keypoints, rotated  # noqa: F401
