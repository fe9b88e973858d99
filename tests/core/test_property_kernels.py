"""Property-based: every registered kernel and the renderer on hostile sizes and angles.

Kernels are total (centerx/heatmap/kernels.py): any size (NaN, +-inf, negative, zero, huge) and
any angle give radii >= 0 and a finite, positive-definite inverse covariance, and sound sizes
are not changed by the cleaning. The renderer draws any such kernel, huge radii included, into
exactly the heatmap a per-cell reference computes, in [0, 1] with 1 at every center.
"""
from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, strategies as st

from centerx.heatmap import KernelShape, render_gaussians
from centerx.heatmap.kernels import MAX_KERNEL_SIZE, build_kernel
from centerx.registry import KERNELS

KERNEL_TYPES = sorted(KERNELS.module_dict)
size_value = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32),
                       st.sampled_from([0.0, -0.0, -1.0, 1e-30, 1e6, 3e38, float('nan'), float('inf')]),
                       st.floats(0, 200, width=32))
angle_value = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.floats(-4, 4, width=32))


@pytest.mark.parametrize('kernel_type', KERNEL_TYPES)
@given(sizes=st.lists(st.tuples(size_value, size_value), max_size=8),
       angles=st.lists(angle_value, min_size=8, max_size=8))
def test_every_kernel_is_sound_for_any_input(kernel_type, sizes, angles) -> None:
    kernel = build_kernel(dict(type=kernel_type))
    s = torch.tensor(sizes, dtype=torch.float32).reshape(-1, 2)
    shape = kernel(s, torch.tensor(angles[:len(s)], dtype=torch.float32))
    assert shape.radius.shape == (len(s), 2) and shape.radius.dtype == torch.int64
    assert (shape.radius >= 0).all()
    if shape.profile is not None:  # a non-Gaussian profile (spread_kernels): its parameters are finite
        assert shape.params.shape[0] == len(s) and torch.isfinite(shape.params).all()
    else:
        assert shape.inv_cov.shape == (len(s), 3) and torch.isfinite(shape.inv_cov).all()
        a, b, c = shape.inv_cov.double().unbind(dim=1)
        assert (a > 0).all() and (c > 0).all()
        assert (a * c - b * b > -1e-6 * a * c).all()  # positive definite up to float32 rounding
    sound = torch.isfinite(s).all(dim=1) & (s >= 0).all(dim=1) & (s <= MAX_KERNEL_SIZE).all(dim=1)
    if bool(sound.any()):  # cleaning leaves sound sizes alone
        alone = kernel(s[sound], torch.tensor(angles[:len(s)], dtype=torch.float32)[sound])
        assert torch.equal(alone.radius, shape.radius[sound])


def per_cell_reference(shape, batch_idx, labels, centers, kernel: KernelShape) -> torch.Tensor:
    """The heatmap cell by cell: max over objects of the windowed kernel (no window buckets)."""
    B, C, H, W = shape
    ys, xs = torch.meshgrid(torch.arange(H), torch.arange(W), indexing='ij')
    heat = torch.zeros(shape)
    for m in range(len(centers)):
        dx, dy = xs - centers[m, 0], ys - centers[m, 1]
        if kernel.profile is not None:  # a non-Gaussian profile, evaluated on the whole grid at once
            value = kernel.profile(kernel.params[m:m + 1], dx[None].float(), dy[None].float())[0]
        else:
            a, b, c = kernel.inv_cov[m].tolist()
            value = torch.exp(-0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy))
        inside = (dx.abs() <= kernel.radius[m, 0]) & (dy.abs() <= kernel.radius[m, 1])
        view = heat[batch_idx[m], labels[m]]
        view.copy_(torch.maximum(view, value * inside))
    return heat


@pytest.mark.parametrize('kernel_type', KERNEL_TYPES)
@given(data=st.data())
def test_render_matches_the_per_cell_reference_for_any_kernel_input(kernel_type, data) -> None:
    H, W = data.draw(st.integers(1, 12)), data.draw(st.integers(1, 12))
    m = data.draw(st.integers(0, 6))
    sizes = torch.tensor(data.draw(st.lists(st.tuples(size_value, size_value), min_size=m, max_size=m)),
                         dtype=torch.float32).reshape(-1, 2)
    angles = torch.tensor(data.draw(st.lists(angle_value, min_size=m, max_size=m)), dtype=torch.float32)
    centers = torch.tensor(data.draw(st.lists(st.tuples(st.integers(0, W - 1), st.integers(0, H - 1)),
                                              min_size=m, max_size=m)), dtype=torch.int64).reshape(-1, 2)
    batch_idx = torch.tensor(data.draw(st.lists(st.integers(0, 1), min_size=m, max_size=m)), dtype=torch.int64)
    labels = torch.tensor(data.draw(st.lists(st.integers(0, 2), min_size=m, max_size=m)), dtype=torch.int64)
    kernel = build_kernel(dict(type=kernel_type))(sizes, angles)
    shape = (2, 3, H, W)
    heat = render_gaussians(shape, batch_idx, labels, centers, kernel)
    assert ((heat >= 0) & (heat <= 1)).all()
    torch.testing.assert_close(heat, per_cell_reference(shape, batch_idx, labels, centers, kernel),
                               rtol=1e-5, atol=1e-6)
    if m:
        assert (heat[batch_idx, labels, centers[:, 1], centers[:, 0]] == 1).all()


def test_huge_radius_renders_a_grid_sized_window() -> None:
    """Found while writing the property: a radius of 16,200 cells (a 60,000-cell object: a rotated box's full
    extent is not clipped) asked the renderer for a 32,401-cell-square window (4 GB); a window is
    now clipped to the grid, with the same heatmap."""
    kernel = build_kernel(dict(type='EllipticalGaussian'))(torch.tensor([[6e4, 4.0]]))
    assert int(kernel.radius[0, 0]) == 16_200
    centers = torch.tensor([[3, 2]])
    heat = render_gaussians((1, 1, 5, 8), torch.tensor([0]), torch.tensor([0]), centers, kernel)
    expected = per_cell_reference((1, 1, 5, 8), torch.tensor([0]), torch.tensor([0]), centers, kernel)
    torch.testing.assert_close(heat, expected)
    assert float(heat[0, 0, 2, 0]) == pytest.approx(math.exp(-0.5 * float(kernel.inv_cov[0, 0]) * 9))
