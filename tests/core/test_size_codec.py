"""SizeCodec: linear and log encodings of box extents, and the tasks' default size weights."""
from __future__ import annotations

import math

import pytest
import torch

from centerx.task import SizeCodec
from centerx.task.size_codec import LOG_SIZE_MAX
from centerx_tasks.box2d.task import Box2DTask
from centerx_tasks.rotated.task import RotatedBoxTask


def test_log_codec_inverts_and_is_relative() -> None:
    codec = SizeCodec('log')
    sizes = torch.tensor([[0.25, 1.0], [7.5, 64.0]])
    enc = codec.encode(sizes)
    assert torch.allclose(enc, sizes.log())
    assert torch.allclose(codec.decode(enc), sizes, rtol=1e-6)
    # a 10 % error costs the same on a 1-cell and a 64-cell box
    assert torch.allclose(codec.encode(sizes * 1.1) - enc, torch.full_like(enc, math.log(1.1)), atol=1e-6)


def test_log_codec_is_finite_on_hostile_values() -> None:
    codec = SizeCodec('log')
    enc = codec.encode(torch.tensor([0.0, -3.0, float('nan'), float('inf')]))
    assert torch.isfinite(enc[:3]).all()  # zero, negative and NaN extents (no peak, weight 0) stay finite
    dec = codec.decode(torch.tensor([1e6, -1e6, 0.0]))
    assert torch.isfinite(dec).all() and float(dec[0]) == pytest.approx(math.exp(LOG_SIZE_MAX), rel=1e-5)
    assert float(dec[1]) > 0 and float(dec[2]) == 1.0


def test_linear_codec_is_identity_and_unknown_is_refused() -> None:
    sizes = torch.tensor([[3.0, 4.0]])
    codec = SizeCodec('linear')
    assert codec.encode(sizes) is sizes and codec.decode(sizes) is sizes
    with pytest.raises(ValueError, match="size_encoding must be one of"):
        SizeCodec('sqrt', 'Box2DTask')
    with pytest.raises(ValueError, match='Box2DTask: size_encoding'):
        Box2DTask(size_encoding='sqrt')


@pytest.mark.parametrize('task_cls', [Box2DTask, RotatedBoxTask])
def test_default_size_weight_follows_the_encoding(task_cls) -> None:
    assert task_cls().loss_weights['size'] == 0.1  # CenterNet's weight for sizes in cells
    assert task_cls(size_encoding='log').loss_weights['size'] == 1.0
    assert task_cls(size_encoding='log', loss_weights=dict(size=0.5)).loss_weights['size'] == 0.5
