"""The centerness and box-filling kernels (issue 14), and the laws every registered kernel keeps."""
from __future__ import annotations

import math

import pytest
import torch

from centerx.heatmap import (BoxFillingGaussian, CenternessKernel, EllipticalGaussian, KernelShape,
                             build_kernel, render_gaussians)
from centerx.registry import KERNELS

# (w, h) in grid cells, angles in radians
SIZES = torch.tensor([[10.0, 6.0], [3.0, 17.0], [0.4, 0.7], [7.5, 7.5], [12.0, 2.0]])
ANGLES = torch.tensor([0.0, 0.3, 1.2, -0.7, math.pi / 2])
KERNEL_TYPES = sorted(KERNELS.module_dict)


def dense_values(shape: KernelShape, reach: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every object's profile on a (2 reach + 1)^2 window, untruncated; and the offsets."""
    offs = torch.arange(-reach, reach + 1, dtype=torch.float32)
    dx, dy = offs.view(1, 1, -1), offs.view(1, -1, 1)
    return shape.values(torch.arange(len(shape.radius)), dx, dy), dx, dy


@pytest.mark.parametrize('kernel_type', KERNEL_TYPES)
def test_every_kernel_peaks_at_one_with_values_in_unit_range(kernel_type):
    kernel = build_kernel(dict(type=kernel_type))
    shape = kernel(SIZES, ANGLES)
    heat = render_gaussians((1, len(SIZES), 41, 41), torch.zeros(len(SIZES), dtype=torch.int64),
                            torch.arange(len(SIZES)), torch.full((len(SIZES), 2), 20), shape)
    assert torch.all(heat[0, :, 20, 20] == 1.0)
    assert float(heat.min()) >= 0.0 and float(heat.max()) <= 1.0
    flat = heat.flatten(2)
    assert torch.all((flat == 1.0).sum(-1) == 1), 'one peak of 1 per object'


@pytest.mark.parametrize('kernel', [CenternessKernel(), CenternessKernel(scale=0.6), BoxFillingGaussian(),
                                    BoxFillingGaussian(beta=2.0)], ids=lambda k: f'{type(k).__name__}')
def test_window_covers_the_box_and_the_support(kernel):
    """Every cell whose center lies inside the (scaled) rotated box is inside the window; the
    centerness is exactly 0 outside the window."""
    shape = kernel(SIZES, ANGLES)
    values, dx, dy = dense_values(shape, 12)
    scale = getattr(kernel, 'scale', 1.0)
    half = (SIZES * scale / 2).clamp(min=0.5)
    cos, sin = torch.cos(ANGLES).view(-1, 1, 1), torch.sin(ANGLES).view(-1, 1, 1)
    u, v = dx * cos + dy * sin, -dx * sin + dy * cos
    inside_box = (u.abs() < half[:, 0].view(-1, 1, 1)) & (v.abs() < half[:, 1].view(-1, 1, 1))
    in_window = (dx.abs() <= shape.radius[:, 0].view(-1, 1, 1)) & (dy.abs() <= shape.radius[:, 1].view(-1, 1, 1))
    assert bool((inside_box <= in_window).all())
    if isinstance(kernel, CenternessKernel):
        assert bool((values[~in_window] == 0).all())
        assert bool((values[inside_box] > 0).all())


def test_centerness_matches_the_fcos_formula():
    """A 10 x 6 axis-aligned box: at (dx, dy) = (2, 1), l, r = 7, 3 and t, b = 4, 2."""
    shape = CenternessKernel()(torch.tensor([[10.0, 6.0]]))
    values, _, _ = dense_values(shape, 6)
    expected = math.sqrt(3 / 7 * 2 / 4)
    assert float(values[0, 6 + 1, 6 + 2]) == pytest.approx(expected, rel=1e-6)
    assert shape.radius.tolist() == [[5, 3]]
    assert float(values[0, 6, 6 + 5]) == 0.0  # on the box's edge
    # the decay is linear in each side ratio: along x, ((5 - d) / (5 + d)) ** 0.5
    for d in range(5):
        assert float(values[0, 6, 6 + d]) == pytest.approx(math.sqrt((5 - d) / (5 + d)), rel=1e-6)


def test_box_filling_is_ttfnet_gaussian_with_beta():
    """sigma = beta * size / 6 per axis; at TTFNet's beta the profile equals the elliptical kernel's
    where the elliptical window reaches, and the window is the box."""
    beta = 0.8
    shape = BoxFillingGaussian(beta=beta)(torch.tensor([[12.0, 6.0]]))
    values, _, _ = dense_values(shape, 6)
    sx, sy = beta * 12 / 6, beta * 6 / 6
    expected = math.exp(-(3 ** 2) / (2 * sx ** 2) - (2 ** 2) / (2 * sy ** 2))
    assert float(values[0, 6 + 2, 6 + 3]) == pytest.approx(expected, rel=1e-5)
    assert shape.radius.tolist() == [[6, 3]]
    # rotating a square box by 90 degrees changes nothing
    square = torch.tensor([[8.0, 4.0]])
    a = dense_values(BoxFillingGaussian()(square, torch.tensor([math.pi / 2])), 5)[0]
    b = dense_values(BoxFillingGaussian()(square.flip(1)), 5)[0]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert EllipticalGaussian()(square).radius.tolist() == [[2, 1]]  # the smaller window it widens


def test_dropping_a_profile_fails_clearly():
    shape = CenternessKernel()(SIZES)
    rebuilt = KernelShape(shape.radius, shape.inv_cov)
    with pytest.raises(ValueError, match='KernelShape.select'):
        render_gaussians((1, 1, 9, 9), torch.zeros(1, dtype=torch.int64), torch.zeros(1, dtype=torch.int64),
                         torch.tensor([[4, 4]]), rebuilt.select(torch.tensor([0])))
    kept = shape.select(torch.tensor([True, False, False, False, False]))
    assert kept.profile is shape.profile and kept.params.shape == (1, 4)


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match='scale'):
        CenternessKernel(scale=0)
    with pytest.raises(ValueError, match='beta'):
        BoxFillingGaussian(beta=-1)
