"""Drawing predictions on images (used by ``tools/test.py --show-dir``)."""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from centerx.structures import DetSample


def _color(label: int) -> tuple:
    rng = np.random.default_rng(label * 7919 + 17)
    return tuple(int(c) for c in rng.integers(64, 256, 3))


def draw_predictions(img: np.ndarray, sample: DetSample, classes: Sequence[str], score_thr: float = 0.3) -> np.ndarray:
    """Draw every head's predictions above ``score_thr`` on a copy of a BGR image.

    Draws ``polygons`` (D, 8) when a head decodes them, else ``bboxes`` (D, 4), and
    ``keypoints`` (D, K, 3) points when present, with class name and score.
    """
    canvas = img.copy()
    for pred in sample.preds.values():
        keep = pred.scores > score_thr
        labels = pred.labels[keep].tolist()
        scores = pred.scores[keep].tolist()
        boxes = pred.bboxes[keep].cpu().numpy() if 'bboxes' in pred else None
        polys = pred.polygons[keep].cpu().numpy() if 'polygons' in pred else None
        kpts = pred.keypoints[keep].cpu().numpy() if 'keypoints' in pred else None
        for i, (label, score) in enumerate(zip(labels, scores)):
            color = _color(label)
            name = classes[label] if label < len(classes) else str(label)
            if polys is not None:
                pts = polys[i].reshape(4, 2).round().astype(np.int32)
                cv2.polylines(canvas, [pts], True, color, 2)
                anchor = tuple(pts[0])
            elif boxes is not None:
                x1, y1, x2, y2 = boxes[i].round().astype(int)
                cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
                anchor = (x1, y1)
            else:
                continue
            if kpts is not None:
                for x, y, v in kpts[i]:
                    if v > 0:
                        cv2.circle(canvas, (int(round(x)), int(round(y))), 3, color, -1)
            cv2.putText(canvas, f'{name} {score:.2f}', (int(anchor[0]), max(int(anchor[1]) - 3, 10)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
    return canvas
