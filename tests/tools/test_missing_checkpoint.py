"""A checkpoint that does not exist is reported before the runner is built."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / 'tests' / 'configs' / 'box2d_tiny.py')


@pytest.fixture
def no_runner(monkeypatch):
    def refuse(cfg):
        raise AssertionError('the runner was built before the checkpoint was checked')
    return lambda module: monkeypatch.setattr(module, 'build_runner', refuse)


@pytest.mark.parametrize('args,what', [(['--resume', 'nope/iter_5.pth'], '--resume'),
                                       (['--cfg-options', 'load_from=nope/iter_5.pth'], 'load_from')])
def test_train_reports_a_missing_checkpoint_first(load_tool, no_runner, tmp_path, args, what) -> None:
    train = load_tool('train')
    no_runner(train)
    with pytest.raises(FileNotFoundError, match=f'checkpoint nope/iter_5.pth \\({what}\\) does not exist'):
        train.main([TINY, '--work-dir', str(tmp_path), *args])


def test_test_reports_a_missing_checkpoint_first(load_tool, no_runner, tmp_path) -> None:
    test = load_tool('test')
    no_runner(test)
    with pytest.raises(FileNotFoundError, match='checkpoint nope.pth \\(the CHECKPOINT argument\\) does not exist'):
        test.main([TINY, 'nope.pth', '--work-dir', str(tmp_path)])
