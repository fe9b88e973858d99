"""Tests for centerx_tasks.rotated.convex_quads against shapely/GEOS."""

from __future__ import annotations

import numpy as np
import shapely

from centerx_tasks.rotated.convex_quads import convex_intersection_area, polygon_area, quad_convex_hull


def test_hull_of_special_quads():
    quads = np.array(
        [
            [0, 0, 0, 2, 2, 2, 2, 0],  # clockwise (y up) square -> reoriented
            [0, 0, 2, 2, 2, 0, 0, 2],  # bow-tie -> the square
            [0, 0, 3, 0, 1, 1, 0, 3],  # dart: (1, 1) inside the triangle -> triangle, area 4.5
            [0, 0, 3, 0, 0, 3, 0.75, 0.75],  # inner point exactly at the centroid
            [0, 0, 1, 1, 2, 2, 3, 3],  # collinear
            [4, 4, 4, 4, 4, 4, 4, 4],  # one point
        ],
        dtype=float,
    )
    hull = quad_convex_hull(quads)
    np.testing.assert_allclose(polygon_area(hull), [4, 4, 4.5, 4.5, 0, 0], atol=1e-12)
    assert set(map(tuple, hull[2])) == {(0, 0), (3, 0), (0, 3)}


def test_hull_and_intersection_match_geos():
    rng = np.random.default_rng(0)
    n = 4000
    a = rng.uniform(0, 50, (n, 8))  # arbitrary quads: convex, darts, bow-ties
    b = rng.uniform(0, 50, (n, 8))
    b[::4] = a[::4] + rng.normal(0, 1e-3, (n // 4, 8))  # nearly identical pairs
    b[1::4] = a[1::4]  # identical pairs
    ga = shapely.convex_hull(shapely.polygons(a.reshape(-1, 4, 2)))
    gb = shapely.convex_hull(shapely.polygons(b.reshape(-1, 4, 2)))
    ha, hb = quad_convex_hull(a), quad_convex_hull(b)
    np.testing.assert_allclose(polygon_area(ha), shapely.area(ga), rtol=1e-12, atol=1e-9)
    expected = shapely.area(shapely.intersection(ga, gb))
    np.testing.assert_allclose(convex_intersection_area(ha, hb), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(convex_intersection_area(hb, ha), expected, rtol=1e-9, atol=1e-9)


def test_intersection_edge_cases():
    sq = quad_convex_hull(np.array([[0, 0, 2, 0, 2, 2, 0, 2]], float))
    cases = {
        (2, 0): 0.0,  # shares an edge
        (2, 2): 0.0,  # shares a corner
        (1, 1): 1.0,
        (0, 0): 4.0,
        (5, 5): 0.0,
    }
    for (dx, dy), area in cases.items():
        other = sq + np.array([dx, dy], float)
        assert abs(convex_intersection_area(sq, other)[0] - area) < 1e-12
    inner = quad_convex_hull(np.array([[0.5, 0.5, 1, 0.5, 1, 1, 0.5, 1]], float))
    assert abs(convex_intersection_area(sq, inner)[0] - 0.25) < 1e-12
    assert abs(convex_intersection_area(inner, sq)[0] - 0.25) < 1e-12
    assert convex_intersection_area(np.zeros((0, 4, 2)), np.zeros((0, 4, 2))).shape == (0,)
