"""Radius rules and heatmap kernels against hand-written per-box formulas."""
from __future__ import annotations

import math

import pytest
import torch

from centerx.heatmap import (CornerNetGaussian, CorrectedGaussian, EllipticalGaussian,
                             RotatedEllipticalGaussian, build_kernel, cornernet_radius,
                             corrected_radius)

# (h, w) in grid cells
BOXES = [(10.0, 10.0), (4.0, 30.0), (1.0, 1.0), (57.0, 13.0), (2.6, 7.2)]


def cornernet_ref(h: float, w: float, o: float = 0.7) -> float:
    """CornerNet's code (used by CenterNet): ``(b + sqrt(b^2 - 4ac)) / 2`` for all three roots."""
    a1, b1, c1 = 1.0, h + w, w * h * (1 - o) / (1 + o)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2, c2 = 4.0, 2 * (h + w), (1 - o) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3, c3 = 4 * o, -2 * o * (h + w), (o - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def corrected_parts(h: float, w: float, o: float = 0.3):
    """Algebraic roots: ``(b - sqrt) / 2a`` for r1, r2; for r3 both candidate forms.

    r3 as written in the brief / the centerx code: ``(-b3 + sqrt) / (2 a3)`` with
    ``b3 = -2 o (h + w)``; r3 as mmdet writes it: ``(b3 + sqrt) / (2 a3)`` (the positive
    root of ``4o r^2 + 2o(h+w) r + (o-1)wh = 0``).
    """
    a1, b1, c1 = 1.0, h + w, w * h * (1 - o) / (1 + o)
    r1 = (b1 - math.sqrt(b1 ** 2 - 4 * a1 * c1)) / (2 * a1)
    a2, b2, c2 = 4.0, 2 * (h + w), (1 - o) * w * h
    r2 = (b2 - math.sqrt(b2 ** 2 - 4 * a2 * c2)) / (2 * a2)
    a3, b3, c3 = 4 * o, -2 * o * (h + w), (o - 1) * w * h
    sq3 = math.sqrt(b3 ** 2 - 4 * a3 * c3)
    r3_brief = (-b3 + sq3) / (2 * a3)
    r3_mmdet = (b3 + sq3) / (2 * a3)
    return r1, r2, r3_brief, r3_mmdet


def _hw(boxes):
    return (torch.tensor([b[0] for b in boxes], dtype=torch.float64),
            torch.tensor([b[1] for b in boxes], dtype=torch.float64))


def test_cornernet_radius_matches_formula() -> None:
    h, w = _hw(BOXES)
    got = cornernet_radius(h, w, 0.7)
    for i, (hh, ww) in enumerate(BOXES):
        assert got[i].item() == pytest.approx(cornernet_ref(hh, ww, 0.7), rel=1e-9, abs=1e-12)
    # hand value for the 10x10 box: b3 = -2 * 0.7 * 20 = -28, r3 = (-28 + sqrt(784 + 336)) / 2
    assert got[0].item() == pytest.approx((-28 + math.sqrt(1120)) / 2, rel=1e-12)


def test_corrected_radius_matches_formula() -> None:
    h, w = _hw(BOXES)
    got = corrected_radius(h, w, 0.3)
    for i, (hh, ww) in enumerate(BOXES):
        r1, r2, r3_brief, r3_mmdet = corrected_parts(hh, ww, 0.3)
        assert got[i].item() == pytest.approx(min(r1, r2, r3_brief), rel=1e-9, abs=1e-12)
        # whichever r3 form is used, r3 is never the minimum (r3 >= (h + w) / 4 >= r2 for the
        # brief form, and the IoU of a box grown by r is >= that of one shrunk by r), so the
        # result is min(r1, r2) and agrees with mmdet's gaussian_radius.
        assert min(r3_brief, r3_mmdet) >= r2
        assert got[i].item() == pytest.approx(min(r1, r2, r3_mmdet), rel=1e-9, abs=1e-12)
    # hand value for 10x10, o = 0.3: r2 = (40 - sqrt(1600 - 16 * 70)) / 8
    assert got[0].item() == pytest.approx((40 - math.sqrt(480)) / 8, rel=1e-12)


def test_cornernet_and_corrected_differ() -> None:
    h, w = _hw(BOXES)
    a = cornernet_radius(h, w, 0.7)
    b = corrected_radius(h, w, 0.7)
    assert (a - b).abs().min().item() > 1e-3
    # same min_overlap, different formulas: per-box values as hand-computed
    for i, (hh, ww) in enumerate(BOXES):
        assert b[i].item() == pytest.approx(min(corrected_parts(hh, ww, 0.7)[:3]), rel=1e-9)


def _circ_inv(r: int) -> float:
    sigma = (2 * r + 1) / 6
    return 1 / sigma ** 2


def test_cornernet_kernel_ceils_sizes_and_floors_radius() -> None:
    # sizes are (w, h); non-integer sizes must be ceiled before the radius rule
    sizes = torch.tensor([[9.2, 9.01], [29.5, 3.3], [0.4, 0.7], [12.1, 56.5], [0.0, 0.0]])
    k = CornerNetGaussian()(sizes)
    assert k.radius.dtype == torch.int64 and k.radius.shape == (5, 2)
    for i, (w, h) in enumerate(sizes.tolist()):
        expected = max(0, int(cornernet_ref(math.ceil(h), math.ceil(w), 0.7)))
        assert k.radius[i].tolist() == [expected, expected], (i, w, h)
        inv = _circ_inv(expected)
        assert k.inv_cov[i].tolist() == pytest.approx([inv, 0.0, inv], rel=1e-6)
    # the 9.2 x 9.01 box is treated as 10 x 10: floor((-28 + sqrt(1120)) / 2) = floor(2.73) = 2
    assert k.radius[0, 0].item() == 2
    # a box where the ceil changes the integer radius
    w, h = 7.1, 7.1  # floor(1.94) = 1 without the ceil, floor(2.19) = 2 with it
    no_ceil = int(cornernet_ref(h, w))
    with_ceil = int(cornernet_ref(math.ceil(h), math.ceil(w)))
    assert no_ceil != with_ceil
    assert CornerNetGaussian()(torch.tensor([[w, h]])).radius[0, 0].item() == with_ceil


def test_corrected_kernel_floors_radius() -> None:
    sizes = torch.tensor([[10.0, 10.0], [30.0, 4.0], [13.0, 57.0], [1.0, 1.0]])
    k = CorrectedGaussian()(sizes)
    for i, (w, h) in enumerate(sizes.tolist()):
        expected = max(0, int(min(corrected_parts(h, w, 0.3)[:3])))
        assert k.radius[i].tolist() == [expected, expected]
    assert k.radius[:, 0].tolist() == [2, 1, 4, 0]


def test_elliptical_kernel_per_axis_radius() -> None:
    sizes = torch.tensor([[10.0, 10.0], [30.0, 4.0], [13.0, 57.0], [1.0, 1.0], [3.8, 7.5]])
    k = EllipticalGaussian()(sizes)
    for i, (w, h) in enumerate(sizes.tolist()):
        rx, ry = int(0.54 * w / 2), int(0.54 * h / 2)
        assert k.radius[i].tolist() == [rx, ry]
        sx, sy = (2 * rx + 1) / 6, (2 * ry + 1) / 6
        assert k.inv_cov[i].tolist() == pytest.approx([1 / sx ** 2, 0.0, 1 / sy ** 2], rel=1e-6)
    assert k.radius.tolist()[:3] == [[2, 2], [8, 1], [3, 15]]


def test_rotated_elliptical_angle_zero_and_none_equal_elliptical() -> None:
    sizes = torch.tensor([[10.0, 10.0], [30.0, 4.0], [13.0, 57.0], [1.0, 1.0]])
    ref = EllipticalGaussian()(sizes)
    for angles in (None, torch.zeros(4)):
        k = RotatedEllipticalGaussian()(sizes, angles)
        assert torch.equal(k.radius, ref.radius)
        torch.testing.assert_close(k.inv_cov, ref.inv_cov, rtol=1e-6, atol=1e-7)


def test_rotated_elliptical_quarter_turn_swaps_axes() -> None:
    sizes = torch.tensor([[30.0, 4.0], [13.0, 57.0], [10.0, 10.0]])
    ref = EllipticalGaussian()(sizes)
    k = RotatedEllipticalGaussian()(sizes, torch.full((3,), math.pi / 2))
    assert torch.equal(k.radius, ref.radius.flip(1))
    a, b, c = k.inv_cov.unbind(1)
    torch.testing.assert_close(a, ref.inv_cov[:, 2], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(c, ref.inv_cov[:, 0], rtol=1e-5, atol=1e-6)
    assert b.abs().max().item() < 1e-5


def test_rotated_elliptical_45_degrees_has_cross_term() -> None:
    sizes = torch.tensor([[30.0, 4.0]])
    k = RotatedEllipticalGaussian()(sizes, torch.tensor([math.pi / 4]))
    rx, ry = int(0.54 * 30 / 2), int(0.54 * 4 / 2)  # 8, 1
    iu, iv = 1 / ((2 * rx + 1) / 6) ** 2, 1 / ((2 * ry + 1) / 6) ** 2
    c2 = s2 = 0.5
    expected = [iu * c2 + iv * s2, (iu - iv) * 0.5, iu * s2 + iv * c2]
    assert k.inv_cov[0].tolist() == pytest.approx(expected, rel=1e-5)
    r = round((rx + ry) * math.sqrt(0.5))
    assert k.radius[0].tolist() == [r, r]


def test_build_kernel() -> None:
    assert isinstance(build_kernel(None), CornerNetGaussian)
    k = build_kernel(dict(type='CorrectedGaussian', min_overlap=0.5))
    assert isinstance(k, CorrectedGaussian) and k.min_overlap == 0.5
    inst = EllipticalGaussian(alpha=0.3)
    assert build_kernel(inst) is inst
