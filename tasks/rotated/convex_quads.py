"""NumPy-vectorized geometry of quadrilaterals through their convex hulls.

* :func:`quad_convex_hull` turns any 4 points into their convex hull, still as
  4 counter-clockwise vertices (``x`` right, ``y`` up orientation, i.e.
  positive shoelace area): the points are sorted by angle around their
  centroid (this untangles "bow-ties"), and a reflex vertex (a point inside
  the triangle of the other three) is replaced by a copy of its predecessor.
* :func:`convex_intersection_area` clips pairs of such hulls against each other
  (Sutherland-Hodgman, all pairs at once) and returns the intersection areas.

These are the fast path of :mod:`centerx_tasks.rotated.polygon_iou`; they agree with
shapely/GEOS on the same hulls to floating-point precision (see the tests).
"""

from __future__ import annotations

import numpy as np

__all__ = ["quad_convex_hull", "polygon_area", "power_of_two_scale", "convex_intersection_area"]


def polygon_area(points: np.ndarray) -> np.ndarray:
    """Signed shoelace area (positive = counter-clockwise with y up).

    Args:
        points: ``(K, V, 2)`` closed vertex rings (padding by repeated
            vertices is harmless).

    Returns:
        ``(K,)`` float64.
    """
    x, y = points[..., 0], points[..., 1]
    return 0.5 * (x * np.roll(y, -1, axis=-1) - np.roll(x, -1, axis=-1) * y).sum(-1)


def power_of_two_scale(values: np.ndarray) -> np.ndarray:
    """Exact per-row rescaling factors: ``(K, ...) -> (K,)`` powers of two ``2**-e``.

    ``max |values[k]| * 2**-e`` lies in ``[0.5, 1)`` (factor 1 for an all-zero row), so
    products of rescaled coordinates can neither overflow nor, for O(1) rings, underflow;
    multiplying by a power of two loses no bits.
    """
    peak = np.abs(values.reshape(len(values), -1)).max(axis=1, initial=0.0)
    _, exponent = np.frexp(peak)
    return np.ldexp(1.0, -exponent)


def quad_convex_hull(polys: np.ndarray) -> np.ndarray:
    """Convex hull of each 4-point polygon as 4 counter-clockwise vertices.

    A triangular hull repeats one vertex; collinear / coincident points give a
    zero-area result.

    Args:
        polys: ``(N, 8)`` or ``(N, 4, 2)``.

    Returns:
        ``(N, 4, 2)`` float64 with non-negative shoelace area.
    """
    pts = np.asarray(polys, dtype=np.float64).reshape(-1, 4, 2)
    center = pts.mean(axis=1, keepdims=True)
    rel = pts - center
    angle = np.arctan2(rel[..., 1], rel[..., 0])
    order = np.argsort(angle, axis=1, kind="stable")
    pts = np.take_along_axis(pts, order[..., None], axis=1)
    prev_pts = np.roll(pts, 1, axis=1)
    next_pts = np.roll(pts, -1, axis=1)
    turn = np.cross(pts - prev_pts, next_pts - pts)  # (N, 4); < 0 at a reflex vertex
    reflex = turn < 0
    # at most one reflex vertex in a simple quad; replace it by its predecessor
    return np.where(reflex[..., None], prev_pts, pts)


def _clip_by_edge(
    x: np.ndarray, y: np.ndarray, sx: np.ndarray, sy: np.ndarray, ex: np.ndarray, ey: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Clip closed vertex rings ``(K, V)`` by the half-plane left of the edge ``s -> e`` (``(K,)`` each).

    Rings are padded by repeating their last vertex (zero-length edges change
    nothing); the result is padded the same way. An empty result is all zeros.
    """
    k, v = x.shape
    dx, dy = (ex - sx)[:, None], (ey - sy)[:, None]
    side = dx * (y - sy[:, None]) - dy * (x - sx[:, None])  # >= 0: inside (left of the edge)
    x_next, y_next = np.roll(x, -1, axis=1), np.roll(y, -1, axis=1)
    side_next = np.roll(side, -1, axis=1)
    inside = side >= 0
    crossing = inside != (side_next >= 0)
    t = np.divide(side, side - side_next, out=np.zeros_like(side), where=crossing)
    hit_x = x + t * (x_next - x)
    hit_y = y + t * (y_next - y)
    # each vertex emits [itself if inside] then [the crossing point if its edge crosses]
    emit = np.stack([inside, crossing], axis=2).reshape(k, 2 * v)
    cand_x = np.stack([x, hit_x], axis=2).reshape(k, 2 * v)
    cand_y = np.stack([y, hit_y], axis=2).reshape(k, 2 * v)
    count = emit.sum(axis=1)
    # convex input gives at most v + 1 points; nearly degenerate input (points within rounding of
    # the clip line) can give a few more, so size the output by the actual maximum
    width = max(int(count.max()), 1)
    rows, cols = np.nonzero(emit)
    slot = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    last = np.cumsum(count) - 1  # index (in rows/cols) of each ring's last emitted point
    has = count > 0
    pad_x = np.zeros(k)
    pad_y = np.zeros(k)
    pad_x[has] = cand_x[rows[last[has]], cols[last[has]]]
    pad_y[has] = cand_y[rows[last[has]], cols[last[has]]]
    out_x = np.repeat(pad_x[:, None], width, axis=1)
    out_y = np.repeat(pad_y[:, None], width, axis=1)
    out_x[rows, slot] = cand_x[rows, cols]
    out_y[rows, slot] = cand_y[rows, cols]
    return out_x, out_y


def convex_intersection_area(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection area of paired convex polygons.

    Args:
        a: ``(K, Va, 2)`` counter-clockwise convex polygons (e.g. from :func:`quad_convex_hull`).
        b: ``(K, Vb, 2)`` counter-clockwise convex polygons (the clip polygons).

    Returns:
        ``(K,)`` float64 areas (0 for disjoint or degenerate pairs).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) == 0:
        return np.zeros(0)
    x, y = a[..., 0], a[..., 1]
    num_edges = b.shape[1]
    for i in range(num_edges):
        # a repeated clip vertex gives a zero edge: every point counts as inside, no clipping
        start, end = b[:, i], b[:, (i + 1) % num_edges]
        x, y = _clip_by_edge(x, y, start[:, 0], start[:, 1], end[:, 0], end[:, 1])
    return np.maximum(polygon_area(np.stack([x, y], axis=-1)), 0.0)
