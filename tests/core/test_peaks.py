"""Peak extraction (3x3 max-pool NMS + top-K) and gathering maps at the peaks."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from centerx.decode import extract_peaks, gather_at_peaks


def hand_heatmap() -> torch.Tensor:
    heat = torch.zeros(1, 2, 7, 8)
    # class 0: a bump (0.9 center, 0.5 ring) -> only its center survives
    heat[0, 0, 1:4, 1:4] = 0.5
    heat[0, 0, 2, 2] = 0.9
    # class 0: a flat 3x3 plateau of 0.7 -> every cell equals its 3x3 max (CenterNet keeps ties)
    heat[0, 0, 4:7, 5:8] = 0.7
    # class 0: a lower cell next to the plateau is suppressed
    heat[0, 0, 5, 4] = 0.6
    # class 1: a peak on the border, and one at the same cell as class 0's bump (different class)
    heat[0, 1, 0, 7] = 0.8
    heat[0, 1, 2, 2] = 0.3
    heat[0, 1, 2, 3] = 0.2  # suppressed by its class-1 neighbour, not by class 0
    return heat


def test_hand_heatmap_peaks_and_order() -> None:
    p = extract_peaks(hand_heatmap(), k=13)
    assert p.scores.shape == (1, 13)
    got = list(zip(p.scores[0].tolist(), p.labels[0].tolist(), p.xs[0].tolist(), p.ys[0].tolist()))
    assert got[0] == pytest.approx((0.9, 0, 2, 2))
    assert got[1] == pytest.approx((0.8, 1, 7, 0))
    plateau = got[2:11]
    assert all(s == pytest.approx(0.7) and c == 0 for s, c, _, _ in plateau)
    assert sorted((x, y) for _, _, x, y in plateau) == [(x, y) for x in range(5, 8) for y in range(4, 7)]
    assert got[11] == pytest.approx((0.3, 1, 2, 2))
    assert got[12][0] == 0.0  # everything else is suppressed or zero
    # scores descend, index is ys * W + xs
    assert torch.all(p.scores[0, 1:] <= p.scores[0, :-1])
    assert torch.equal(p.index, p.ys * 8 + p.xs)
    # the suppressed cells never appear with a non-zero score
    nonzero = {(c, x, y) for s, c, x, y in got if s > 0}
    assert (0, 4, 5) not in nonzero and (1, 3, 2) not in nonzero and (0, 1, 1) not in nonzero


def test_topk_is_capped_at_cells_times_classes() -> None:
    heat = torch.rand(2, 3, 2, 2, generator=torch.Generator().manual_seed(0))
    p = extract_peaks(heat, k=100)
    assert p.scores.shape == (2, 12) and p.labels.shape == (2, 12)
    assert p.labels.max() <= 2 and p.xs.max() <= 1 and p.ys.max() <= 1


def naive_peaks(heat: np.ndarray, k: int, pool: int = 3):
    B, C, H, W = heat.shape
    r = pool // 2
    out = []
    for b in range(B):
        cand = []
        for c in range(C):
            for y in range(H):
                for x in range(W):
                    win = heat[b, c, max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]
                    v = heat[b, c, y, x] if heat[b, c, y, x] >= win.max() else 0.0
                    cand.append((v, c, x, y))
        cand.sort(key=lambda t: -t[0])
        out.append(cand[:k])
    return out


@pytest.mark.parametrize('seed,pool', [(0, 3), (1, 3), (2, 5)])
def test_matches_naive_implementation(seed: int, pool: int) -> None:
    rng = np.random.default_rng(seed)
    heat = rng.random((2, 3, 9, 11)).astype(np.float32) ** 3  # distinct values, many local maxima
    k = 25
    p = extract_peaks(torch.from_numpy(heat), k=k, pool_size=pool)
    ref = naive_peaks(heat, k, pool)
    for b in range(2):
        got = list(zip(p.scores[b].tolist(), p.labels[b].tolist(), p.xs[b].tolist(), p.ys[b].tolist()))
        n_pos = sum(1 for t in ref[b] if t[0] > 0)
        assert n_pos >= 10
        assert [t[1:] for t in got[:n_pos]] == [t[1:] for t in ref[b][:n_pos]]
        np.testing.assert_allclose([t[0] for t in got], [t[0] for t in ref[b]], rtol=0, atol=0)


def test_gather_at_peaks_values() -> None:
    heat = hand_heatmap()
    p = extract_peaks(heat, k=5)
    maps = torch.arange(1 * 3 * 7 * 8, dtype=torch.float32).view(1, 3, 7, 8)
    vals = gather_at_peaks(maps, p)
    assert vals.shape == (1, 5, 3)
    for k in range(5):
        x, y = p.xs[0, k].item(), p.ys[0, k].item()
        assert vals[0, k].tolist() == [maps[0, c, y, x].item() for c in range(3)]


def test_gather_at_peaks_batched() -> None:
    g = torch.Generator().manual_seed(4)
    heat = torch.rand(3, 2, 5, 6, generator=g)
    maps = torch.randn(3, 4, 5, 6, generator=g)
    p = extract_peaks(heat, k=7)
    vals = gather_at_peaks(maps, p)
    assert vals.shape == (3, 7, 4)
    for b in range(3):
        for k in range(7):
            assert torch.equal(vals[b, k], maps[b, :, p.ys[b, k], p.xs[b, k]])
