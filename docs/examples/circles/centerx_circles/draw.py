"""How ``tools/test.py --show-dir`` draws a decoded circle."""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

from centerx.visualization import register_drawer


@register_drawer('circles')
def draw_circle(canvas: np.ndarray, value: np.ndarray, color: Tuple[int, int, int]) -> Tuple[int, int]:
    """Draw one (cx, cy, r) circle on the BGR canvas; the label goes above it."""
    cx, cy, r = (float(v) for v in value)
    cv2.circle(canvas, (int(round(cx)), int(round(cy))), max(int(round(r)), 1), color, 2)
    return int(round(cx - r)), int(round(cy - r))
