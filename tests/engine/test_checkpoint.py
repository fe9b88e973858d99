"""Safe checkpoint loading: mmengine checkpoints load weights-only; anything else needs an opt-in."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint

from centerx.engine.checkpoint import TRUST_ENV, _history_buffer_getattr, load_checkpoint_file

MARKER = []


def _side_effect(value):
    MARKER.append(value)
    return value


class Payload:
    """Unpickling this calls a function that is not on any allowlist."""

    def __reduce__(self):
        return (_side_effect, ('ran',))


def test_mmengine_style_checkpoint_loads_safely(tmp_path):
    buf = HistoryBuffer()
    for v in (1.0, 2.0, 3.0):
        buf.update(v)
    state = {'meta': {'iter': 3, 'seed': np.int64(7)}, 'state_dict': {'w': torch.arange(4.0)},
             'message_hub': {'log_scalars': {'train/loss': buf}}, 'arr': np.arange(3, dtype=np.float32)}
    path = tmp_path / 'ckpt.pth'
    torch.save(state, path)
    loaded = load_checkpoint_file(str(path))
    assert torch.equal(loaded['state_dict']['w'], torch.arange(4.0))
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == pytest.approx(2.0)
    assert loaded['meta']['seed'] == 7
    np.testing.assert_array_equal(loaded['arr'], np.arange(3, dtype=np.float32))


def test_untrusted_object_is_refused_with_instructions(tmp_path, monkeypatch):
    monkeypatch.delenv(TRUST_ENV, raising=False)
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'x': Payload()}, path)
    MARKER.clear()
    with pytest.raises(pickle.UnpicklingError, match=f'(?s){path.name}.*--trust-checkpoint.*{TRUST_ENV}'):
        load_checkpoint_file(str(path))
    assert MARKER == []  # nothing ran
    # mmengine's own entry point goes through the same loader
    with pytest.raises(pickle.UnpicklingError, match=TRUST_ENV):
        load_checkpoint(torch.nn.Linear(1, 1), str(path))
    assert MARKER == []


def test_trust_opt_in_loads_full_pickles(tmp_path, monkeypatch):
    path = tmp_path / 'trusted.pth'
    torch.save({'x': Payload()}, path)
    MARKER.clear()
    assert load_checkpoint_file(str(path), trust=True)['x'] == 'ran'
    monkeypatch.setenv(TRUST_ENV, '1')
    assert load_checkpoint_file(str(path))['x'] == 'ran'
    assert MARKER == ['ran', 'ran']


def test_getattr_stand_in_only_resolves_history_buffer_statistics():
    assert _history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(HistoryBuffer, '__init__')
    with pytest.raises(pickle.UnpicklingError):
        _history_buffer_getattr(np.ndarray, 'tofile')


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file(str(tmp_path / 'nope.pth'))
