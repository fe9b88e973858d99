"""Drawing predictions on images (``tools/test.py --show-dir``).

Each decoded field is drawn by a registered drawer, so a plugin's field (circles, ...) is
drawn too: ``@register_drawer('circles')`` on a function ``(canvas, value, color) -> (x, y)``
that draws one detection's value on the BGR canvas in place and returns where its label goes
(or ``None`` when nothing of it is visible). A field that needs the image's geometry to be
drawn (3D boxes need the intrinsics) registers with ``with_meta=True`` and its drawer gets the
sample's :class:`~centerx.structures.ImageMeta` as a fourth argument.
"""
from __future__ import annotations

from typing import Callable, Dict, Optional, Sequence, Set, Tuple

import cv2
import numpy as np

from centerx.structures import DetSample

Drawer = Callable[..., Optional[Tuple[int, int]]]

#: field name -> drawer, in drawing priority order (the first field a head has anchors the label)
FIELD_DRAWERS: Dict[str, Drawer] = {}
#: fields whose drawer takes the sample's ImageMeta as a fourth argument
FIELDS_DRAWN_WITH_META: Set[str] = set()


def register_drawer(field: str, with_meta: bool = False) -> Callable[[Drawer], Drawer]:
    """Register ``fn(canvas, value, color) -> (x, y) | None`` as the drawer of predictions'
    ``field``; with ``with_meta=True`` it is called as ``fn(canvas, value, color, meta)``."""
    def wrap(fn: Drawer) -> Drawer:
        FIELD_DRAWERS[field] = fn
        if with_meta:
            FIELDS_DRAWN_WITH_META.add(field)
        else:
            FIELDS_DRAWN_WITH_META.discard(field)
        return fn
    return wrap


@register_drawer('polygons')
def _draw_polygon(canvas: np.ndarray, value: np.ndarray, color) -> Tuple[int, int]:
    pts = value.reshape(4, 2).round().astype(np.int32)
    cv2.polylines(canvas, [pts], True, color, 2)
    return int(pts[0, 0]), int(pts[0, 1])


@register_drawer('bboxes')
def _draw_box(canvas: np.ndarray, value: np.ndarray, color) -> Tuple[int, int]:
    x1, y1, x2, y2 = value.round().astype(int)
    cv2.rectangle(canvas, (x1, y1), (x2, y2), color, 2)
    return int(x1), int(y1)


@register_drawer('keypoints')
def _draw_keypoints(canvas: np.ndarray, value: np.ndarray, color) -> Tuple[int, int]:
    for x, y, s in value:
        if s > 0:
            cv2.circle(canvas, (int(round(x)), int(round(y))), 3, color, -1)
    return int(value[:, 0].min()), int(value[:, 1].min())


def _color(label: int) -> tuple:
    rng = np.random.default_rng(label * 7919 + 17)
    return tuple(int(c) for c in rng.integers(64, 256, 3))


def _draw_field(field: str, canvas: np.ndarray, value: np.ndarray, color, sample: DetSample
                ) -> Optional[Tuple[int, int]]:
    extra = (sample.meta,) if field in FIELDS_DRAWN_WITH_META else ()
    return FIELD_DRAWERS[field](canvas, value, color, *extra)


def draw_predictions(img: np.ndarray, sample: DetSample, classes: Sequence[str], score_thr: float = 0.3) -> np.ndarray:
    """Draw every head's predictions above ``score_thr`` on a copy of a BGR image: every field
    that has a registered drawer, and the class name and score at the first drawn field."""
    canvas = img.copy()
    for pred in sample.preds.values():
        keep = (pred.scores > score_thr).cpu()
        fields = [f for f in FIELD_DRAWERS if f in pred]
        values = {f: pred.get(f)[keep].detach().cpu().numpy() for f in fields}
        for i, (label, score) in enumerate(zip(pred.labels[keep].tolist(), pred.scores[keep].tolist())):
            color = _color(label)
            anchors = [_draw_field(f, canvas, values[f][i], color, sample) for f in fields]
            anchors = [a for a in anchors if a is not None]
            if not anchors:
                continue
            name = classes[label] if label < len(classes) else str(label)
            cv2.putText(canvas, f'{name} {score:.2f}', (anchors[0][0], max(anchors[0][1] - 3, 10)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
    return canvas
