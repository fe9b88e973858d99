"""Tests for centerx_tasks.rotated.polygon_iou."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import Polygon

from centerx_tasks.rotated.dota_eval_reference import _polygon_iou
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
    """One devkit polygon IoU at a time (shapely, signed fan triangles) where the boxes meet, else 0."""
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            if Polygon(p.reshape(4, 2)).envelope.intersects(Polygon(q.reshape(4, 2)).envelope):
                out[i, j] = _polygon_iou(p, q)
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
def test_quads_are_taken_as_given_like_the_devkit(backend):
    iou = lambda p, q: poly_iou_matrix(np.array([p], float), np.array([q], float), backend=backend)[0, 0]  # noqa: E731
    sq = square(0, 0)  # 2 x 2
    bowtie = [0, 0, 2, 0, 0, 2, 2, 2]  # the square's corners in bow-tie order: lobes +1 (bottom), -1 (top)
    assert iou(bowtie, sq) == pytest.approx(0.0, abs=1e-15)  # devkit 0 (its convex hull would give 1)
    assert iou(bowtie, [0, 0, 2, 0, 2, 1, 0, 1]) == pytest.approx(1.0)  # inter +1, union 0 + 2 - 1
    assert iou(bowtie, [0, 1, 2, 1, 2, 2, 0, 2]) == pytest.approx(-1.0 / 3.0)  # inter -1, union 0 + 2 + 1
    dart = [0, 0, 4, 0, 1, 1, 0, 4]  # concave, area 4 (its hull, area 8, would give 0.5)
    assert iou(dart, [0, 0, 4, 0, 4, 4, 0, 4]) == pytest.approx(0.25)
    clockwise = [0, 4, 1, 1, 4, 0, 0, 0]  # the dart reversed: the devkit reverses negative rings
    assert iou(clockwise, [0, 0, 4, 0, 4, 4, 0, 4]) == pytest.approx(0.25)
    line, point = [0, 0, 1, 1, 2, 2, 3, 3], [1] * 8
    assert iou(line, sq) == 0.0 and iou(point, sq) == 0.0
    assert np.isnan(iou(line, line)) and np.isnan(iou(point, point))  # 0 / 0, as polyiou


@BACKENDS
def test_huge_coordinates_do_not_overflow(backend):
    for scale, shift in ((1e306, 1e305), (8e307, 0.0), (1e-300, 1e-301)):
        a = np.array([square(0, 0)]) * scale - 8e307 * (shift == 0.0)
        b = a + (shift or scale / 8)
        with np.errstate(all="raise"):
            got = poly_iou_matrix(a, b, backend=backend)[0, 0]
        overlap = 1 - (shift or scale / 8) / (2 * scale)  # fraction of the side shared in x and y
        assert got == pytest.approx(overlap**2 / (2 - overlap**2), rel=1e-9)
    far = np.array([square(0, 0), [1e307, 0, 1e307 + 1e300, 0, 1e307 + 1e300, 1e300, 1e307, 1e300]])
    for groups in ([0, 1], [0, 5]):  # the group prefilter spreads groups along x without overflow
        _, _, iou = poly_iou_sparse(far, far, np.array(groups), np.array(groups), backend=backend)
        np.testing.assert_allclose(iou, [1.0, 1.0])


@BACKENDS
def test_matrix_matches_brute_force(backend):
    a, b = random_polys(60, seed=0), random_polys(40, seed=1)
    a[::5] = np.random.default_rng(2).uniform(0, 300, (12, 8))  # arbitrary quads: bow-ties, darts
    expected = brute_force_iou(a, b)
    got = poly_iou_matrix(a, b, backend=backend)
    assert (expected > 0).sum() > 10  # the case has overlaps
    np.testing.assert_allclose(got, expected, atol=1e-12, equal_nan=True)
    np.testing.assert_allclose(poly_iou_aligned(a[:40], b, backend=backend), np.diag(expected[:40]), atol=1e-12,
                               equal_nan=True)


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
