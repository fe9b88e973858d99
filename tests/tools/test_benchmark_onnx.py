"""Smoke test of tools/benchmark_onnx.py on a tiny config."""
from pathlib import Path

import pytest
import torch

pytest.importorskip('onnxruntime')

CONFIG = Path(__file__).resolve().parents[1] / 'configs' / 'box2d_tiny.py'


def test_quick_run_times_both_runtimes(load_tool, capsys):
    tool = load_tool('benchmark_onnx')
    threads = torch.get_num_threads()
    rows = tool.main([str(CONFIG), '--quick'])
    assert torch.get_num_threads() == threads
    assert len(rows) == 1 and rows[0].ours > 0 and rows[0].theirs > 0
    assert rows[0].diff <= 1e-4
    assert 'onnxruntime' in capsys.readouterr().out
