"""Mixed precision on CPU: bfloat16 autocast (mmengine's AmpOptimWrapper needs a GPU)."""
from __future__ import annotations

from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper

from centerx.registry import OPTIM_WRAPPERS

from .non_finite import NonFiniteGuard


@OPTIM_WRAPPERS.register_module()
class BF16AutocastOptimWrapper(NonFiniteGuard, OptimWrapper):
    """Run the forward pass under ``torch.autocast(device, bfloat16)``.

    bfloat16 has float32's exponent range, so no loss scaling is needed. Non-finite losses and
    gradients are checked as in :class:`~centerx.engine.non_finite.GuardedOptimWrapper`
    (``non_finite='stop'|'skip'``). ``tools/train.py
    --amp`` picks mmengine's ``AmpOptimWrapper`` on CUDA and this wrapper elsewhere.
    """

    @contextmanager
    def optim_context(self, model: torch.nn.Module):
        device = next(model.parameters()).device.type
        with super().optim_context(model), torch.autocast(device_type=device, dtype=torch.bfloat16):
            yield
