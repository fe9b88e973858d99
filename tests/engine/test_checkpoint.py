"""Safe checkpoint loading: mmengine checkpoints load weights-only; anything else needs an opt-in."""
from __future__ import annotations

import pickle
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner import load_checkpoint

from centerx.engine.checkpoint import (TRUST_ENV, CheckpointCorruptError, _history_buffer_getattr, atomic_write_bytes,
                                      latest_checkpoint, load_checkpoint_file)

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


# ---------------------------------------------------------------- atomic writes, damaged files
def _saved_checkpoint(path) -> bytes:
    torch.save({'meta': {'iter': 5}, 'state_dict': {'w': torch.arange(256.0)}}, path)
    return path.read_bytes()


@pytest.mark.parametrize('damage', ['truncated', 'empty', 'junk', 'flipped'])
def test_damaged_checkpoint_is_refused_naming_the_file(tmp_path, damage):
    path = tmp_path / 'iter_5.pth'
    data = _saved_checkpoint(path)
    if damage == 'truncated':
        data = data[:len(data) // 2]
    elif damage == 'empty':
        data = b''
    elif damage == 'junk':
        data = bytes(range(256)) * 8
    else:  # bytes inside a tensor's record: torch alone would load garbage weights
        start = data.index(torch.arange(256.0).numpy().tobytes()[:64])
        data = data[:start] + b'\xff' * 16 + data[start + 16:]
    path.write_bytes(data)
    for trust in (False, True):
        with pytest.raises(CheckpointCorruptError, match=f'checkpoint {path}'):
            load_checkpoint_file(str(path), trust=trust)


def test_atomic_write_replaces_whole_files_and_mmengine_saves_through_it(tmp_path):
    from mmengine.runner.checkpoint import save_checkpoint
    path = tmp_path / 'iter_5.pth'
    save_checkpoint({'state_dict': {'w': torch.ones(3)}}, str(path))
    assert torch.equal(load_checkpoint_file(str(path))['state_dict']['w'], torch.ones(3))
    atomic_write_bytes(b'new', str(path))
    assert path.read_bytes() == b'new'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_5.pth']  # no temporary left


def test_interrupted_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / 'iter_5.pth'
    path.write_bytes(b'old')

    def interrupt(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr('os.fsync', interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_bytes(b'new' * 1000, str(path))
    assert path.read_bytes() == b'old'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['iter_5.pth']


def test_process_killed_while_saving_leaves_the_previous_checkpoint(tmp_path):
    """SIGKILL between writing the bytes and renaming them: iter_5.pth and last_checkpoint are
    untouched (only a hidden temporary remains, which nothing reads)."""
    path = tmp_path / 'iter_5.pth'
    old = _saved_checkpoint(path)
    (tmp_path / 'last_checkpoint').write_text(str(path))
    script = ('import os, signal, torch\n'
              'import centerx.engine\n'
              'from mmengine.runner.checkpoint import save_checkpoint\n'
              'os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)\n'
              f'save_checkpoint({{"state_dict": {{"w": torch.zeros(9)}}}}, {str(path)!r})\n')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert path.read_bytes() == old
    assert latest_checkpoint(str(tmp_path)) == str(path)
    assert torch.equal(load_checkpoint_file(str(path))['state_dict']['w'], torch.arange(256.0))


def test_latest_checkpoint_refuses_an_empty_or_dangling_record(tmp_path):
    assert latest_checkpoint(str(tmp_path)) is None  # fresh work dir: start from scratch
    record = tmp_path / 'last_checkpoint'
    record.write_text('')
    with pytest.raises(CheckpointCorruptError, match=f'{record} is empty'):
        latest_checkpoint(str(tmp_path))
    record.write_text(str(tmp_path / 'iter_99.pth'))
    with pytest.raises(CheckpointCorruptError, match='iter_99.pth, which does not exist'):
        latest_checkpoint(str(tmp_path))
