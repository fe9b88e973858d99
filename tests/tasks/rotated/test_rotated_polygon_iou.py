"""Tests for centerx_tasks.rotated.polygon_iou."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Polygon

from centerx_tasks.rotated.geometry import rbox_to_poly_np
from centerx_tasks.rotated.polygon_iou import (
    hbox_overlap_pairs,
    poly_iou_aligned,
    poly_iou_matrix,
    poly_iou_sparse,
)


def square(x0: float, y0: float, size: float = 2.0) -> list[float]:
    return [x0, y0, x0 + size, y0, x0 + size, y0 + size, x0, y0 + size]


def random_polys(n: int, seed: int, extent: float = 300.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rboxes = np.stack(
        [
            rng.uniform(0, extent, n),
            rng.uniform(0, extent, n),
            rng.uniform(5, 60, n),
            rng.uniform(5, 30, n),
            rng.uniform(-np.pi, np.pi, n),
        ],
        1,
    )
    return rbox_to_poly_np(rboxes) + rng.normal(0, 1.0, (n, 8))  # not exact rectangles


def brute_force_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        pa = Polygon(p.reshape(4, 2)).convex_hull
        for j, q in enumerate(b):
            pb = Polygon(q.reshape(4, 2)).convex_hull
            inter = pa.intersection(pb).area
            union = pa.area + pb.area - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


BACKENDS = pytest.mark.parametrize("backend", ["numpy", "shapely"])


@BACKENDS
def test_hand_cases(backend):
    a = np.array([square(0, 0), square(0, 0), square(1, 0), square(5, 5), square(2, 0)])
    b = np.array([square(0, 0)])
    iou = poly_iou_matrix(a, b, backend=backend)[:, 0]
    # identical, identical, half overlap (2 / (4 + 4 - 2)), disjoint, touching edge
    np.testing.assert_allclose(iou, [1.0, 1.0, 1.0 / 3.0, 0.0, 0.0], atol=1e-15)
    assert iou.dtype == np.float64
    with pytest.raises(ValueError):
        poly_iou_matrix(a, b, backend="gpu")  # type: ignore[arg-type]


@BACKENDS
def test_invalid_and_degenerate_quads_use_convex_hull(backend):
    bowtie = np.array([[0, 0, 2, 2, 2, 0, 0, 2]], dtype=float)  # self-intersecting order of a 2x2 square
    dart = np.array([[0, 0, 2, 0, 1, 1, 0, 2]], dtype=float)  # non-convex; hull = triangle, area 2
    line = np.array([[0, 0, 1, 1, 2, 2, 3, 3]], dtype=float)
    sq = np.array([square(0, 0)])
    point = np.array([[1, 1, 1, 1, 1, 1, 1, 1]], dtype=float)
    iou = lambda p, q: poly_iou_matrix(p, q, backend=backend)[0, 0]  # noqa: E731
    assert iou(bowtie, sq) == pytest.approx(1.0)
    assert iou(dart, sq) == pytest.approx(0.5)
    assert iou(line, sq) == 0.0 and iou(line, line) == 0.0 and iou(point, point) == 0.0 and iou(point, sq) == 0.0


@BACKENDS
def test_matrix_matches_brute_force(backend):
    a, b = random_polys(60, seed=0), random_polys(40, seed=1)
    a[::5] = np.random.default_rng(2).uniform(0, 300, (12, 8))  # arbitrary quads: bow-ties, darts
    expected = brute_force_iou(a, b)
    got = poly_iou_matrix(a, b, backend=backend)
    assert (expected > 0).sum() > 10  # the case has overlaps
    np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(poly_iou_aligned(a[:40], b, backend=backend), np.diag(expected[:40]), atol=1e-12)


def test_empty_inputs():
    assert poly_iou_matrix(np.zeros((0, 8)), np.zeros((3, 8))).shape == (0, 3)
    assert poly_iou_matrix(np.zeros((2, 8)), np.zeros((0, 8))).shape == (2, 0)
    ia, ib, iou = poly_iou_sparse(np.zeros((0, 8)), np.zeros((0, 8)))
    assert len(ia) == len(ib) == len(iou) == 0
    with pytest.raises(ValueError):
        poly_iou_matrix(np.zeros((2, 6)), np.zeros((2, 8)))


def test_groups_restrict_pairs():
    a = np.array([square(0, 0), square(0, 0), square(100, 0)])
    b = np.array([square(0, 0), square(1, 0), square(100, 0)])
    ia, ib, iou = poly_iou_sparse(a, b, np.array([0, 1, 0]), np.array([0, 1, 1]))
    pairs = {(int(i), int(j)): v for i, j, v in zip(ia, ib, iou)}
    assert set(pairs) == {(0, 0), (1, 1)}  # (2, 2) overlaps but lies in other groups
    assert pairs[(1, 1)] == pytest.approx(1.0 / 3.0)
    with pytest.raises(ValueError):
        hbox_overlap_pairs(np.zeros((1, 4)), np.zeros((1, 4)), np.zeros(1), None)
