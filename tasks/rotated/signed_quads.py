"""Quadrilaterals as given (bow-ties and concave ones included), as sums of signed convex pieces.

The DOTA devkit (``polyiou``) treats the 4 points of a polygon in their order: its area is
``|shoelace|`` and the intersection of two polygons P and Q is ``integral of w_P * w_Q``,
where ``w`` is the winding number of the closed ring, negated when the shoelace area is
negative (the devkit reverses such rings). For a simple quad ``w`` is 1 inside, 0 outside;
for a bow-tie the two lobes have opposite signs (a rectangle's corners in bow-tie order
have shoelace area 0 and intersection 0 with the rectangle).

Any ring ``p0 p1 p2 p3`` has the winding number of the fan ``tri(p0, p1, p2) +
tri(p0, p2, p3)`` (each triangle counted with the sign of its area), so every quad is at
most two signed convex pieces; a convex quad is one piece (itself, counter-clockwise).
:func:`quad_signed_pieces` returns them, ready for
:func:`~centerx_tasks.rotated.convex_quads.convex_intersection_area`.
"""

from __future__ import annotations

import numpy as np

from .convex_quads import polygon_area, power_of_two_scale

__all__ = ["quad_signed_pieces"]


def _ccw_triangle(pts: np.ndarray, i: int, j: int, k: int, sign: np.ndarray) -> np.ndarray:
    """Triangle ``(p_i, p_j, p_k)`` of ``pts (N, 4, 2)``, counter-clockwise, padded to 4 vertices."""
    a, b, c = pts[:, i], pts[:, j], pts[:, k]
    flip = (sign < 0)[:, None]
    first, second = np.where(flip, c, b), np.where(flip, b, c)
    return np.stack([a, first, second, second], axis=1)


def quad_signed_pieces(polys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signed convex pieces whose weighted indicator sum is the devkit's winding function.

    Args:
        polys: ``(N, 8)`` or ``(N, 4, 2)`` quads, points in the order given.

    Returns:
        ``(pieces, weights)``: ``(N, 2, 4, 2)`` float64 counter-clockwise convex rings
        (triangles repeat their last vertex) and ``(N, 2)`` weights in ``{-1, 0, 1}``.
        ``sum(weights * |area(pieces)|)`` is ``|shoelace area|`` of each quad; a
        weight 0 marks an unused or zero-area piece.
    """
    pts = np.asarray(polys, dtype=np.float64).reshape(-1, 4, 2)
    # signs are computed on an exactly rescaled copy relative to p0: no overflow near float64 limits
    rel = pts / 2 - pts[:, :1] / 2  # halved first: the difference cannot overflow
    rel = rel * power_of_two_scale(rel)[:, None, None]
    prev_pts, next_pts = np.roll(rel, 1, axis=1), np.roll(rel, -1, axis=1)
    turn = np.cross(rel - prev_pts, next_pts - rel)  # (N, 4)
    convex = np.all(turn >= 0, axis=1) | np.all(turn <= 0, axis=1)
    shoelace = polygon_area(rel)
    orient = np.where(shoelace < 0, -1.0, 1.0)  # the devkit reverses negative rings
    # fan pieces from p0 (any quad)
    tri_a = polygon_area(rel[:, [0, 1, 2]])
    tri_b = polygon_area(rel[:, [0, 2, 3]])
    sign_a, sign_b = np.sign(tri_a), np.sign(tri_b)
    pieces = np.stack([_ccw_triangle(pts, 0, 1, 2, sign_a), _ccw_triangle(pts, 0, 2, 3, sign_b)], axis=1)
    weights = np.stack([orient * sign_a, orient * sign_b], axis=1)
    # convex quads: one piece, the quad itself made counter-clockwise
    ccw_quad = np.where((shoelace < 0)[:, None, None], pts[:, ::-1], pts)
    pieces[convex, 0] = ccw_quad[convex]
    weights[convex, 0] = (shoelace[convex] != 0).astype(np.float64)
    weights[convex, 1] = 0.0
    return pieces, weights
