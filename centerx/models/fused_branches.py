"""Run many output branches as one pass: one wide 3x3 conv and one block-diagonal 1x1 conv.

Every output map of a :class:`~centerx.models.center_head.CenterHead` is a
:func:`~centerx.models.center_head.conv_branch`: ``3x3 conv (in -> head_conv) -> ReLU -> 1x1 conv
(head_conv -> C)``, or a single 1x1 conv when ``head_conv <= 0``. All branches read the same
feature, so their 3x3 convs stack into one conv with ``sum(head_conv)`` output channels, and their
1x1 convs into one conv whose weight is block-diagonal (branch ``i``'s output channels read only
branch ``i``'s hidden channels). The result is the same function as the separate branches (up to
float summation order, ~1e-7 relative).

The parameters stay where they are, in the branches: the fused weights are concatenated from them
at every call (a few hundred kilobytes; autograd splits the gradient back), so checkpoints,
:meth:`~centerx.task.Task.init_branch` and every code path that looks at a branch keep working
whether or not a model runs fused. The zero blocks of the 1x1 weight are constants, never
parameters, so training cannot make them nonzero.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _is_conv(module: nn.Module, kernel: int) -> bool:
    return (type(module) is nn.Conv2d and module.kernel_size == (kernel, kernel) and module.stride == (1, 1)
            and module.dilation == (1, 1) and module.groups == 1 and module.padding_mode == 'zeros'
            and module.padding == (kernel // 2, kernel // 2) and module.bias is not None)


def branch_kind(branch: nn.Module, name: str = 'branch') -> str:
    """``'deep'`` (3x3 conv -> ReLU -> 1x1 conv) or ``'shallow'`` (one 1x1 conv) of the branch
    called ``name`` (in the error).

    Raises:
        ValueError: when ``branch`` is not shaped like :func:`conv_branch` (another layer, another
            kernel, stride, dilation or groups, no bias): it cannot be fused.
    """
    layers = list(branch) if isinstance(branch, nn.Sequential) else [branch]
    if len(layers) == 1 and _is_conv(layers[0], 1):
        return 'shallow'
    if (len(layers) == 3 and _is_conv(layers[0], 3) and type(layers[1]) is nn.ReLU and _is_conv(layers[2], 1)
            and layers[2].in_channels == layers[0].out_channels):
        return 'deep'
    layout = ' -> '.join(repr(m) for m in layers)
    raise ValueError(f'cannot fuse branch {name!r} ({layout}): fused branches must be conv_branch(...) as built '
                     '(3x3 conv with padding 1 and bias -> ReLU -> 1x1 conv with bias, or one 1x1 conv); '
                     'run this model with fuse_branches=False')


def block_diagonal(blocks: Sequence[Tensor]) -> Tensor:
    """Block-diagonal matrix of (r_i, c_i) blocks: (sum r_i, sum c_i), zero off the blocks.

    Built from padding and concatenation (differentiable, traceable), the zeros as constants.
    """
    total = sum(b.shape[1] for b in blocks)
    rows, start = [], 0
    for b in blocks:
        rows.append(F.pad(b, (start, total - start - b.shape[1])))
        start += b.shape[1]
    return torch.cat(rows, 0)


def _run_deep(branches: Sequence[nn.Sequential], feat: Tensor) -> List[Tensor]:
    w3 = torch.cat([b[0].weight for b in branches], 0)
    b3 = torch.cat([b[0].bias for b in branches], 0)
    hidden = F.relu(F.conv2d(feat, w3, b3, padding=1))
    w1 = block_diagonal([b[2].weight[:, :, 0, 0] for b in branches])[:, :, None, None]
    b1 = torch.cat([b[2].bias for b in branches], 0)
    out = F.conv2d(hidden, w1, b1)
    return list(out.split([b[2].out_channels for b in branches], 1))


def _run_shallow(branches: Sequence[nn.Sequential], feat: Tensor) -> List[Tensor]:
    convs = [b[0] if isinstance(b, nn.Sequential) else b for b in branches]
    out = F.conv2d(feat, torch.cat([c.weight for c in convs], 0), torch.cat([c.bias for c in convs], 0))
    return list(out.split([c.out_channels for c in convs], 1))


def run_fused(branches: Sequence[nn.Module], feat: Tensor, names: Optional[Sequence[str]] = None) -> List[Tensor]:
    """The outputs of ``branches`` on ``feat``, in their order, computed in one pass per kind.

    Args:
        branches: :func:`conv_branch` modules reading ``feat`` (hidden widths and output channels
            may differ; deep and shallow branches may be mixed: each kind is one pass).
        feat: (B, in_channels, H, W).
        names: one name per branch, for errors (default: the index).

    Returns:
        one (B, C_i, H, W) tensor per branch (views of one output tensor per kind).
    """
    names = [f'branch {i}' for i in range(len(branches))] if names is None else list(names)
    kinds = [branch_kind(b, n) for b, n in zip(branches, names)]
    outputs: List[Tensor] = [feat] * len(branches)  # placeholders, all replaced below
    for kind, run in (('deep', _run_deep), ('shallow', _run_shallow)):
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if idx:
            for i, out in zip(idx, run([branches[i] for i in idx], feat)):
                outputs[i] = out
    return outputs
