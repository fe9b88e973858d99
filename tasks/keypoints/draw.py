"""Drawing decoded keypoints (``keypoints`` (K, 3) x, y, score, original-image pixels) for
``tools/test.py --show-dir``."""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

from centerx.visualization import register_drawer


@register_drawer('keypoints')
def draw_keypoints(canvas: np.ndarray, value: np.ndarray, color: Tuple[int, int, int]) -> Tuple[int, int]:
    """Draw the keypoints of one detection with a positive score as dots; the label goes at
    the top-left of all K keypoints."""
    for x, y, s in value:
        if s > 0:
            cv2.circle(canvas, (int(round(x)), int(round(y))), 3, color, -1)
    return int(value[:, 0].min()), int(value[:, 1].min())
