"""Tests for centerx_tasks.rotated.geometry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from centerx_tasks.rotated.dota_labels import parse_dota_label_file
from centerx_tasks.rotated.geometry import (
    canonical_rbox,
    min_area_rect,
    poly_to_hbox,
    poly_to_rbox,
    poly_to_rbox_np,
    rbox_to_hbox,
    rbox_to_poly,
    rbox_to_poly_np,
)
from centerx_tasks.rotated.polygon_iou import poly_iou_aligned


def random_rboxes(n: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    cx = torch.rand(n, generator=g, dtype=torch.float64) * 2000
    cy = torch.rand(n, generator=g, dtype=torch.float64) * 2000
    w = 1 + torch.rand(n, generator=g, dtype=torch.float64) * 300
    h = 1 + torch.rand(n, generator=g, dtype=torch.float64) * 300
    theta = (torch.rand(n, generator=g, dtype=torch.float64) - 0.5) * 20  # many periods
    return torch.stack([cx, cy, w, h, theta], -1).to(dtype)


def point_set_distance(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Max over the vertices of p of the distance to the nearest vertex of q (and vice versa): (N,)."""
    a = p.reshape(-1, 4, 1, 2).double()
    b = q.reshape(-1, 1, 4, 2).double()
    d = torch.linalg.vector_norm(a - b, dim=-1)  # (N, 4, 4)
    return torch.maximum(d.amin(-1).amax(-1), d.amin(-2).amax(-1))


def signed_area(polys: torch.Tensor) -> torch.Tensor:
    x, y = polys[..., 0::2], polys[..., 1::2]
    return 0.5 * (x * y.roll(-1, -1) - x.roll(-1, -1) * y).sum(-1)


def test_rbox_to_poly_axis_aligned_order():
    poly = rbox_to_poly(torch.tensor([[10.0, 20.0, 6.0, 2.0, 0.0]]))
    # top-left, top-right, bottom-right, bottom-left (clockwise on screen, y down)
    assert torch.allclose(poly, torch.tensor([[7.0, 19.0, 13.0, 19.0, 13.0, 21.0, 7.0, 21.0]]))


def test_rbox_to_poly_is_clockwise_on_screen():
    polys = rbox_to_poly(random_rboxes(1000, seed=1))
    assert (signed_area(polys) > 0).all()  # positive shoelace with y down == clockwise on screen


def test_round_trip_float64():
    rboxes = random_rboxes(5000, seed=2)
    polys = rbox_to_poly(rboxes)
    back = poly_to_rbox(polys)
    assert point_set_distance(rbox_to_poly(back), polys).max() < 1e-4
    # and the recovered box is the canonical form of the input
    canon = canonical_rbox(rboxes)
    not_square = (canon[:, 2] - canon[:, 3]).abs() > 1e-6
    assert torch.allclose(back[not_square, :4], canon[not_square, :4], atol=1e-6)
    dtheta = torch.remainder(back[not_square, 4] - canon[not_square, 4] + math.pi / 2, math.pi) - math.pi / 2
    assert dtheta.abs().max() < 1e-6


def test_round_trip_float32():
    rboxes = random_rboxes(5000, seed=3, dtype=torch.float32)
    polys = rbox_to_poly(rboxes)
    back = poly_to_rbox(polys)
    assert back.dtype == torch.float32
    assert point_set_distance(rbox_to_poly(back), polys).max() < 1e-3  # float32 ulp at 2000 px is 1.2e-4


def test_canonical_form_range_and_invariance():
    rboxes = random_rboxes(2000, seed=4)
    canon = canonical_rbox(rboxes)
    assert (canon[:, 2] >= canon[:, 3]).all()
    assert (canon[:, 4] >= -math.pi / 2).all() and (canon[:, 4] < math.pi / 2).all()

    plus_pi = rboxes.clone()
    plus_pi[:, 4] += math.pi
    swapped = rboxes[:, [0, 1, 3, 2, 4]].clone()
    swapped[:, 4] += math.pi / 2
    for variant in (plus_pi, swapped):
        assert torch.allclose(canonical_rbox(variant)[:, :4], canon[:, :4])
        assert point_set_distance(rbox_to_poly(variant), rbox_to_poly(rboxes)).max() < 1e-9
        assert point_set_distance(rbox_to_poly(canonical_rbox(variant)), rbox_to_poly(rboxes)).max() < 1e-9


def test_canonical_wrap_edges():
    boxes = torch.tensor(
        [
            [0, 0, 4, 2, math.pi / 2],  # -> -pi/2
            [0, 0, 4, 2, -math.pi / 2],  # stays
            [0, 0, 2, 4, 0.0],  # swap -> theta pi/2 -> -pi/2
            [0, 0, 3, 3, 1.0],  # square: no swap, theta kept
            [0, 0, 3, 3, 2.0],  # square: theta wrapped by pi
            [0, 0, -4, 2, 0.1],  # negative size -> abs
        ],
        dtype=torch.float64,
    )
    out = canonical_rbox(boxes)
    expected = torch.tensor(
        [
            [0, 0, 4, 2, -math.pi / 2],
            [0, 0, 4, 2, -math.pi / 2],
            [0, 0, 4, 2, -math.pi / 2],
            [0, 0, 3, 3, 1.0],
            [0, 0, 3, 3, 2.0 - math.pi],
            [0, 0, 4, 2, 0.1],
        ],
        dtype=torch.float64,
    )
    assert torch.allclose(out, expected)
    tiny_negative = canonical_rbox(torch.tensor([[0, 0, 4, 2, -1e-30]], dtype=torch.float32))
    assert -math.pi / 2 <= tiny_negative[0, 4].item() < math.pi / 2


def test_batch_dims_and_hbox():
    rboxes = random_rboxes(24, seed=5).reshape(2, 3, 4, 5)
    polys = rbox_to_poly(rboxes)
    assert polys.shape == (2, 3, 4, 8)
    assert poly_to_rbox(polys).shape == (2, 3, 4, 5)
    assert torch.allclose(rbox_to_hbox(rboxes), poly_to_hbox(polys))
    with pytest.raises(ValueError):
        rbox_to_poly(torch.zeros(3, 4))


def test_poly_to_rbox_encloses_quads_minimally():
    g = torch.Generator().manual_seed(6)
    rboxes = random_rboxes(500, seed=6)
    quads = rbox_to_poly(rboxes) + torch.randn(500, 8, generator=g, dtype=torch.float64) * 3
    rect = poly_to_rbox(quads)
    # every quad vertex lies inside its rectangle (in the rectangle's frame)
    cx, cy, w, h, t = rect.unbind(-1)
    dx, dy = quads[:, 0::2] - cx[:, None], quads[:, 1::2] - cy[:, None]
    along = dx * torch.cos(t)[:, None] + dy * torch.sin(t)[:, None]
    across = -dx * torch.sin(t)[:, None] + dy * torch.cos(t)[:, None]
    assert (along.abs() <= w[:, None] / 2 + 1e-6).all()
    assert (across.abs() <= h[:, None] / 2 + 1e-6).all()
    # no larger than the axis-aligned box, and at least as small as the input-box fit
    hb = poly_to_hbox(quads)
    assert (w * h <= (hb[:, 2] - hb[:, 0]) * (hb[:, 3] - hb[:, 1]) + 1e-6).all()


def test_poly_to_rbox_special_quads():
    quads = torch.tensor(
        [
            [0, 0, 4, 0, 4, 2, 0, 2],  # rectangle
            [0, 0, 4, 2, 4, 0, 0, 2],  # bow-tie of the same corners -> same rectangle (hull)
            [0, 0, 4, 0, 1, 1, 0, 4],  # non-convex dart: hull is the triangle (0,0) (4,0) (0,4)
            [0, 0, 1, 1, 2, 2, 3, 3],  # collinear -> zero height
            [5, 5, 5, 5, 5, 5, 5, 5],  # single point
        ],
        dtype=torch.float64,
    )
    out = poly_to_rbox(quads)
    assert torch.allclose(out[0], torch.tensor([2, 1, 4, 2, 0], dtype=torch.float64))
    assert torch.allclose(out[1], out[0])
    # hull = right triangle of area 8; its min-area rectangle has twice that area (4x4 or 4v2 x 2v2)
    assert abs(out[2, 2].item() * out[2, 3].item() - 16.0) < 1e-9
    assert out[3, 3].item() == pytest.approx(0.0, abs=1e-12)
    assert out[3, 2].item() == pytest.approx(3 * math.sqrt(2))
    assert torch.allclose(out[4], torch.tensor([5, 5, 0, 0, 0], dtype=torch.float64))


def test_min_area_rect_with_padding_points():
    # an octagon given with repeated padding points
    angles = torch.arange(8, dtype=torch.float64) * math.pi / 4
    pts = torch.stack([10 + 3 * torch.cos(angles), 20 + 3 * torch.sin(angles)], -1)
    padded = torch.cat([pts, pts[:1].repeat(4, 1)], 0)[None]
    out = min_area_rect(padded)[0]
    assert torch.allclose(out[:2], torch.tensor([10.0, 20.0], dtype=torch.float64))
    assert out[2].item() == pytest.approx(6 * math.cos(math.pi / 8))


def test_numpy_wrappers_keep_dtype():
    rb = random_rboxes(10, seed=7).numpy()
    assert rbox_to_poly_np(rb).dtype == np.float64
    assert rbox_to_poly_np(rb.astype(np.float32)).dtype == np.float32
    assert poly_to_rbox_np(rbox_to_poly_np(rb)).shape == (10, 5)
    assert poly_to_rbox_np(np.zeros((2, 8), dtype=np.int64)).dtype == np.float64


@pytest.mark.parametrize("name", ["P1888", "P0706"])
def test_poly_to_rbox_on_real_labels(dota_dir, name):
    labels = parse_dota_label_file(dota_dir / "labelTxt" / f"{name}.txt")
    rect = rbox_to_poly_np(poly_to_rbox_np(labels.polys.astype(np.float64)))
    iou = poly_iou_aligned(rect, labels.polys)
    print(f"{name}: min-area rect IoU with labelled quads: min {iou.min():.4f}, "
          f"median {np.median(iou):.4f}, >0.9 for {(iou > 0.9).mean():.1%} of {len(iou)}")
    assert (iou > 0.9).mean() >= 0.9
    assert iou.min() > 0.75
