"""End-to-end: a short training lowers the loss, resume continues with the same losses,
tools/test.py evaluates and writes its outputs, DDP with two CPU processes trains."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from centerx.engine.record_losses import read_losses

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / 'tests' / 'configs' / 'box2d_tiny.py'


def run_tool(args, cwd: Path, timeout: int = 300, extra_env=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    env.update(extra_env or {})
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f'{args} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    return proc


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """One 30-iteration training of the tiny config (checkpoints every 5 iterations)."""
    cwd = tmp_path_factory.mktemp('train')
    run_tool([str(REPO / 'tools' / 'train.py'), str(TINY), '--work-dir', 'run_a',
              '--cfg-options', 'train_cfg.max_iters=30', 'train_cfg.val_interval=30'], cwd)
    return cwd


@pytest.mark.slow
def test_short_training_lowers_the_loss(trained):
    losses = read_losses(str(trained / 'run_a' / 'losses.jsonl'))
    assert [r['iter'] for r in losses] == list(range(1, 31))
    first = sum(r['loss'] for r in losses[:5]) / 5
    last = sum(r['loss'] for r in losses[-5:]) / 5
    assert last < 0.9 * first, (first, last)
    assert all(torch.isfinite(torch.tensor(r['loss'])) for r in losses)


@pytest.mark.slow
def test_resume_continues_with_the_same_losses(trained):
    """Resume from iteration 10 of run A, continue to 30: the losses of 11..30 must match run A."""
    ckpt = trained / 'run_a' / 'iter_10.pth'
    assert ckpt.is_file()
    run_tool([str(REPO / 'tools' / 'train.py'), str(TINY), '--work-dir', 'run_b', '--resume', str(ckpt),
              '--cfg-options', 'train_cfg.max_iters=30', 'train_cfg.val_interval=30'], trained)
    a = {r['iter']: r for r in read_losses(str(trained / 'run_a' / 'losses.jsonl'))}
    b = {r['iter']: r for r in read_losses(str(trained / 'run_b' / 'losses.jsonl'))}
    assert sorted(b) == list(range(11, 31))
    for it in range(11, 31):
        for key in ('loss', 'loss_heatmap', 'loss_box2d_size', 'loss_box2d_offset'):
            assert b[it][key] == pytest.approx(a[it][key], rel=1e-4, abs=1e-6), (it, key)


@pytest.mark.slow
def test_resume_auto_finds_the_latest_checkpoint(trained):
    """`--resume` without a path resumes from the latest checkpoint of the work dir."""
    proc = run_tool([str(REPO / 'tools' / 'train.py'), str(TINY), '--work-dir', 'run_a', '--resume',
                     '--cfg-options', 'train_cfg.max_iters=32', 'train_cfg.val_interval=100'], trained)
    assert 'resumed' in (proc.stdout + proc.stderr).lower()
    iters = [r['iter'] for r in read_losses(str(trained / 'run_a' / 'losses.jsonl'))]
    assert iters[-2:] == [31, 32]


@pytest.mark.slow
def test_test_tool_evaluates_dumps_and_draws(trained):
    proc = run_tool([str(REPO / 'tools' / 'test.py'), str(TINY), 'run_a/iter_30.pth', '--work-dir', 'eval',
                     '--out', 'preds.pkl', '--show-dir', 'shown', '--show-score-thr', '0.0'], trained)
    assert 'coco/bbox_mAP' in proc.stdout + proc.stderr
    with open(trained / 'preds.pkl', 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 8  # every val image, in order
    first = preds[0]['preds']['objects']
    assert first['bboxes'].shape[1] == 4 and len(first['scores']) == len(first['bboxes']) > 0
    assert len(list((trained / 'shown').glob('*.jpg'))) == 8


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path):
    """torchrun --nproc_per_node=2 tools/train.py --launcher pytorch on CPU (gloo)."""
    run_tool(['-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_port=29631',
              str(REPO / 'tools' / 'train.py'), str(TINY), '--work-dir', 'ddp', '--launcher', 'pytorch',
              '--cfg-options', 'train_cfg.max_iters=6', 'train_cfg.val_interval=6'], tmp_path, timeout=400)
    losses = read_losses(str(tmp_path / 'ddp' / 'losses.jsonl'))
    assert [r['iter'] for r in losses] == list(range(1, 7))  # rank 0 only
    ckpt = torch.load(tmp_path / 'ddp' / 'iter_5.pth', map_location='cpu', weights_only=False)
    assert not any(k.startswith('module.') for k in ckpt['state_dict'])


def test_amp_on_cpu_autocasts_to_bfloat16():
    """--amp picks the bfloat16 autocast wrapper on CPU, and the forward really runs in bf16."""
    from centerx.engine.launch import load_config
    from centerx.registry import OPTIM_WRAPPERS
    cfg = load_config(str(TINY), amp=True)
    assert cfg.optim_wrapper.type == ('AmpOptimWrapper' if torch.cuda.is_available() else 'BF16AutocastOptimWrapper')
    if torch.cuda.is_available():
        return
    model = torch.nn.Conv2d(3, 4, 3)
    wrapper = OPTIM_WRAPPERS.build(dict(type='BF16AutocastOptimWrapper',
                                        optimizer=torch.optim.SGD(model.parameters(), lr=0.1)))
    with wrapper.optim_context(model):
        out = model(torch.randn(1, 3, 8, 8))
    assert out.dtype == torch.bfloat16
    assert model(torch.randn(1, 3, 8, 8)).dtype == torch.float32


def test_cfg_options_and_work_dir_default():
    from centerx.engine.launch import load_config
    cfg = load_config(str(TINY), ['train_cfg.max_iters=3', "model.test_cfg.topk=7"])
    assert cfg.train_cfg.max_iters == 3 and cfg.model.test_cfg.topk == 7
    assert cfg.work_dir.endswith('work_dirs/box2d_tiny')
    with pytest.raises(ValueError, match='KEY=VALUE'):
        load_config(str(TINY), ['nonsense'])
    with pytest.raises(FileNotFoundError, match='missing.py'):
        load_config('missing.py')


def test_distributed_teardown_destroys_the_process_group(tmp_path):
    """The tools destroy the gloo group themselves (left to interpreter exit it can abort a rank);
    outside distributed runs the call does nothing."""
    import torch.distributed as dist

    from centerx.engine.launch import distributed_teardown
    with distributed_teardown():  # no group: nothing to do, no error
        pass
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1)
    try:
        with distributed_teardown():
            assert dist.is_initialized()
        assert not dist.is_initialized()
        dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store2"}', rank=0, world_size=1)
        with pytest.raises(RuntimeError, match='boom'), distributed_teardown():
            raise RuntimeError('boom')
        assert not dist.is_initialized()  # torn down after a failure too, and the error kept
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
