"""How each kind of annotation moves under an image-space affine warp.

Every field of a sample's ``instances`` must have a registered kind (key = field name),
so that a geometric transform can never leave a field behind unwarped. The core registers
the fields every task shares: ``labels`` and ``ignore`` (:class:`StaticKind`) and
``bboxes`` (:class:`BoxKind`, axis-aligned xyxy boxes: the 2D box of Box2DTask, the person
box of keypoint datasets, the optional 2D box of 3D datasets). A task that adds an
annotation field registers its kind next to the task::

    @ANNOTATION_KINDS.register_module(name='circles')
    class CircleKind(AnnotationKind):
        def warp(self, values, matrix, ctx): ...
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Tuple

import numpy as np

from centerx.registry import ANNOTATION_KINDS

from .geometry import apply_to_points


@dataclass
class WarpContext:
    """What a kind may need to warp its values.

    Attributes:
        out_shape: (height, width) of the warped image.
        flip: this step mirrors the image horizontally (left/right semantics swap).
        metainfo: the dataset's metainfo (left/right pairs a kind swaps under a flip ...).
        meta: the sample's ImageMeta *before* this step (with its per-task metas).
    """

    out_shape: Tuple[int, int]
    flip: bool = False
    metainfo: Dict[str, Any] = field(default_factory=dict)
    meta: Any = None


class AnnotationKind:
    """Base class: ``warp(values, matrix (3, 3), ctx) -> values`` with the same leading dim N."""

    def warp(self, values: np.ndarray, matrix: np.ndarray, ctx: WarpContext) -> np.ndarray:
        raise NotImplementedError


@ANNOTATION_KINDS.register_module(name='labels')
@ANNOTATION_KINDS.register_module(name='ignore')
class StaticKind(AnnotationKind):
    """A per-object value that geometry does not change (class, ignore flag ...). Tasks
    register it under their own such fields' names."""

    def warp(self, values: np.ndarray, matrix: np.ndarray, ctx: WarpContext) -> np.ndarray:
        return values


@ANNOTATION_KINDS.register_module(name='bboxes')
class BoxKind(AnnotationKind):
    """(N, 4) xyxy boxes: the axis-aligned bound of the four warped corners.

    Exact for flips, scales and shifts; under rotation the box grows to the bound of the
    rotated box. Boxes are not clipped here (tasks clip to their grid), so no object
    is lost or changed by a crop that later moves it back.
    """

    def warp(self, values: np.ndarray, matrix: np.ndarray, ctx: WarpContext) -> np.ndarray:
        values = np.asarray(values, dtype=np.float32).reshape(-1, 4)
        x1, y1, x2, y2 = values.T
        corners = np.stack([np.stack([x1, y1], -1), np.stack([x2, y1], -1),
                            np.stack([x2, y2], -1), np.stack([x1, y2], -1)], axis=1)
        pts = apply_to_points(corners.astype(np.float64), matrix)
        return np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1).astype(np.float32)


def warp_instances(instances: Dict[str, np.ndarray], matrix: np.ndarray, ctx: WarpContext) -> Dict[str, np.ndarray]:
    """Warp every field of ``instances`` with its registered kind.

    Raises:
        KeyError: a field has no registered kind (names the field and the registered ones).
    """
    out = {}
    for name, values in instances.items():
        kind_cls = ANNOTATION_KINDS.get(name)
        if kind_cls is None:
            raise KeyError(f'annotation field {name!r} has no registered kind, so geometric transforms '
                           f'cannot move it; registered: {sorted(ANNOTATION_KINDS.module_dict)}. Register '
                           'one with @ANNOTATION_KINDS.register_module(name=...)')
        out[name] = kind_cls().warp(values, matrix, ctx)
    return out
