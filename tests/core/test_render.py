"""render_gaussians against a per-object numpy loop of CenterNet's draw_umich_gaussian."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from centerx.heatmap import CornerNetGaussian, EllipticalGaussian, KernelShape, render_gaussians


def gaussian2d(shape, sigma=1.0) -> np.ndarray:
    """CenterNet's gaussian2D."""
    m, n = [(ss - 1.0) / 2.0 for ss in shape]
    y, x = np.ogrid[-m:m + 1, -n:n + 1]
    h = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    h[h < np.finfo(h.dtype).eps * h.max()] = 0
    return h


def draw_umich_gaussian(heatmap: np.ndarray, center, radius: int, k: float = 1) -> np.ndarray:
    """CenterNet's draw_umich_gaussian (src/lib/utils/image.py), verbatim logic."""
    diameter = 2 * radius + 1
    gaussian = gaussian2d((diameter, diameter), sigma=diameter / 6)
    x, y = int(center[0]), int(center[1])
    height, width = heatmap.shape[0:2]
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    masked_heatmap = heatmap[y - top:y + bottom, x - left:x + right]
    masked_gaussian = gaussian[radius - top:radius + bottom, radius - left:radius + right]
    if min(masked_gaussian.shape) > 0 and min(masked_heatmap.shape) > 0:
        np.maximum(masked_heatmap, masked_gaussian * k, out=masked_heatmap)
    return heatmap


def circular(radius) -> KernelShape:
    r = torch.as_tensor(radius, dtype=torch.int64)
    inv = 1.0 / ((2 * r.double() + 1) / 6) ** 2
    return KernelShape(radius=torch.stack([r, r], 1),
                       inv_cov=torch.stack([inv, torch.zeros_like(inv), inv], 1).float())


def reference(shape, batch_idx, labels, centers, radius) -> np.ndarray:
    heat = np.zeros(shape, np.float64)
    for b, c, (x, y), r in zip(batch_idx, labels, centers, radius):
        draw_umich_gaussian(heat[b, c], (x, y), int(r))
    return heat


def render(shape, batch_idx, labels, centers, radius) -> torch.Tensor:
    return render_gaussians(shape, torch.as_tensor(batch_idx, dtype=torch.int64),
                            torch.as_tensor(labels, dtype=torch.int64),
                            torch.as_tensor(np.asarray(centers).reshape(-1, 2), dtype=torch.int64),
                            circular(radius))


# hand-picked: border windows on every side and corners, overlaps of one class, other classes,
# other image, radius 0 and large radii (several buckets: 0, 1, 2, 4, 8, 16, 32)
HAND = dict(
    shape=(2, 3, 20, 24),
    batch_idx=[0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 0],
    labels=[0, 0, 0, 1, 2, 2, 1, 0, 0, 2, 1],
    centers=[(5, 5), (7, 6), (0, 0), (23, 19), (0, 10), (23, 3), (12, 0), (5, 5), (10, 19), (11, 10), (6, 6)],
    radius=[3, 4, 2, 5, 1, 7, 0, 3, 2, 30, 9],
)


def test_matches_draw_umich_gaussian_hand_picked() -> None:
    got = render(**HAND).numpy()
    ref = reference(**HAND)
    assert np.abs(got - ref).max() <= 1e-6
    # overlapping same-class objects keep the max, not the sum
    assert got.max() == 1.0
    # cell (x=6, y=5) of class 0: offset (1, 0) from (5, 5) r=3 and (-1, -1) from (7, 6) r=4
    g1 = math.exp(-1 / (2 * (7 / 6) ** 2))
    g2 = math.exp(-2 / (2 * (9 / 6) ** 2))
    assert got[0, 0, 5, 6] == pytest.approx(max(g1, g2), abs=1e-6)
    assert got[0, 0, 5, 6] < g1 + g2 - 0.5


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_matches_draw_umich_gaussian_random(seed: int) -> None:
    rng = np.random.default_rng(seed)
    B, C, H, W = 3, 4, 37, 29
    m = 60
    shape = (B, C, H, W)
    batch_idx = rng.integers(0, B, m)
    labels = rng.integers(0, C, m)
    centers = np.stack([rng.integers(0, W, m), rng.integers(0, H, m)], 1)
    radius = rng.integers(0, 20, m)
    got = render(shape, batch_idx, labels, centers, radius).numpy()
    ref = reference(shape, batch_idx, labels, centers, radius)
    assert np.abs(got - ref).max() <= 1e-6
    assert (got > 0).sum() == (ref > 0).sum()


def test_matches_reference_with_kernel_radii() -> None:
    """Radii from CornerNetGaussian on random box sizes, as the head uses them."""
    rng = np.random.default_rng(7)
    m = 40
    sizes = torch.as_tensor(rng.uniform(0.5, 40, (m, 2)), dtype=torch.float32)
    k = CornerNetGaussian()(sizes)
    shape = (2, 2, 32, 32)
    batch_idx = torch.as_tensor(rng.integers(0, 2, m))
    labels = torch.as_tensor(rng.integers(0, 2, m))
    centers = torch.as_tensor(np.stack([rng.integers(0, 32, m), rng.integers(0, 32, m)], 1))
    got = render_gaussians(shape, batch_idx, labels, centers, k).numpy()
    ref = reference(shape, batch_idx.tolist(), labels.tolist(), centers.tolist(), k.radius[:, 0].tolist())
    assert np.abs(got - ref).max() <= 1e-6


def test_peak_is_exactly_one_at_every_center() -> None:
    rng = np.random.default_rng(3)
    m = 50
    shape = (2, 3, 40, 40)
    batch_idx = rng.integers(0, 2, m)
    labels = rng.integers(0, 3, m)
    centers = np.stack([rng.integers(0, 40, m), rng.integers(0, 40, m)], 1)
    radius = rng.integers(0, 12, m)
    got = render(shape, batch_idx, labels, centers, radius)
    for b, c, (x, y) in zip(batch_idx, labels, centers):
        assert got[b, c, y, x].item() == 1.0
    assert got.max().item() == 1.0
    assert int((got == 1.0).sum()) == len({(b, c, x, y) for b, c, (x, y) in zip(batch_idx, labels, centers)})


def test_value_at_offset_is_gaussian() -> None:
    r = 6
    sigma = (2 * r + 1) / 6
    got = render((1, 1, 30, 30), [0], [0], [(15, 12)], [r])
    for dx, dy in [(1, 0), (0, -1), (2, 3), (-4, 1), (6, -6), (-5, 5)]:
        expected = math.exp(-(dx * dx + dy * dy) / (2 * sigma ** 2))
        assert got[0, 0, 12 + dy, 15 + dx].item() == pytest.approx(expected, abs=1e-6)
    # truncated outside the window
    assert got[0, 0, 12, 15 + 7].item() == 0.0
    assert got[0, 0, 12 - 7, 15].item() == 0.0
    assert int((got > 0).sum()) == (2 * r + 1) ** 2


def test_elliptical_window_and_values() -> None:
    k = EllipticalGaussian()(torch.tensor([[30.0, 8.0]]))  # radius (8, 2)
    assert k.radius.tolist() == [[8, 2]]
    got = render_gaussians((1, 1, 20, 30), torch.tensor([0]), torch.tensor([0]), torch.tensor([[15, 10]]), k)
    nz = torch.nonzero(got[0, 0] > 0)
    assert (nz[:, 1].min().item(), nz[:, 1].max().item()) == (7, 23)
    assert (nz[:, 0].min().item(), nz[:, 0].max().item()) == (8, 12)
    sx, sy = 17 / 6, 5 / 6
    assert got[0, 0, 11, 18].item() == pytest.approx(math.exp(-(9 / sx ** 2 + 1 / sy ** 2) / 2), abs=1e-6)


def test_cut_by_image_edges() -> None:
    got = render((1, 1, 5, 5), [0], [0], [(0, 4)], [3])
    ref = reference((1, 1, 5, 5), [0], [0], [(0, 4)], [3])
    assert np.abs(got.numpy() - ref).max() <= 1e-6
    assert int((got > 0).sum()) == 4 * 4  # columns 0..3, rows 1..4
    assert got[0, 0, 4, 0].item() == 1.0


def test_empty_object_list_gives_zeros() -> None:
    empty = torch.zeros(0, dtype=torch.int64)
    k = KernelShape(radius=torch.zeros(0, 2, dtype=torch.int64), inv_cov=torch.zeros(0, 3))
    got = render_gaussians((2, 3, 8, 9), empty, empty, torch.zeros(0, 2, dtype=torch.int64), k)
    assert got.shape == (2, 3, 8, 9) and got.dtype == torch.float32
    assert torch.count_nonzero(got) == 0


def test_radius_zero_gives_single_one() -> None:
    got = render((1, 2, 7, 7), [0], [1], [(3, 2)], [0])
    assert int(torch.count_nonzero(got)) == 1
    assert got[0, 1, 2, 3].item() == 1.0


def test_draws_into_existing_heatmap_by_max() -> None:
    out = torch.full((1, 1, 9, 9), 0.5)
    res = render_gaussians((1, 1, 9, 9), torch.tensor([0]), torch.tensor([0]), torch.tensor([[4, 4]]),
                           circular([2]), out=out)
    assert res is out
    ref = np.full((1, 1, 9, 9), 0.5)
    draw_umich_gaussian(ref[0, 0], (4, 4), 2)
    assert np.abs(out.numpy() - ref).max() <= 1e-6
