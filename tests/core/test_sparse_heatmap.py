"""render_sparse: the same windows as render_gaussians, as merged (cell, value, ignore) lists."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from centerx.heatmap import (CornerNetGaussian, EllipticalGaussian, KernelShape, RotatedEllipticalGaussian,
                             SparseHeatmap, render_gaussians, render_sparse)


def circular(radius) -> KernelShape:
    r = torch.as_tensor(radius, dtype=torch.int64)
    inv = 1.0 / ((2 * r.double() + 1) / 6) ** 2
    return KernelShape(radius=torch.stack([r, r], 1), inv_cov=torch.stack([inv, torch.zeros_like(inv), inv], 1).float())


def subset(k: KernelShape, m: torch.Tensor) -> KernelShape:
    return KernelShape(k.radius[m], k.inv_cov[m])


def dense_pair(shape, bi, lb, ct, k, ignored):
    """The dense heatmap and ignore mask as CenterHead.render draws them."""
    heat = render_gaussians(shape, bi[~ignored], lb[~ignored], ct[~ignored], subset(k, ~ignored))
    ign = render_gaussians(shape, bi[ignored], lb[ignored], ct[ignored], subset(k, ignored))
    return heat, (ign > 0) & (heat < 1)


def random_objects(seed: int, shape, m: int, max_radius: int):
    rng = np.random.default_rng(seed)
    B, C, H, W = shape
    bi = torch.as_tensor(rng.integers(0, B, m))
    lb = torch.as_tensor(rng.integers(0, C, m))
    ct = torch.as_tensor(np.stack([rng.integers(0, W, m), rng.integers(0, H, m)], 1))
    ignored = torch.as_tensor(rng.random(m) < 0.3)
    return bi, lb, ct, circular(rng.integers(0, max_radius + 1, m)), ignored


@pytest.mark.parametrize('seed', [0, 1])
def test_to_dense_equals_the_dense_rendering_exactly(seed: int) -> None:
    shape = (3, 4, 23, 17)
    bi, lb, ct, k, ignored = random_objects(seed, shape, 70, 12)   # overlaps, borders, several buckets
    sparse = render_sparse(shape, bi, lb, ct, k, ignored)
    heat, ignore = dense_pair(shape, bi, lb, ct, k, ignored)
    got_heat, got_ignore = sparse.to_dense()
    assert torch.equal(got_heat, heat) and torch.equal(got_ignore, ignore)
    assert torch.equal(sparse.index, torch.unique(sparse.index))       # sorted, unique
    assert int(sparse.num_positives()) == int((heat == 1).sum())
    assert bool(ignore.any()) and bool((heat == 1).any())


@pytest.mark.parametrize('kernel', [EllipticalGaussian(), RotatedEllipticalGaussian(), CornerNetGaussian()])
def test_to_dense_equals_with_elliptical_and_rotated_kernels(kernel) -> None:
    g = torch.Generator().manual_seed(2)
    shape, m = (2, 3, 19, 26), 30
    sizes = torch.rand(m, 2, generator=g) * 30 + 0.5
    k = kernel(sizes, torch.rand(m, generator=g) * 3.1)
    bi, lb = torch.randint(0, 2, (m,), generator=g), torch.randint(0, 3, (m,), generator=g)
    ct = torch.stack([torch.randint(0, 26, (m,), generator=g), torch.randint(0, 19, (m,), generator=g)], 1)
    ignored = torch.rand(m, generator=g) < 0.25
    got = render_sparse(shape, bi, lb, ct, k, ignored).to_dense()
    want = dense_pair(shape, bi, lb, ct, k, ignored)
    assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])


def test_same_cell_merges_by_max_per_class_and_keeps_classes_apart() -> None:
    shape = (1, 2, 9, 9)
    bi = torch.tensor([0, 0, 0, 0])
    lb = torch.tensor([0, 0, 1, 1])
    ct = torch.tensor([[4, 4], [5, 4], [4, 4], [4, 4]])   # class 1: two objects on one cell
    sparse = render_sparse(shape, bi, lb, ct, circular([2, 3, 1, 2]))
    heat = render_gaussians(shape, bi, lb, ct, circular([2, 3, 1, 2]))
    assert torch.equal(sparse.to_dense()[0], heat)
    assert sparse.index.numel() == int((heat > 0).sum())           # one entry per cell
    assert int(sparse.num_positives()) == 3                         # (0, 4, 4), (0, 5, 4), (1, 4, 4)


def test_an_ignored_window_never_ignores_a_positive() -> None:
    shape = (1, 1, 7, 7)
    bi, lb, ct = torch.tensor([0, 0]), torch.tensor([0, 0]), torch.tensor([[3, 3], [3, 3]])
    sparse = render_sparse(shape, bi, lb, ct, circular([1, 2]), ignored=torch.tensor([False, True]))
    heat, ignore = sparse.to_dense()
    assert heat[0, 0, 3, 3] == 1 and not ignore[0, 0, 3, 3]
    assert int(ignore.sum()) == 25 - 1 and int((heat > 0).sum()) == 9
    assert torch.equal(sparse.value[sparse.ignore] < 1, torch.ones(24, dtype=torch.bool))


def test_memory_grows_with_the_windows_not_the_classes_or_grid() -> None:
    bi, lb, ct = torch.tensor([0, 1]), torch.tensor([0, 0]), torch.tensor([[5, 5], [9, 5]])
    small = render_sparse((2, 1, 16, 16), bi, lb, ct, circular([2, 3]))
    big = render_sparse((2, 500, 400, 400), bi, lb, ct, circular([2, 3]))
    assert small.index.numel() == big.index.numel() == 25 + 49
    assert torch.equal(small.value, big.value)


def test_empty_and_from_dense_round_trip() -> None:
    empty = torch.zeros(0, dtype=torch.int64)
    k = KernelShape(torch.zeros(0, 2, dtype=torch.int64), torch.zeros(0, 3))
    sparse = render_sparse((2, 3, 5, 6), empty, empty, torch.zeros(0, 2, dtype=torch.int64), k)
    assert sparse.index.numel() == 0 and int(sparse.num_positives()) == 0
    heat, ignore = sparse.to_dense()
    assert heat.shape == (2, 3, 5, 6) and not heat.any() and not ignore.any()
    shape = (2, 3, 11, 13)
    bi, lb, ct, kk, ignored = random_objects(5, shape, 20, 4)
    heat, ignore = dense_pair(shape, bi, lb, ct, kk, ignored)
    back = SparseHeatmap.from_dense(heat, ignore)
    assert torch.equal(back.index, render_sparse(shape, bi, lb, ct, kk, ignored).index)
    assert torch.equal(back.to_dense()[0], heat) and torch.equal(back.to_dense()[1], ignore)


def test_bad_shapes_are_named() -> None:
    with pytest.raises(ValueError, match=r'labels has shape \(1,\), expected \(2,\)'):
        render_sparse((1, 1, 4, 4), torch.tensor([0, 0]), torch.tensor([0]), torch.tensor([[1, 1], [2, 2]]),
                      circular([1, 1]))
    with pytest.raises(ValueError, match='ignore of shape'):
        SparseHeatmap.from_dense(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 3, dtype=torch.bool))
