"""Drawing decoded oriented boxes (``polygons`` (8,) four corners x1 y1 ... x4 y4,
original-image pixels) for ``tools/test.py --show-dir``."""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

from centerx.visualization import register_drawer


@register_drawer('polygons')
def draw_polygon(canvas: np.ndarray, value: np.ndarray, color: Tuple[int, int, int]) -> Tuple[int, int]:
    """Draw one (8,) quadrilateral closed; the label goes at its first corner."""
    pts = value.reshape(4, 2).round().astype(np.int32)
    cv2.polylines(canvas, [pts], True, color, 2)
    return int(pts[0, 0]), int(pts[0, 1])
