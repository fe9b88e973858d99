"""Typed per-image geometry that travels with every sample.

Every image-space transform (flip, random scale/shift/crop, test-time resize) is an
affine map; they compose into one 3x3 matrix ``affine`` from original-image pixels to
network-input pixels. Decoders map their outputs back with ``inverse_affine``.

What only one task needs about an image (a camera, a map tile ...) travels in
``task_metas``: objects of the task's own types, keyed by their type, which ImageMeta
carries without knowing them (see :meth:`ImageMeta.task_meta`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, Mapping, Optional, Tuple, Type, TypeVar, Union

import numpy as np

T = TypeVar('T')


@dataclass
class ImageMeta:
    """Geometry and identity of one image.

    Attributes:
        img_id: dataset id of the image (COCO image id, DOTA image name ...).
        img_path: path of the image file.
        ori_shape: (height, width) of the original image.
        img_shape: (height, width) of the network input after the warp.
        pad_shape: (height, width) after batch padding (>= img_shape).
        affine: (3, 3) float64, original-image pixel -> input pixel (homogeneous).
        flipped: whether a horizontal flip is part of ``affine``.
        task_metas: per-task metadata, ``{type: object of that type}``; given as that dict
            or as a sequence of objects (at most one per type). They describe the
            *original* image and never change under transforms: a value of the network
            input is computed when read, from ``affine`` and ``flipped``.
        extras: typed-by-convention values of user plugins (documented by the plugin).
    """

    img_id: Any
    img_path: str
    ori_shape: Tuple[int, int]
    img_shape: Tuple[int, int] = (0, 0)
    pad_shape: Tuple[int, int] = (0, 0)
    affine: np.ndarray = field(default_factory=lambda: np.eye(3))
    flipped: bool = False
    task_metas: Dict[type, Any] = field(default_factory=dict)
    extras: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.task_metas = self._keyed_by_type(self.task_metas)

    def _keyed_by_type(self, metas: Union[Mapping[type, Any], Iterable[Any]]) -> Dict[type, Any]:
        """``{type(m): m}`` of a sequence of metas (or a checked copy of such a dict)."""
        if isinstance(metas, Mapping):
            for key, value in metas.items():
                if type(value) is not key:
                    raise TypeError(f'image {self.img_path!r}: task_metas[{getattr(key, "__name__", key)!r}] '
                                    f'holds a {type(value).__name__}; task metas are keyed by their own type')
            return dict(metas)
        keyed: Dict[type, Any] = {}
        for value in metas:
            self._check_new(keyed, value)
            keyed[type(value)] = value
        return keyed

    def _check_new(self, keyed: Mapping[type, Any], value: Any) -> None:
        if value is None:
            raise TypeError(f'image {self.img_path!r}: a task meta is None; leave it out instead')
        if type(value) in keyed:
            raise ValueError(f'image {self.img_path!r} already carries a {type(value).__name__} task meta; '
                             'an image has at most one of each type')

    def attach(self, task_meta: Any) -> None:
        """Carry ``task_meta`` (keyed by its type).

        Raises:
            ValueError: the image already carries a meta of that type (naming the image).
        """
        self._check_new(self.task_metas, task_meta)
        self.task_metas[type(task_meta)] = task_meta

    def find_task_meta(self, kind: Type[T]) -> Optional[T]:
        """The image's meta of type ``kind``, or None when it carries none."""
        return self.task_metas.get(kind)

    def task_meta(self, kind: Type[T]) -> T:
        """The image's meta of type ``kind``.

        Raises:
            LookupError: the image carries none (naming the image, the type and what it carries).
        """
        value = self.task_metas.get(kind)
        if value is None:
            carried = sorted(t.__name__ for t in self.task_metas) or 'none'
            raise LookupError(f'image {self.img_path!r} (img_id={self.img_id!r}) carries no {kind.__name__} '
                              f'(its task metas: {carried}); the dataset must attach one')
        return value

    @property
    def inverse_affine(self) -> np.ndarray:
        """(3, 3) float64, input pixel -> original-image pixel."""
        return np.linalg.inv(self.affine)

    def compose(self, matrix: np.ndarray, out_shape: Tuple[int, int], flip: bool = False) -> None:
        """Prepend an image-space step: ``affine <- matrix @ affine``.

        Args:
            matrix: (3, 3) or (2, 3) map from the current image to the new one.
            out_shape: (height, width) of the new image.
            flip: whether this step mirrors the image horizontally.
        """
        self.affine = as_3x3(matrix) @ self.affine
        self.img_shape = tuple(int(v) for v in out_shape)
        self.pad_shape = self.img_shape
        self.flipped = self.flipped != flip


def as_3x3(matrix: np.ndarray) -> np.ndarray:
    """Return a (3, 3) float64 homogeneous matrix from a (2, 3) or (3, 3) one."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape == (3, 3):
        return matrix
    if matrix.shape == (2, 3):
        return np.vstack([matrix, [0.0, 0.0, 1.0]])
    raise ValueError(f'expected a (2, 3) or (3, 3) affine matrix, got shape {matrix.shape}')
