"""ONNX translations that keep an exported graph equal to eager PyTorch where the stock one is not.

``atan2``: the TorchScript exporter writes ``atan(y / x)`` plus quadrant corrections, which is NaN at
``y = x = 0`` (PyTorch gives 0) and -pi instead of pi at ``y = 0, x < 0``. A decoder reads
``atan2`` of two predicted channels (an angle as (sin, cos)); both are exactly 0 wherever a branch's
ReLU features vanish (letterbox bars of an untrained or barely trained model), so the stock
translation turns such a detection's angle into NaN. :func:`atan2_symbolic` follows
``torch.atan2`` at every finite point (signed zeros aside).
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterator

import torch


def atan2_symbolic(g, y, x):
    """``atan2(y, x)`` as ONNX ops: ``atan(y / x)`` for ``x > 0``; shifted by +-pi for ``x < 0``
    (+pi when ``y >= 0``); ``sign(y) * pi / 2`` for ``x = 0`` (0 when ``y`` is 0 too)."""

    def const(value: float):
        return g.op('CastLike', g.op('Constant', value_t=torch.tensor(value, dtype=torch.float32)), y)

    zero = const(0.0)
    x_is_zero = g.op('Equal', x, zero)
    safe_x = g.op('Where', x_is_zero, const(1.0), x)
    base = g.op('Atan', g.op('Div', y, safe_x))
    shifted = g.op('Where', g.op('Less', y, zero), g.op('Sub', base, const(math.pi)), g.op('Add', base, const(math.pi)))
    general = g.op('Where', g.op('Less', x, zero), shifted, base)
    on_axis = g.op('Mul', g.op('Sign', y), const(math.pi / 2))
    return g.op('Where', x_is_zero, on_axis, general)


@contextmanager
def exact_symbolics(opset: int) -> Iterator[None]:
    """Use :func:`atan2_symbolic` for ``aten::atan2`` while exporting at ``opset`` (>= 15, for
    ``CastLike``); the stock translation is restored afterwards."""
    if opset < 15:
        raise ValueError(f'centerx exports at opset 15 or later (CastLike), got {opset}')
    torch.onnx.register_custom_op_symbolic('aten::atan2', atan2_symbolic, opset)
    try:
        yield
    finally:
        torch.onnx.unregister_custom_op_symbolic('aten::atan2', opset)
