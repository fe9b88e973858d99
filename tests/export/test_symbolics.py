"""centerx's ONNX ``atan2`` equals ``torch.atan2`` on every quadrant, the axes and the origin (the stock
translation gives NaN at the origin, where an untrained angle branch outputs (0, 0))."""
import numpy as np
import pytest
import torch

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from centerx.export import run_onnxruntime  # noqa: E402
from centerx.export.symbolics import exact_symbolics  # noqa: E402


class Atan2(torch.nn.Module):
    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return torch.atan2(y, x)


@pytest.mark.filterwarnings('ignore::DeprecationWarning')
def test_atan2_matches_torch_everywhere(tmp_path):
    values = torch.tensor([0.0, 1.0, -1.0, 0.5, -2.0, 3e4, -1e-20])
    y, x = (t.reshape(-1) for t in torch.meshgrid(values, values, indexing='ij'))
    path = str(tmp_path / 'atan2.onnx')
    with exact_symbolics(17):
        torch.onnx.export(Atan2(), (y, x), path, input_names=['y', 'x'], output_names=['angle'],
                          opset_version=17, dynamo=False)
    got = run_onnxruntime(path, {'y': y.numpy(), 'x': x.numpy()})['angle']
    assert not np.isnan(got).any()
    np.testing.assert_allclose(got, torch.atan2(y, x).numpy(), rtol=0, atol=1e-6)


def test_old_opsets_are_refused():
    with pytest.raises(ValueError, match='opset 15 or later'):
        with exact_symbolics(13):
            pass
