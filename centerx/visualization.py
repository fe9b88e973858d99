"""Drawing predictions on images (``tools/test.py --show-dir``): the mechanism only.

Each decoded field is drawn by the drawer its task registers (the core draws no field
itself): ``@register_drawer('circles')`` on a function ``(canvas, value, color) -> (x, y)``
that draws one detection's value on the BGR canvas in place and returns where its label goes
(or ``None`` when nothing of it is visible). A field that needs the image's geometry to be
drawn (a 3D task's camera, read from the image's per-task metas) registers with
``with_meta=True`` and its drawer gets the sample's :class:`~centerx.structures.ImageMeta` as
a fourth argument. Fields without a drawer are not drawn.

Ground truth (``tools/browse_dataset.py``) is drawn by the same drawers, on the network input:
:func:`draw_ground_truth` hands them the input's view of the image meta (:func:`input_view`),
in which a task meta that depends on the image geometry (a camera) describes the network input
(the meta's own ``for_input_image(affine, flipped)``). Target heatmaps are shown with
:func:`heatmap_overlay`.
"""
from __future__ import annotations

from typing import Callable, Collection, Dict, Optional, Sequence, Set, Tuple

import cv2
import numpy as np

from centerx.structures import DetSample, ImageMeta

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


def _draw_field(field: str, canvas: np.ndarray, value: np.ndarray, color, meta: ImageMeta
                ) -> Optional[Tuple[int, int]]:
    extra = (meta,) if field in FIELDS_DRAWN_WITH_META else ()
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
            anchors = [_draw_field(f, canvas, values[f][i], color, sample.meta) for f in fields]
            anchors = [a for a in anchors if a is not None]
            if not anchors:
                continue
            name = classes[label] if label < len(classes) else str(label)
            cv2.putText(canvas, f'{name} {score:.2f}', (anchors[0][0], max(anchors[0][1] - 3, 10)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
    return canvas


#: colour of ignored ground-truth objects (crowd regions ...)
IGNORED_COLOR = (160, 160, 160)


def input_view(meta: ImageMeta) -> ImageMeta:
    """The meta of the network input seen as an image of its own (what its ground truth is in):
    shape ``img_shape``, identity ``affine``; each task meta with a
    ``for_input_image(affine, flipped)`` method is replaced by what it returns (the meta of the
    input image), the others are carried unchanged (they do not depend on the geometry)."""
    metas = [m.for_input_image(meta.affine, meta.flipped) if hasattr(m, 'for_input_image') else m
             for m in meta.task_metas.values()]
    return ImageMeta(img_id=meta.img_id, img_path=meta.img_path, ori_shape=tuple(meta.img_shape),
                     img_shape=tuple(meta.img_shape), pad_shape=tuple(meta.pad_shape), task_metas=metas,
                     extras=dict(meta.extras))


def draw_ground_truth(img: np.ndarray, sample: DetSample, classes: Sequence[str]) -> np.ndarray:
    """Draw ``sample.gt`` (network-input pixels) on a copy of the network-input BGR image ``img``:
    every field with a registered drawer, the class name at the first drawn field; ignored
    objects (``gt.ignore``) in grey, named ``<class> (ignored)``. A value that is NaN throughout
    (a field the object's source does not annotate) is not drawn."""
    canvas = img.copy()
    gt = sample.gt
    if 'labels' not in gt or len(gt.labels) == 0:
        return canvas
    meta = input_view(sample.meta)
    fields = [f for f in FIELD_DRAWERS if f in gt]
    values = {f: gt.get(f).detach().cpu().numpy() for f in fields}
    ignore = gt.ignore.cpu().tolist() if 'ignore' in gt else [False] * len(gt.labels)
    for i, label in enumerate(gt.labels.tolist()):
        color = IGNORED_COLOR if ignore[i] else _color(label)
        anchors = [_draw_field(f, canvas, values[f][i], color, meta) for f in fields
                   if not np.isnan(values[f][i]).all()]
        anchors = [a for a in anchors if a is not None]
        if not anchors:
            continue
        name = classes[label] if 0 <= label < len(classes) else str(label)
        cv2.putText(canvas, name + (' (ignored)' if ignore[i] else ''), (anchors[0][0], max(anchors[0][1] - 3, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, color, 1, cv2.LINE_AA)
    return canvas


def heatmap_overlay(img: np.ndarray, heat: np.ndarray, title: str = '', stride: Optional[int] = None,
                    weight: float = 0.7) -> np.ndarray:
    """A (h, w) heatmap in [0, 1] as a colour map over the dimmed BGR image ``img``
    (H, W, 3), with ``title`` written in the top-left corner. With ``stride`` each cell covers
    ``stride`` x ``stride`` pixels from the top-left corner (an output grid; cropped to the
    image), without it the heatmap is stretched to the image."""
    heat = np.clip(np.nan_to_num(np.asarray(heat, dtype=np.float32)), 0.0, 1.0)
    if heat.ndim != 2:
        raise ValueError(f'heatmap_overlay expects a (H, W) heatmap, got shape {heat.shape}')
    h, w = img.shape[:2]
    if stride:
        scaled = np.zeros((h, w), np.float32)
        blocks = heat.repeat(stride, axis=0).repeat(stride, axis=1)[:h, :w]
        scaled[:blocks.shape[0], :blocks.shape[1]] = blocks
    else:
        scaled = cv2.resize(heat, (w, h), interpolation=cv2.INTER_NEAREST)
    colour = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    out = cv2.addWeighted(img, 1.0 - weight, colour, weight, 0.0)
    if title:
        put_title(out, title)
    return out


def put_title(canvas: np.ndarray, title: str) -> None:
    """Write ``title`` in white on black in the top-left corner of ``canvas`` (in place)."""
    (tw, th), _ = cv2.getTextSize(title, cv2.FONT_HERSHEY_SIMPLEX, 0.4, 1)
    cv2.rectangle(canvas, (0, 0), (tw + 4, th + 6), (0, 0, 0), -1)
    cv2.putText(canvas, title, (2, th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
