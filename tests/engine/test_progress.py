"""ProgressHook: the early ETA lines and the closing summary of a real tiny training, and the
pieces they are made of (validation counting, main metric keys, checkpoint lookup)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from mmengine.runner import EpochBasedTrainLoop

from centerx.engine.progress import validations_left
from centerx.engine.run_summary import format_duration, format_summary, main_metric_keys, newest_checkpoint

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / 'tests' / 'configs' / 'box2d_tiny.py'


def train(cwd: Path, config: Path, *options: str) -> str:
    """Run tools/train.py in ``cwd``; its stdout and stderr together."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'train.py'), str(config), '--work-dir', 'wd',
                           '--cfg-options', *options], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    return out


def brute_force_validations(first: int, last: int, begin: int, interval: int) -> int:
    """mmengine's rule, one step at a time."""
    return sum(1 for k in range(first, last + 1) if k >= begin and (k % interval == 0 or k == last))


@pytest.mark.parametrize('done,last,begin,interval', [
    (0, 400, 1, 400), (0, 30, 1, 10), (9, 30, 1, 10), (10, 30, 1, 10), (0, 25, 1, 10), (24, 25, 1, 10),
    (0, 30, 15, 10), (0, 6, 100, 6), (3, 7, 1, 2)])
def test_validations_left_follows_mmengines_rule(done, last, begin, interval):
    """``done`` iterations (or epochs) finished: the validations after ``done + 1`` .. ``last``."""
    expected = brute_force_validations(done + 1, last, begin, interval)
    iter_loop = SimpleNamespace(iter=done, max_iters=last, val_begin=begin, val_interval=interval)
    assert validations_left(iter_loop, has_val_loop=True) == expected
    epoch_loop = object.__new__(EpochBasedTrainLoop)  # the attributes the count reads, no runner
    epoch_loop._epoch, epoch_loop._max_epochs = done, last
    epoch_loop.val_begin, epoch_loop.val_interval = begin, interval
    assert validations_left(epoch_loop, has_val_loop=True) == expected
    assert validations_left(iter_loop, has_val_loop=False) == 0


def test_main_metric_of_each_evaluator_comes_first():
    coco = {'coco/bbox_mAP_50': 0.7, 'coco/bbox_mAP': 0.5}
    assert main_metric_keys(coco) == ['coco/bbox_mAP']
    assert main_metric_keys({'dota/AP_plane': 0.9, 'dota/mAP': 0.6}) == ['dota/mAP']
    assert main_metric_keys({'nuscenes/mAP': 0.2, 'nuscenes/NDS': 0.3, 'nuscenes/mATE': 0.8}) == ['nuscenes/NDS']
    assert main_metric_keys({'coco/bbox_mAP': 0.5, 'coco/kpt_AP': 0.4}) == ['coco/kpt_AP']
    per_source = {'shapes/coco/bbox_mAP': 0.5, 'shapes/coco/bbox_mAP_50': 0.8,
                  'people/coco/bbox_mAP': 0.3, 'people/coco/kpt_AP': 0.2}
    assert main_metric_keys(per_source) == ['shapes/coco/bbox_mAP', 'people/coco/kpt_AP']
    assert main_metric_keys({'val/loss': 1.0}) == []


def test_format_duration():
    assert format_duration(3.25) == '3.2 s'
    assert format_duration(42) == '42 s'
    assert format_duration(200) == '3 min 20 s'
    assert format_duration(3725) == '1 h 02 min'


def test_newest_checkpoint(tmp_path):
    assert newest_checkpoint(str(tmp_path)) is None
    for i, name in enumerate(['iter_5.pth', 'iter_10.pth']):
        (tmp_path / name).write_bytes(b'')
        os.utime(tmp_path / name, (time.time() + i, time.time() + i))
    assert newest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_10.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_5.pth'))  # mmengine's pointer wins
    assert newest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_5.pth')
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'gone.pth'))  # ... unless it is stale
    assert newest_checkpoint(str(tmp_path)) == str(tmp_path / 'iter_10.pth')


def test_summary_without_validation_or_checkpoint(tmp_path):
    text = format_summary(train_seconds=12.0, val_seconds=0.0, iters=3, run_iters=3, max_iters=10, metrics=None,
                          metrics_iter=None, good_values={}, work_dir=str(tmp_path), log_dir=str(tmp_path / 'log'))
    assert 'Trained 3 iterations (stopped early: 10 were planned) in 12 s' in text
    assert 'No validation ran' in text and 'Last checkpoint: none saved' in text


def test_summary_with_targets_and_per_source_keys(tmp_path):
    metrics = {'shapes/coco/bbox_mAP_50': 0.8, 'shapes/coco/bbox_mAP': 0.5, 'shapes/coco/bbox_mAP_s': -1.0,
               'people/coco/bbox_mAP': 0.35, 'people/coco/kpt_AP': 0.25, 'val/time': 0.1}
    text = format_summary(train_seconds=100.0, val_seconds=10.0, iters=30, run_iters=20, max_iters=30,
                          metrics=metrics, metrics_iter=30, good_values={'shapes/coco/bbox_mAP': 0.45,
                                                                         'people/coco/kpt_AP': 0.4},
                          work_dir=str(tmp_path), log_dir=str(tmp_path))
    lines = text.splitlines()
    shown = [line.split(':')[0].strip() for line in lines if line.startswith('  ')]
    assert shown[:2] == ['shapes/coco/bbox_mAP', 'people/coco/kpt_AP']  # the main ones first
    assert 'val/time' not in shown and 'shapes/coco/bbox_mAP_50' in shown
    assert any('shapes/coco/bbox_mAP: 0.5000  (main metric)  target >= 0.45: reached' in line for line in lines)
    assert any('people/coco/kpt_AP: 0.2500  (main metric)  target >= 0.4: not reached' in line for line in lines)
    assert 'Trained 30 iterations (20 in this run) in 1 min 40 s (validation 10 s of it)' in text


@pytest.mark.parametrize('path', sorted((REPO / 'configs').glob('*.py')), ids=lambda p: p.stem)
def test_every_shipped_config_keeps_the_hook(path):
    """default_runtime.py adds it; a config that sets custom_hooks must list it again."""
    from centerx.engine.launch import load_config
    from centerx.registry import HOOKS
    hooks = [h['type'] for h in load_config(str(path)).get('custom_hooks', [])]
    assert 'ProgressHook' in hooks and HOOKS.get('ProgressHook') is not None, (path.name, hooks)


@pytest.mark.slow
def test_tiny_training_prints_progress_and_summary(tmp_path):
    config = tmp_path / 'tiny_targets.py'
    config.write_text(f"_base_ = [{str(TINY)!r}]\n"
                      "custom_hooks = [dict(type='ProgressHook', at_iters=(1, 5),\n"
                      "                     good_values={'coco/bbox_mAP': 0.45})]\n")
    out = train(tmp_path, config, 'train_cfg.max_iters=6', 'train_cfg.val_interval=6')
    first = re.search(r'progress: iter 1/6 \| [\d.]+ s/iter \(first iteration, warm-up included\) \| '
                      r'ETA [^|]+\(incl\. ~[^|]+ for 1 validation\) \| loss [\d.]+', out)
    assert first, out[-3000:]
    assert re.search(r'progress: iter 5/6 \| [\d.]+ s/iter \(over iterations 2-5 of this run\) \| ETA ', out)
    assert 'progress: iter 6/6' not in out and 'progress: iter 2/6' not in out
    summary = out[out.index('training summary'):]
    assert 'Trained 6 iterations in ' in summary
    assert re.search(r'coco/bbox_mAP: [\d.]+  \(main metric\)  target >= 0\.45: (not )?reached', summary)
    ckpt = re.search(r'Last checkpoint: (\S+)', summary).group(1)
    assert ckpt.endswith('iter_6.pth') and Path(ckpt).is_file()
    log_file, scalars = re.search(r'Logs: (\S+); scalars for plotting: (\S+)', summary).groups()
    assert Path(log_file).is_file() and Path(scalars).is_file()
    assert 'training summary' in Path(log_file).read_text()  # in the log file too, not only on the console


@pytest.mark.slow
def test_training_without_validation_says_so(tmp_path):
    out = train(tmp_path, TINY, 'train_cfg.max_iters=2', 'train_cfg.val_begin=100')
    assert re.search(r'progress: iter 1/2 \| .* \| ETA [^|]+\(no validation\)', out)
    summary = out[out.index('training summary'):]
    assert 'No validation ran' in summary and 'iter_2.pth' in summary
