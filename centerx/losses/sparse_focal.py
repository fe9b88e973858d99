"""The penalty-reduced focal loss from dense logits and a sparse target (no dense target map).

With ``p = clamp(sigmoid(x), eps, 1 - eps)`` the loss of
:func:`~centerx.losses.penalty_reduced_focal_loss` splits into

* a target-free negative term over every cell: ``f(x) = log(1 - p) p^alpha``, and
* corrections at the target's K sparse cells only: ``((1 - y)^beta - 1) f(x)`` where
  ``0 <= y < 1``, ``pos(x) - f(x)`` where ``y == 1`` (``pos(x) = log(p) (1 - p)^alpha``), and
  ``-f(x)`` at ignored cells,

so ``L = -(sum_cells f + sum_sparse corrections) / max(1, #positives)``. Whole (image, class)
channels that are not annotated are left out of the dense sum (and their sparse cells dropped).

The dense sum and its gradient are one pass of :class:`SparseFocalLoss` over the logits, in
chunks small enough to stay in cache; the derivatives (inside the clamp range; 0 outside, as
the clamp makes them) are, with ``dp/dx = p (1 - p)``:

* ``d f / dx   = p^alpha (alpha (1 - p) log(1 - p) - p)``
* ``d pos / dx = (1 - p)^alpha ((1 - p) - alpha p log p)``
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from centerx.heatmap.sparse import SparseHeatmap

#: elements of logits per chunk of the dense pass (a few 256 KB buffers: cache resident)
CHUNK = 1 << 16


def _negative_pass(x2d: Tensor, rows: Optional[Tensor], alpha: float, eps: float, scale: float,
                   grad: Optional[Tensor]) -> Tensor:
    """Sum of ``f(x)`` over the rows of ``x2d`` kept by ``rows``, and ``scale * df/dx`` into ``grad``.

    The gradient is formed from ``f`` itself: ``df/dx = alpha f - p (alpha f + p^alpha)``
    (the docstring's derivative multiplied out), four elementwise ops per chunk. A chunk whose
    logits all lie safely inside the clamp range skips the clamp and its mask. The caller runs
    it with one intra-op thread: splitting each of the ~10 ops per chunk across threads costs a
    fork/join each, which on a busy machine made 2 threads 15x slower than one (measured).

    Args:
        x2d: (R, S) contiguous logits, one row per (image, class) channel.
        rows: (R,) float 0/1 weight of each row, or None (all rows count).
        alpha: focusing exponent.
        eps: probability clamp.
        scale: factor of the gradient written to ``grad``.
        grad: (R, S) output buffer of the gradient, or None (value only).

    Returns:
        0-dim float64 sum.
    """
    R, S = x2d.shape
    step = max(1, CHUNK // max(S, 1))
    total = torch.zeros((), dtype=torch.float64, device=x2d.device)
    # logits strictly inside [logit(eps), logit(1 - eps)] by a margin far above float rounding
    lo, hi = math.log(eps / (1 - eps)) + 1e-3, math.log((1 - eps) / eps) - 1e-3
    n = min(step, R) * S
    check = x2d.device.type == 'cpu'
    buf = [torch.empty(n, dtype=x2d.dtype, device=x2d.device) for _ in range(4)]
    for r0 in range(0, R, step):
        xc = x2d[r0:r0 + step]
        shape = xc.shape
        p, log_1mp, p_alpha, f = (b[:xc.numel()].view(shape) for b in buf)
        torch.sigmoid(xc, out=p)
        clamped = True
        if check:  # one cheap reduction of the chunk while it is in cache (no sync on CPU)
            lo_x, hi_x = torch.aminmax(xc)
            clamped = not (float(lo_x) > lo and float(hi_x) < hi)
        outside = None
        if clamped:
            outside = (p < eps) | (p > 1 - eps)  # the clamp passes no gradient there
            p.clamp_(eps, 1 - eps)
        torch.neg(p, out=log_1mp).log1p_()
        if alpha == 2:
            torch.mul(p, p, out=p_alpha)
        else:
            torch.pow(p, alpha, out=p_alpha)
        torch.mul(log_1mp, p_alpha, out=f)
        w = None if rows is None else rows[r0:r0 + step].view(-1, 1)
        if w is not None:
            f.mul_(w)
        total += f.sum(dtype=torch.float64)
        if grad is not None:
            g = torch.add(p_alpha, f, alpha=alpha, out=log_1mp)   # alpha f + p^alpha (f is masked)
            g.mul_(p).sub_(f, alpha=alpha)                         # = -df/dx
            if outside is not None:
                g.masked_fill_(outside, 0.0)
            torch.mul(g, -scale if w is None else w * -scale, out=grad[r0:r0 + step])
    return total


def _sparse_terms(xs: Tensor, y: Tensor, ignore: Tensor, alpha: float, beta: float,
                  eps: float) -> Tuple[Tensor, Tensor]:
    """Corrections of the dense negative sum at K sparse cells, and their derivatives.

    Args:
        xs: (K,) logits at the cells; y: (K,) targets; ignore: (K,) bool.

    Returns:
        term (K,) and d term / dx (K,), both in the dtype of ``xs``.
    """
    q = torch.sigmoid(xs)
    p = q.clamp(eps, 1 - eps)
    log_1mp = torch.log1p(-p)  # as the dense pass forms it: its terms cancel here exactly
    log_p = torch.log(p)
    p_alpha = p.pow(alpha)
    q_alpha = (1 - p).pow(alpha)
    f = log_1mp * p_alpha
    df = p_alpha * (alpha * (1 - p) * log_1mp - p)
    pos = (y == 1).to(xs.dtype)
    neg_weight = torch.where((y == 1) | ignore, torch.zeros_like(y), (1 - y).pow(beta)) - 1
    term = neg_weight * f + pos * (log_p * q_alpha)
    dterm = neg_weight * df + pos * (q_alpha * ((1 - p) - alpha * p * log_p))
    return term, dterm * (p == q)


class SparseFocalLoss(torch.autograd.Function):
    """``L`` of the module docstring for (B, C, H, W) logits; gradient computed in forward.

    ``forward(logits, index, value, ignore, channels, alpha, beta, eps)`` with ``index`` (K,)
    unique flat cells, ``value`` (K,) targets, ``ignore`` (K,) bool, ``channels`` (B*C,) float
    0/1 weights of whole channels or None. The gradient (a logits-sized buffer) is written
    during the forward pass; backward hands it on as it is when the incoming gradient is 1 (the
    usual case: no pass over it) and scaled into a new buffer otherwise, so the buffer is never
    changed and a retained graph backpropagates again (GradNorm's gradient norms do). The buffer
    is a saved tensor, which autograd frees after a backward that does not retain the graph (so
    saved-tensor hooks such as ``save_on_cpu`` see it too). In training the logits come from a
    conv, which reads the buffer in its own backward; where the logits are a leaf (the loss
    benchmarks), ``.grad`` takes the buffer itself: held on ``ctx`` instead, autograd copied all
    B x C x H x W values into ``.grad`` (32 ms of a ~200 ms call at 80 classes, 128 x 128,
    batch 16), a cost no training step pays.
    """

    @staticmethod
    def forward(ctx, logits: Tensor, index: Tensor, value: Tensor, ignore: Tensor, channels: Optional[Tensor],
                alpha: float, beta: float, eps: float) -> Tensor:
        B, C, H, W = logits.shape
        x = logits.contiguous()
        flat = x.view(-1)
        num_pos = (value == 1).sum().clamp(min=1).to(torch.float64)
        scale = -1.0 / float(num_pos)
        want_grad = ctx.needs_input_grad[0]
        grad = torch.empty_like(x) if want_grad else None
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # see _negative_pass: thousands of small ops, one thread each
        try:
            total = _negative_pass(x.view(B * C, H * W), channels, alpha, eps, scale,
                                   None if grad is None else grad.view(B * C, H * W))
        finally:
            torch.set_num_threads(threads)
        if index.numel():
            term, dterm = _sparse_terms(flat[index], value.to(x.dtype), ignore, alpha, beta, eps)
            total = total + term.sum(dtype=torch.float64)
            if grad is not None:
                grad.view(-1).index_add_(0, index, dterm * scale)
        if grad is not None:
            # saved, not kept on ctx: autograd frees saved tensors once a backward that does not
            # retain the graph has run this node, so a leaf's AccumulateGrad can take the buffer
            # as its .grad without a copy; a retained graph keeps it for the next backward
            ctx.save_for_backward(grad)
        return (total * scale).to(x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        grad, = ctx.saved_tensors
        if not (grad_out.device.type == 'cpu' and float(grad_out) == 1.0):  # 1: the usual case, no pass
            grad = grad * grad_out
        return grad, None, None, None, None, None, None, None


def sparse_focal_loss(logits: Tensor, target: SparseHeatmap, alpha: float = 2.0, beta: float = 4.0,
                      eps: float = 1e-4, channels: Optional[Tensor] = None) -> Tensor:
    """Penalty-reduced focal loss of dense logits against a sparse target.

    Equal (up to float rounding; the sums accumulate in float64) to
    ``penalty_reduced_focal_loss(logits, heat, alpha, beta, ignore=ignore | ~channels)`` with
    ``heat, ignore = target.to_dense()`` when ``channels`` holds no positive of the target
    outside it, without the dense target and its temporaries.

    Args:
        logits: (B, C, H, W) raw heatmap predictions (float64 is kept; other dtypes are
            computed in float32).
        target: the sparse target of shape (B, C, H, W).
        alpha: focusing exponent (2 in the paper).
        beta: penalty-reduction exponent around centers (4 in the paper).
        eps: probability clamp.
        channels: optional (B, C) bool, the (image, class) channels that carry loss; the
            others add none (their sparse cells are dropped, positives included).

    Returns:
        scalar loss, normalized by ``max(1, #positives)`` (positives in kept channels).
    """
    if logits.dim() != 4 or tuple(logits.shape) != tuple(target.shape):
        raise ValueError(f'sparse_focal_loss: logits of shape {tuple(logits.shape)} do not match the '
                         f'target shape {tuple(target.shape)}')
    if logits.dtype != torch.float64:
        logits = logits.float()
    B, C, H, W = logits.shape
    index, value, ignore = target.index, target.value, target.ignore
    rows = None
    if channels is not None:
        if tuple(channels.shape) != (B, C):
            raise ValueError(f'sparse_focal_loss: channels has shape {tuple(channels.shape)}, '
                             f'expected ({B}, {C})')
        kept = channels.reshape(-1).to(index.device)
        if not bool(kept.all()):
            cell_kept = kept[index // (H * W)]
            index, value, ignore = index[cell_kept], value[cell_kept], ignore[cell_kept]
            rows = kept.to(logits.dtype)
    return SparseFocalLoss.apply(logits, index, value, ignore, rows, float(alpha), float(beta), float(eps))
