"""Drawing predictions on images (``tools/test.py --show-dir``): the mechanism only.

Each decoded field is drawn by the drawer its task registers (the core draws no field
itself): ``@register_drawer('circles')`` on a function ``(canvas, value, color) -> (x, y)``
that draws one detection's value on the BGR canvas in place and returns where its label goes
(or ``None`` when nothing of it is visible). A field that needs the image's geometry to be
drawn (a 3D task's camera, read from the image's per-task metas) registers with
``with_meta=True`` and its drawer gets the sample's :class:`~centerx.structures.ImageMeta` as
a fourth argument. Fields without a drawer are not drawn.
"""
from __future__ import annotations

from typing import Callable, Collection, Dict, Optional, Sequence, Set, Tuple

import cv2
import numpy as np

from centerx.structures import DetSample

Drawer = Callable[..., Optional[Tuple[int, int]]]

#: field name -> drawer, in registration order, which is the labels' priority (the first drawn
#: field of a detection anchors its label)
FIELD_DRAWERS: Dict[str, Drawer] = {}
#: fields whose drawer takes the sample's ImageMeta as a fourth argument
FIELDS_DRAWN_WITH_META: Set[str] = set()


def register_drawer(field: str, with_meta: bool = False, force: bool = False) -> Callable[[Drawer], Drawer]:
    """Register ``fn(canvas, value, color) -> (x, y) | None`` as the drawer of predictions'
    ``field``; with ``with_meta=True`` it is called as ``fn(canvas, value, color, meta)``.

    Raises:
        KeyError: ``field`` already has another drawer (naming both); pass ``force=True`` to
            replace it.
    """
    def wrap(fn: Drawer) -> Drawer:
        old = FIELD_DRAWERS.get(field)
        if old is not None and not force and _name(old) != _name(fn):
            raise KeyError(f'field {field!r} already has the drawer {_name(old)}; {_name(fn)} would replace it '
                           '(pass force=True to register_drawer to do so)')
        FIELD_DRAWERS[field] = fn
        if with_meta:
            FIELDS_DRAWN_WITH_META.add(field)
        else:
            FIELDS_DRAWN_WITH_META.discard(field)
        return fn
    return wrap


def _name(fn: Drawer) -> str:
    return f'{fn.__module__}.{fn.__qualname__}'


def _color(label: int) -> tuple:
    rng = np.random.default_rng(label * 7919 + 17)
    return tuple(int(c) for c in rng.integers(64, 256, 3))


def _draw_field(field: str, canvas: np.ndarray, value: np.ndarray, color, sample: DetSample
                ) -> Optional[Tuple[int, int]]:
    extra = (sample.meta,) if field in FIELDS_DRAWN_WITH_META else ()
    return FIELD_DRAWERS[field](canvas, value, color, *extra)


def draw_predictions(img: np.ndarray, sample: DetSample, classes: Sequence[str], score_thr: float = 0.3,
                     heads: Optional[Collection[str]] = None) -> np.ndarray:
    """Draw the predictions above ``score_thr`` of every head (of ``heads`` when given) on a copy
    of a BGR image: every field that has a registered drawer, and the class name and score at the
    first drawn field."""
    canvas = img.copy()
    for name, pred in sample.preds.items():
        if heads is not None and name not in heads:
            continue
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
