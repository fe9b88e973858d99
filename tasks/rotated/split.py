"""Cutting large DOTA images into overlapping square patches (DOTA-devkit style).

Rules (all coordinates are pixels of the image *after* resizing by ``rate``):

* Windows: square, ``patch_size`` wide, stepping by ``patch_size - gap`` from
  0 along each axis; the last window of an axis is moved back so that it ends
  exactly at the image border (``x0 = W - patch_size``). An axis shorter than
  ``patch_size`` gets a single window at 0, and the patch image is padded at
  the right / bottom with ``pad_value`` up to ``patch_size x patch_size``
  (the devkit's ``padding=True``). Window order: x0 outer loop, y0 inner loop.
* The window region is ``[x0, x0 + patch_size] x [y0, y0 + patch_size]``
  (padding included, so objects lying in the padded area are not cut).
* An object whose 4 vertices all lie in the window is *fully inside*: it keeps
  its polygon (shifted to patch coordinates) and its difficulty.
* Otherwise its intersection-over-object-area ``iof`` (object = convex hull of
  its quad) is computed. If ``iof >= iof_thr`` (and ``iof > 0``) it is kept as
  *partial*: its polygon becomes the minimum-area rectangle of the clipped
  region (4 corners; they can lie slightly outside the patch) and its
  difficulty is set to 2. If ``0 < iof < iof_thr`` it is left out of this patch
  and counted in ``Patch.num_truncated``.
  (The devkit keeps every cut piece, rewriting 5-vertex pieces to 4 points and
  dropping pieces with more vertices, and marks the small ones difficult 2;
  here small pieces are dropped and counted instead.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import cv2
import numpy as np
import shapely
import torch

from .geometry import min_area_rect, rbox_to_poly
from .patch_names import format_patch_name
from .polygon_iou import hbox_overlap_pairs, quad_hboxes, quads_to_geoms

__all__ = [
    "Patch",
    "SplitStats",
    "window_starts",
    "sliding_windows",
    "resize_image",
    "split_image",
    "split_stats",
]


@dataclass
class Patch:
    """One square patch and the K objects assigned to it.

    Attributes:
        image: ``(patch_size, patch_size[, C])`` patch pixels (a copy).
        x0, y0: top-left corner of the window in the resized image.
        rate: resize factor applied to the full image.
        polys: ``(K, 8)`` float32 polygons in patch coordinates.
        labels: ``(K,)`` int64 class indices.
        difficulty: ``(K,)`` int64 0/1/2 (2 = partial, cut by the patch border).
        source_index: ``(K,)`` int64 row of each object in the input arrays.
        iof: ``(K,)`` float64 intersection over object area (1 for fully inside).
        num_truncated: objects cut by this window with ``0 < iof < iof_thr``
            (not in ``polys``).
    """

    image: np.ndarray
    x0: int
    y0: int
    rate: float
    polys: np.ndarray
    labels: np.ndarray
    difficulty: np.ndarray
    source_index: np.ndarray
    iof: np.ndarray
    num_truncated: int = 0

    @property
    def partial(self) -> np.ndarray:
        """``(K,)`` bool: object was cut by the window border."""
        return self.iof < 1.0

    def name(self, image_id: str) -> str:
        """Devkit patch name ``<image_id>__<rate>__<x0>___<y0>``."""
        return format_patch_name(image_id, self.rate, self.x0, self.y0)


@dataclass
class SplitStats:
    """Counters of a split; add them up over images with ``+``.

    ``kept_full`` / ``kept_partial`` / ``truncated`` count (object, patch)
    instances; ``objects_lost`` counts objects present in no patch at all and
    ``objects_only_partial`` objects never fully inside any patch (they only
    survive as clipped pieces).
    """

    images: int = 0
    patches: int = 0
    objects: int = 0
    kept_full: int = 0
    kept_partial: int = 0
    truncated: int = 0
    objects_lost: int = 0
    objects_only_partial: int = 0

    def __add__(self, other: "SplitStats") -> "SplitStats":
        return SplitStats(**{k: getattr(self, k) + getattr(other, k) for k in self.__dataclass_fields__})

    def summary(self) -> str:
        return (
            f"{self.images} images -> {self.patches} patches; {self.objects} objects: "
            f"{self.kept_full} kept whole, {self.kept_partial} kept partial (difficult=2), "
            f"{self.truncated} truncated below iof_thr (dropped from that patch); "
            f"{self.objects_only_partial} objects never whole in any patch, "
            f"{self.objects_lost} objects in no patch"
        )


def window_starts(length: int, patch_size: int, gap: int) -> np.ndarray:
    """Start offsets of the windows along one axis.

    ``0, s, 2s, ...`` (``s = patch_size - gap``) while the window ends inside
    the image, then ``max(length - patch_size, 0)`` so the last one ends at the
    border. Returns an int64 array ``(n,)``.
    """
    if patch_size <= 0 or not 0 <= gap < patch_size:
        raise ValueError(f"need patch_size > 0 and 0 <= gap < patch_size, got {patch_size}, {gap}")
    starts = np.arange(0, max(length - patch_size, 0), patch_size - gap, dtype=np.int64)
    return np.append(starts, max(length - patch_size, 0)).astype(np.int64)


def sliding_windows(width: int, height: int, patch_size: int, gap: int) -> np.ndarray:
    """All window corners ``(K, 2)`` int64 as ``(x0, y0)``, x0 outer / y0 inner loop."""
    xs = window_starts(width, patch_size, gap)
    ys = window_starts(height, patch_size, gap)
    grid_x, grid_y = np.meshgrid(xs, ys, indexing="ij")
    return np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)


def resize_image(img: np.ndarray, rate: float) -> np.ndarray:
    """Resize by ``rate`` with bicubic interpolation (devkit); size rounds half up."""
    if rate == 1:
        return img
    height, width = img.shape[:2]
    size = (int(np.floor(width * rate + 0.5)), int(np.floor(height * rate + 0.5)))
    return cv2.resize(img, size, interpolation=cv2.INTER_CUBIC)


def _crop_padded(img: np.ndarray, x0: int, y0: int, size: int, pad_value: float) -> np.ndarray:
    crop = img[y0 : y0 + size, x0 : x0 + size]
    if crop.shape[0] == size and crop.shape[1] == size:
        return crop.copy()
    out = np.full((size, size) + img.shape[2:], pad_value, dtype=img.dtype)
    out[: crop.shape[0], : crop.shape[1]] = crop
    return out


def _pieces_to_quads(pieces: np.ndarray) -> np.ndarray:
    """Minimum-area rectangles (as ``(P, 8)`` float64 polygons) of convex shapely polygons."""
    if len(pieces) == 0:
        return np.zeros((0, 8), dtype=np.float64)
    coords, owner = shapely.get_coordinates(shapely.get_exterior_ring(pieces), return_index=True)
    counts = np.bincount(owner, minlength=len(pieces))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    padded = np.repeat(coords[starts][:, None, :], counts.max(), axis=1)  # pad with vertex 0
    padded[owner, np.arange(len(owner)) - starts[owner]] = coords
    rboxes = min_area_rect(torch.from_numpy(padded))
    return rbox_to_poly(rboxes).numpy()


def _assign_objects(
    polys: np.ndarray, windows: np.ndarray, patch_size: int, iof_thr: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Objects per window, vectorized over all (object, window) pairs.

    Returns arrays over kept (object, window) instances: object index,
    window index, iof, ``(K, 8)`` polygons in image coordinates, and per
    window the count of truncated objects ``(num_windows,)``.
    """
    num_windows = len(windows)
    win_boxes = np.concatenate([windows, windows + patch_size], axis=1).astype(np.float64)
    obj_idx, win_idx = hbox_overlap_pairs(quad_hboxes(polys), win_boxes)
    xs, ys = polys[obj_idx, 0::2], polys[obj_idx, 1::2]  # (P, 4)
    wx, wy = win_boxes[win_idx, 0:1], win_boxes[win_idx, 1:2]
    inside = np.all((xs >= wx) & (xs <= wx + patch_size) & (ys >= wy) & (ys <= wy + patch_size), axis=1)

    cut_obj, cut_win = obj_idx[~inside], win_idx[~inside]
    obj_geoms = quads_to_geoms(polys)
    win_geoms = shapely.box(*win_boxes.T)
    pieces = shapely.intersection(obj_geoms[cut_obj], win_geoms[cut_win])
    obj_area = shapely.area(obj_geoms)[cut_obj]
    iof = np.zeros(len(cut_obj), dtype=np.float64)
    np.divide(shapely.area(pieces), obj_area, out=iof, where=obj_area > 0)
    keep_cut = (iof >= iof_thr) & (iof > 0)
    truncated = (iof > 0) & ~keep_cut
    num_truncated = np.bincount(cut_win[truncated], minlength=num_windows)

    cut_polys = _pieces_to_quads(pieces[keep_cut])
    kept_obj = np.concatenate([obj_idx[inside], cut_obj[keep_cut]])
    kept_win = np.concatenate([win_idx[inside], cut_win[keep_cut]])
    kept_iof = np.concatenate([np.ones(int(inside.sum())), iof[keep_cut]])
    kept_polys = np.concatenate([polys[obj_idx[inside]], cut_polys], axis=0)
    order = np.lexsort((kept_obj, kept_win))  # by window, then object
    return kept_obj[order], kept_win[order], kept_iof[order], kept_polys[order], num_truncated


def split_image(
    img: np.ndarray,
    polys: Optional[np.ndarray] = None,
    labels: Optional[np.ndarray] = None,
    difficult: Optional[np.ndarray] = None,
    patch_size: int = 1024,
    gap: int = 200,
    rate: float = 1.0,
    iof_thr: float = 0.7,
    pad_value: float = 0,
) -> list[Patch]:
    """Resize an image by ``rate`` and cut it into overlapping square patches.

    See the module docstring for the window and object rules.

    Args:
        img: ``(H, W)`` or ``(H, W, C)`` image of the original size.
        polys: ``(N, 8)`` object polygons in original-image pixels, or None
            (unlabelled image: patches carry no objects).
        labels: ``(N,)`` class indices (default zeros).
        difficult: ``(N,)`` bool or int 0/1/2 (default zeros).
        patch_size: side of the square patches.
        gap: overlap between neighbouring windows (``0 <= gap < patch_size``).
        rate: resize factor applied to image and polygons before cutting.
        iof_thr: minimum intersection-over-object-area to keep a cut object.
        pad_value: fill value for the padded area of small images.

    Returns:
        Patches in window order (x0 outer, y0 inner), including empty ones.
    """
    resized = resize_image(img, rate)
    height, width = resized.shape[:2]
    windows = sliding_windows(width, height, patch_size, gap)
    if polys is None:
        polys = np.zeros((0, 8), dtype=np.float64)
    polys = np.asarray(polys, dtype=np.float64).reshape(-1, 8) * rate
    n = len(polys)
    labels = np.zeros(n, np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    difficulty = np.zeros(n, np.int64) if difficult is None else np.asarray(difficult).astype(np.int64)
    if labels.shape != (n,) or difficulty.shape != (n,):
        raise ValueError("labels and difficult must have shape (N,)")

    obj, win, iof, kept_polys, num_truncated = _assign_objects(polys, windows, patch_size, iof_thr)
    bounds = np.searchsorted(win, np.arange(len(windows) + 1))
    patches: list[Patch] = []
    for k, (x0, y0) in enumerate(windows.tolist()):
        sl = slice(bounds[k], bounds[k + 1])
        src = obj[sl]
        piece_iof = iof[sl]
        shifted = kept_polys[sl] - np.tile([x0, y0], 4)
        patches.append(
            Patch(
                image=_crop_padded(resized, x0, y0, patch_size, pad_value),
                x0=x0,
                y0=y0,
                rate=float(rate),
                polys=shifted.astype(np.float32),
                labels=labels[src],
                difficulty=np.where(piece_iof < 1.0, 2, difficulty[src]).astype(np.int64),
                source_index=src,
                iof=piece_iof,
                num_truncated=int(num_truncated[k]),
            )
        )
    return patches


def split_stats(patches: Sequence[Patch], num_objects: int) -> SplitStats:
    """Counters for the patches of one image (all rates) with ``num_objects`` objects."""
    seen = np.zeros(num_objects, dtype=bool)
    whole = np.zeros(num_objects, dtype=bool)
    kept_full = kept_partial = truncated = 0
    for patch in patches:
        part = patch.partial
        seen[patch.source_index] = True
        whole[patch.source_index[~part]] = True
        kept_full += int((~part).sum())
        kept_partial += int(part.sum())
        truncated += patch.num_truncated
    return SplitStats(
        images=1,
        patches=len(patches),
        objects=num_objects,
        kept_full=kept_full,
        kept_partial=kept_partial,
        truncated=truncated,
        objects_lost=int((~seen).sum()),
        objects_only_partial=int((seen & ~whole).sum()),
    )
