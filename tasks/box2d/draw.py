"""Drawing decoded 2D boxes (``bboxes`` (4,) xyxy, original-image pixels) for
``tools/test.py --show-dir``."""
from __future__ import annotations

from typing import Tuple

import cv2
import numpy as np

from centerx.visualization import register_drawer


@register_drawer('bboxes')
def draw_box(canvas: np.ndarray, value: np.ndarray, color: Tuple[int, int, int]) -> Tuple[int, int]:
    """Draw one (4,) xyxy box as a rectangle; the label goes at its top-left corner."""
    x1, y1, x2, y2 = value.round().astype(int)
    cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
    return int(x1), int(y1)
