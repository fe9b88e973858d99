"""Rotated-box geometry: conversions between rotated boxes and 4-point polygons.

Conventions (used by the whole ``centerx_tasks.rotated`` package):

* An ``rbox`` is ``(cx, cy, w, h, theta)`` in image pixels, x to the right and
  y down. ``theta`` is the angle (radians) of the side of length ``w`` measured
  from the +x axis, positive towards +y (i.e. clockwise on screen).
* The *canonical long-edge form* has ``w >= h`` and ``theta`` in
  ``[-pi/2, pi/2)``; see :func:`canonical_rbox`.
* A polygon is 4 points ``(x1, y1, x2, y2, x3, y3, x4, y4)`` stored in the
  last dimension (size 8).

All torch functions are vectorized, device agnostic, keep the input dtype
(float32 or float64) and accept any number of leading batch dimensions:
``(..., 5)`` boxes and ``(..., 8)`` polygons.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "wrap_angle",
    "canonical_rbox",
    "rbox_to_poly",
    "poly_to_rbox",
    "min_area_rect",
    "rbox_to_hbox",
    "poly_to_hbox",
    "rbox_to_poly_np",
    "poly_to_rbox_np",
    "canonical_rbox_np",
]

_HALF_PI = math.pi / 2


def _check_last_dim(x: Tensor, size: int, name: str) -> None:
    if x.ndim < 1 or x.shape[-1] != size:
        raise ValueError(f"{name} must have shape (..., {size}), got {tuple(x.shape)}")


def wrap_angle(theta: Tensor) -> Tensor:
    """Wrap angles (radians) into ``[-pi/2, pi/2)`` with period ``pi``.

    Args:
        theta: any shape, floating point.

    Returns:
        Tensor of the same shape and dtype.
    """
    out = torch.remainder(theta + _HALF_PI, math.pi) - _HALF_PI
    # remainder() may round a tiny negative input up to exactly pi.
    return torch.where(out >= _HALF_PI, out - math.pi, out)


def canonical_rbox(rboxes: Tensor) -> Tensor:
    """Normalize rotated boxes to the long-edge form ``w >= h``, ``theta in [-pi/2, pi/2)``.

    When ``h > w`` the sides are swapped and ``theta`` is increased by ``pi/2``
    (the long side is perpendicular to the old ``w`` side); ``theta`` is then
    wrapped with period ``pi``. Negative sizes are replaced by their absolute
    value. The rectangle (as a point set) never changes.

    Tie rule for squares (``w == h``): no swap happens, only ``theta`` is
    wrapped. A square therefore keeps its orientation modulo ``pi`` and two
    descriptions of the same square can differ by ``pi/2`` in ``theta``.

    Args:
        rboxes: ``(..., 5)`` as ``(cx, cy, w, h, theta)``.

    Returns:
        ``(..., 5)`` canonical boxes, same dtype/device.
    """
    _check_last_dim(rboxes, 5, "rboxes")
    cx, cy, w, h, theta = rboxes.unbind(-1)
    w, h = w.abs(), h.abs()
    swap = h > w
    long_side = torch.where(swap, h, w)
    short_side = torch.where(swap, w, h)
    theta = wrap_angle(torch.where(swap, theta + _HALF_PI, theta))
    return torch.stack([cx, cy, long_side, short_side, theta], dim=-1)


def rbox_to_poly(rboxes: Tensor) -> Tensor:
    """Corners of rotated boxes.

    With ``u = (cos theta, sin theta)`` (direction of ``w``) and
    ``v = (-sin theta, cos theta)`` (direction of ``h``) the corners are, in
    order, ``c - w/2 u - h/2 v``, ``c + w/2 u - h/2 v``, ``c + w/2 u + h/2 v``,
    ``c - w/2 u + h/2 v``. For ``theta = 0`` this is top-left, top-right,
    bottom-right, bottom-left: clockwise on screen (y down), like DOTA labels.

    Args:
        rboxes: ``(..., 5)`` as ``(cx, cy, w, h, theta)``; need not be canonical.

    Returns:
        ``(..., 8)`` polygons ``(x1, y1, ..., x4, y4)``.
    """
    _check_last_dim(rboxes, 5, "rboxes")
    cx, cy, w, h, theta = rboxes.unbind(-1)
    cos, sin = torch.cos(theta), torch.sin(theta)
    ux, uy = 0.5 * w * cos, 0.5 * w * sin  # half of the w side
    vx, vy = -0.5 * h * sin, 0.5 * h * cos  # half of the h side
    return torch.stack(
        [
            cx - ux - vx, cy - uy - vy,
            cx + ux - vx, cy + uy - vy,
            cx + ux + vx, cy + uy + vy,
            cx - ux + vx, cy - uy + vy,
        ],
        dim=-1,
    )


def min_area_rect(points: Tensor) -> Tensor:
    """Minimum-area enclosing rectangle of small point sets, in canonical form.

    The minimum-area rectangle enclosing a point set has a side collinear with
    an edge of the point set's convex hull. Every hull edge joins two of the
    points, so trying the direction of every point pair (``V (V - 1) / 2``
    candidates) and keeping the smallest bounding rectangle is exact for any
    input: convex, non-convex, self-intersecting or with repeated points
    (repeated points give zero-length pairs, which are ignored). Collinear
    points give a rectangle with ``h = 0``; if all points coincide the result
    is ``(x, y, 0, 0, 0)``. Among directions with equal area the first pair
    (in ``triu_indices`` order) wins.

    Args:
        points: ``(..., V, 2)`` with ``V >= 2``; pad variable-size sets by
            repeating one of their points.

    Returns:
        ``(..., 5)`` canonical rboxes.
    """
    if points.ndim < 2 or points.shape[-1] != 2 or points.shape[-2] < 2:
        raise ValueError(f"points must have shape (..., V>=2, 2), got {tuple(points.shape)}")
    num_points = points.shape[-2]
    origin = points.mean(dim=-2, keepdim=True)  # improves float32 precision
    pts = points - origin  # (..., V, 2)
    # the pairs i < j in triu_indices order, as index lists built from the static point count
    # (ONNX has no triu_indices; list indices trace as constants)
    pairs = [(i, j) for i in range(num_points) for j in range(i + 1, num_points)]
    first, second = [i for i, _ in pairs], [j for _, j in pairs]
    direction = pts[..., second, :] - pts[..., first, :]  # (..., E, 2)
    length = torch.linalg.vector_norm(direction, dim=-1)  # (..., E)
    valid = length > 0
    tiny = torch.finfo(points.dtype).tiny
    unit = direction / length.clamp_min(tiny).unsqueeze(-1)  # zero vector where invalid
    normal = torch.stack([-unit[..., 1], unit[..., 0]], dim=-1)
    along = torch.einsum("...ek,...vk->...ev", unit, pts)  # (..., E, V)
    across = torch.einsum("...ek,...vk->...ev", normal, pts)
    a_min, a_max = along.amin(dim=-1), along.amax(dim=-1)  # (..., E)
    b_min, b_max = across.amin(dim=-1), across.amax(dim=-1)
    area = (a_max - a_min) * (b_max - b_min)
    area = torch.where(valid, area, torch.full_like(area, math.inf))
    best = area.argmin(dim=-1, keepdim=True)  # (..., 1)

    def pick(x: Tensor) -> Tensor:
        return torch.gather(x, -1, best).squeeze(-1)

    ux, uy = pick(unit[..., 0]), pick(unit[..., 1])
    a_lo, a_hi, b_lo, b_hi = pick(a_min), pick(a_max), pick(b_min), pick(b_max)
    a_mid, b_mid = 0.5 * (a_lo + a_hi), 0.5 * (b_lo + b_hi)
    cx = origin[..., 0, 0] + ux * a_mid - uy * b_mid
    cy = origin[..., 0, 1] + uy * a_mid + ux * b_mid
    theta = torch.atan2(uy, ux)
    rbox = torch.stack([cx, cy, a_hi - a_lo, b_hi - b_lo, theta], dim=-1)
    return canonical_rbox(rbox)


def poly_to_rbox(polys: Tensor) -> Tensor:
    """Minimum-area rotated rectangle enclosing each 4-point polygon.

    Exact for any quadrilateral: the rectangle encloses the convex hull of the
    4 vertices (so non-convex, self-intersecting ("bow-tie") and degenerate
    quads are handled through their hull); see :func:`min_area_rect`. For a
    true rectangle the result reproduces it exactly. For a square ``theta`` is
    only determined modulo ``pi/2`` (see the tie rule of :func:`canonical_rbox`).

    Args:
        polys: ``(..., 8)`` polygons ``(x1, y1, ..., x4, y4)``.

    Returns:
        ``(..., 5)`` canonical rboxes ``(cx, cy, w, h, theta)`` with ``w >= h``.
    """
    _check_last_dim(polys, 8, "polys")
    return min_area_rect(polys.reshape(*polys.shape[:-1], 4, 2))


def rbox_to_hbox(rboxes: Tensor) -> Tensor:
    """Axis-aligned box enclosing each rotated box.

    Args:
        rboxes: ``(..., 5)``.

    Returns:
        ``(..., 4)`` as ``(x1, y1, x2, y2)``.
    """
    _check_last_dim(rboxes, 5, "rboxes")
    cx, cy, w, h, theta = rboxes.unbind(-1)
    cos, sin = torch.cos(theta).abs(), torch.sin(theta).abs()
    half_x = 0.5 * (w.abs() * cos + h.abs() * sin)
    half_y = 0.5 * (w.abs() * sin + h.abs() * cos)
    return torch.stack([cx - half_x, cy - half_y, cx + half_x, cy + half_y], dim=-1)


def poly_to_hbox(polys: Tensor) -> Tensor:
    """Axis-aligned box enclosing each polygon.

    Args:
        polys: ``(..., 8)``.

    Returns:
        ``(..., 4)`` as ``(x1, y1, x2, y2)``.
    """
    _check_last_dim(polys, 8, "polys")
    xs, ys = polys[..., 0::2], polys[..., 1::2]
    return torch.stack([xs.amin(-1), ys.amin(-1), xs.amax(-1), ys.amax(-1)], dim=-1)


def _to_tensor(array: np.ndarray) -> Tensor:
    array = np.asarray(array)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    return torch.from_numpy(np.ascontiguousarray(array))


def rbox_to_poly_np(rboxes: np.ndarray) -> np.ndarray:
    """NumPy version of :func:`rbox_to_poly`: ``(..., 5) -> (..., 8)``.

    float32 stays float32; every other dtype is computed in float64.
    """
    return rbox_to_poly(_to_tensor(rboxes)).numpy()


def poly_to_rbox_np(polys: np.ndarray) -> np.ndarray:
    """NumPy version of :func:`poly_to_rbox`: ``(..., 8) -> (..., 5)``.

    float32 stays float32; every other dtype is computed in float64.
    """
    return poly_to_rbox(_to_tensor(polys)).numpy()


def canonical_rbox_np(rboxes: np.ndarray) -> np.ndarray:
    """NumPy version of :func:`canonical_rbox`: ``(..., 5) -> (..., 5)``."""
    return canonical_rbox(_to_tensor(rboxes)).numpy()
