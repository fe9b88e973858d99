"""sparse_focal_loss (dense logits + sparse target) equals penalty_reduced_focal_loss, value and gradient."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import centerx.losses.sparse_focal as sparse_focal
from centerx.heatmap import KernelShape, SparseHeatmap, render_gaussians, render_sparse
from centerx.losses import penalty_reduced_focal_loss, sparse_focal_loss


def both(logits: torch.Tensor, heat: torch.Tensor, ignore=None, channels=None, **kw):
    """(dense loss, sparse loss, dense grad, sparse grad) of one case; the target has no positive
    outside ``channels``."""
    a = logits.detach().clone().requires_grad_()
    b = logits.detach().clone().requires_grad_()
    dense_ignore = ignore
    if channels is not None:
        off = ~channels[:, :, None, None].expand_as(heat)
        dense_ignore = off if ignore is None else ignore | off
    dense = penalty_reduced_focal_loss(a, heat, ignore=dense_ignore, **kw)
    sparse = sparse_focal_loss(b, SparseHeatmap.from_dense(heat, ignore), channels=channels, **kw)
    (3.0 * dense).backward()
    (3.0 * sparse).backward()
    return dense, sparse, a.grad, b.grad


def assert_same(dense, sparse, grad_d, grad_s, rel: float) -> None:
    assert sparse.dtype == dense.dtype
    assert float(sparse.detach()) == pytest.approx(float(dense.detach()), rel=rel, abs=1e-30)
    scale = float(grad_d.abs().max()) or 1.0
    assert float((grad_d - grad_s).abs().max()) <= rel * 10 * scale


# the inputs of the dense loss's tests (tests/core/test_focal_loss.py)
HAND = [
    (torch.tensor([[[[0.0, 1.0], [-1.0, 2.0]]]]), torch.tensor([[[[1.0, 0.5], [0.0, 0.25]]]]), {}),
    (torch.tensor([[[[0.0, 1.0], [-1.0, 2.0]]]]), torch.tensor([[[[1.0, 0.5], [0.0, 0.25]]]]),
     dict(alpha=3.0, beta=2.0)),
    (torch.tensor([[[[0.5, -0.3], [1.5, -2.0]]]]), torch.tensor([[[[1.0, 0.2], [1.0, 0.0]]]]), {}),
    (torch.tensor([[[[0.5, -0.3], [1.5, -2.0]]]]), torch.tensor([[[[0.9, 0.2], [0.0, 0.0]]]]), {}),  # no positive
    (torch.tensor([[[[100.0, -100.0], [-100.0, 100.0]]]]), torch.tensor([[[[0.0, 1.0], [0.0, 1.0]]]]), {}),  # clamp
]


@pytest.mark.parametrize('case', range(len(HAND)))
def test_equals_the_dense_loss_on_its_hand_cases(case: int) -> None:
    logits, target, kw = HAND[case]
    assert_same(*both(logits, target, **kw), rel=1e-6)


def test_equals_the_dense_loss_with_ignore_regions() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 6, 7, generator=g)
    target = torch.rand(2, 3, 6, 7, generator=g) * 0.9
    target[0, 1, 2, 3] = target[1, 2, 5, 0] = target[1, 0, 0, 6] = 1.0
    ignore = torch.zeros(2, 3, 6, 7, dtype=torch.bool)
    ignore[0, 0, 1:4, 2:5] = True
    ignore[1, 2, 4:, 1:3] = True
    ignore[0, 1, 2, 3] = True            # a flag on a positive: the positive still counts
    assert_same(*both(logits, target, ignore), rel=1e-6)
    assert_same(*both(logits, target, target < 1), rel=1e-6)     # only the positive term


def objects(draw, B: int, C: int, H: int, W: int):
    m = draw(st.integers(0, 14))
    ints = lambda hi: st.lists(st.integers(0, hi), min_size=m, max_size=m)  # noqa: E731
    bi, lb = torch.tensor(draw(ints(B - 1)), dtype=torch.int64), torch.tensor(draw(ints(C - 1)), dtype=torch.int64)
    ct = torch.tensor([list(p) for p in zip(draw(ints(W - 1)), draw(ints(H - 1)))], dtype=torch.int64).reshape(m, 2)
    rx, ry = torch.tensor(draw(ints(6)), dtype=torch.int64), torch.tensor(draw(ints(6)), dtype=torch.int64)
    sx, sy = (2 * rx.double() + 1) / 6, (2 * ry.double() + 1) / 6
    rho = torch.tensor(draw(st.lists(st.floats(-0.6, 0.6), min_size=m, max_size=m)), dtype=torch.float64)
    det = (1 - rho ** 2) * sx ** 2 * sy ** 2          # a tilted ellipse: inverse of [[sx², r sx sy], [., sy²]]
    inv = torch.stack([sy ** 2 / det, -rho * sx * sy / det, sx ** 2 / det], 1).float().reshape(m, 3)
    kernel = KernelShape(torch.stack([rx, ry], 1).reshape(m, 2), inv)
    ignored = torch.tensor(draw(st.lists(st.booleans(), min_size=m, max_size=m)), dtype=torch.bool)
    return bi, lb, ct, kernel, ignored


@st.composite
def batches(draw):
    B, C = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    H, W = draw(st.integers(1, 12)), draw(st.integers(1, 12))
    bi, lb, ct, kernel, ignored = objects(draw, B, C, H, W)
    seed = draw(st.integers(0, 2 ** 16))
    scale = draw(st.sampled_from([0.5, 3.0, 12.0]))    # 12: many logits beyond the clamp
    partial = draw(st.booleans())
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, C, H, W, generator=g, dtype=torch.float64) * scale - 1
    channels = (torch.rand(B, C, generator=g) < 0.7) if partial else None
    return (B, C, H, W), bi, lb, ct, kernel, ignored, logits, channels


@given(batches())
def test_equals_the_dense_loss_on_random_batches(batch) -> None:
    """Overlapping objects of one class, classes sharing cells, borders, ignored windows,
    empty batches and unannotated channels, in float32 (1e-6 relative) and float64."""
    shape, bi, lb, ct, kernel, ignored, logits, channels = batch
    sparse = render_sparse(shape, bi, lb, ct, kernel, ignored)
    heat = render_gaussians(shape, bi[~ignored], lb[~ignored], ct[~ignored],
                            KernelShape(kernel.radius[~ignored], kernel.inv_cov[~ignored]))
    ign = render_gaussians(shape, bi[ignored], lb[ignored], ct[ignored],
                           KernelShape(kernel.radius[ignored], kernel.inv_cov[ignored]))
    ignore = (ign > 0) & (heat < 1)
    assert torch.equal(sparse.to_dense()[0], heat) and torch.equal(sparse.to_dense()[1], ignore)
    if channels is not None:   # as CenterHead.loss: no object (no positive) on an unannotated channel
        heat = heat * channels[:, :, None, None]
        ignore = ignore & channels[:, :, None, None]
    for dtype, rel in ((torch.float32, 1e-6), (torch.float64, 1e-12)):
        assert_same(*both(logits.to(dtype), heat, ignore, channels), rel=rel)


def test_channels_drop_their_cells_positives_included() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 2, 5, 5, generator=g, dtype=torch.float64)
    heat = torch.zeros(2, 2, 5, 5, dtype=torch.float64)
    heat[0, 1, 2, 2], heat[0, 1, 2, 3], heat[1, 0, 1, 1] = 1.0, 0.5, 1.0
    channels = torch.tensor([[True, False], [True, True]])
    got = sparse_focal_loss(logits, SparseHeatmap.from_dense(heat), channels=channels)
    kept = heat.clone()
    kept[0, 1] = 0
    want = penalty_reduced_focal_loss(logits, kept, ignore=~channels[:, :, None, None].expand_as(heat))
    assert float(got) == pytest.approx(float(want), rel=1e-12)


def test_many_chunks_of_the_dense_pass(monkeypatch) -> None:
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(3, 4, 9, 10, generator=g, dtype=torch.float64) * 4
    heat = (torch.rand(3, 4, 9, 10, generator=g) - 0.6).clamp(min=0) * 2   # float32 values, as rendered
    heat[heat > 0.7] = 1.0
    channels = torch.rand(3, 4, generator=g) < 0.6
    heat = heat * channels[:, :, None, None]
    for chunk in (1, 7, 200, 1 << 16):   # a row per chunk (rows longer than a chunk), several rows, one pass
        monkeypatch.setattr(sparse_focal, 'CHUNK', chunk)
        assert_same(*both(logits, heat, None, channels), rel=1e-12)


def test_no_grad_retained_backward_and_bad_input() -> None:
    logits = torch.randn(1, 2, 4, 4)
    target = SparseHeatmap.from_dense(torch.zeros(1, 2, 4, 4))
    with torch.no_grad():
        value = sparse_focal_loss(logits, target)
    assert float(value) == pytest.approx(float(penalty_reduced_focal_loss(logits, torch.zeros(1, 2, 4, 4))), rel=1e-6)
    x = logits.clone().requires_grad_()
    threads = torch.get_num_threads()
    loss = sparse_focal_loss(x, target)
    assert torch.get_num_threads() == threads   # the dense pass runs on one thread, then restores
    loss.backward(retain_graph=True)
    first = x.grad.clone()
    (3.0 * loss).backward()  # a retained graph backpropagates again (GradNorm does), with any scale
    torch.testing.assert_close(x.grad, 4.0 * first)
    assert not torch.equal(first, torch.zeros_like(first))
    with pytest.raises(ValueError, match=r'logits of shape \(1, 2, 4, 5\) do not match the target shape'):
        sparse_focal_loss(torch.zeros(1, 2, 4, 5), target)
    with pytest.raises(ValueError, match=r'channels has shape \(2, 1\), expected \(1, 2\)'):
        sparse_focal_loss(logits, target, channels=torch.ones(2, 1, dtype=torch.bool))


def test_a_leaf_gets_the_gradient_buffer_itself(monkeypatch) -> None:
    """The gradient written in forward becomes the leaf's .grad without a copy (autograd frees the
    saved buffer after a backward that does not retain the graph, so AccumulateGrad may take it);
    with retain_graph the buffer stays for a second backward, which gives the same gradient."""
    made = []
    empty_like = torch.empty_like

    def recording_empty_like(x, *args, **kwargs):
        out = empty_like(x, *args, **kwargs)
        made.append(out.data_ptr())
        return out

    monkeypatch.setattr(sparse_focal.torch, 'empty_like', recording_empty_like)
    g = torch.Generator().manual_seed(3)
    heat = torch.rand(2, 3, 8, 9, generator=g) * 0.9
    heat[0, 1, 2, 3] = 1.0
    target = SparseHeatmap.from_dense(heat)
    logits = torch.randn(2, 3, 8, 9, generator=g).requires_grad_()
    sparse_focal_loss(logits, target).backward()
    assert logits.grad.data_ptr() in made
    again = torch.randn(2, 3, 8, 9, generator=g).requires_grad_()
    loss = sparse_focal_loss(again, target)
    first = torch.autograd.grad(loss, again, retain_graph=True)[0].clone()
    loss.backward()
    assert torch.equal(again.grad, first)
    with pytest.raises(RuntimeError, match='backward through the graph a second time'):
        loss.backward()
