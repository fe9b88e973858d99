"""End-to-end: a short training lowers the loss, resume continues with the same losses,
tools/test.py evaluates and writes its outputs, DDP with two CPU processes trains."""
from __future__ import annotations

import os
import pickle
import re
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
    proc = run_tool([str(REPO / 'tools' / 'train.py'), str(TINY), '--work-dir', 'run_a',
                     '--cfg-options', 'train_cfg.max_iters=30', 'train_cfg.val_interval=30'], cwd)
    (cwd / 'run_a.terminal').write_text(proc.stdout + proc.stderr)
    return cwd


@pytest.mark.slow
def test_the_start_is_quiet_and_informative(trained):
    """One short header on the terminal; the config dump, environment and hook table only in the log
    file; no FileClient / HardDiskBackend deprecation warnings anywhere."""
    terminal = (trained / 'run_a.terminal').read_text()
    log_file = next((trained / 'run_a').glob('*/*.log')).read_text()
    for noise in ('Config:', 'System environment', 'Hooks will be executed', 'SyncBatchNorm'):
        assert noise not in terminal, noise
        assert noise in log_file, noise
    for deprecation in ('"FileClient"', '"HardDiskBackend"'):
        assert deprecation not in terminal + log_file
    header = re.search(r'training \S*box2d_tiny.py -> \S*run_a \(full config: \S*run_a/box2d_tiny.py; log: .*\.log\)\n'
                       r'model: [\d.]+ k parameters \| data: 16 images to train on \(batch 4\), 8 images to validate on\n'
                       r'30 iterations, a validation every 30 \| expected', terminal)
    assert header, terminal[:3000]
    assert (trained / 'run_a' / 'box2d_tiny.py').is_file()
    assert len(terminal.splitlines()) < 80, f'{len(terminal.splitlines())} lines'


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
def test_test_tool_with_tta(trained):
    """--tta: flip and the paper's five scales, merged; evaluates every image."""
    proc = run_tool([str(REPO / 'tools' / 'test.py'), str(TINY), 'run_a/iter_30.pth', '--work-dir', 'eval_tta',
                     '--tta', '--out', 'preds_tta.pkl'], trained)
    out = proc.stdout + proc.stderr
    assert 'test-time augmentation: scales (0.5, 0.75, 1.0, 1.25, 1.5), flip, merge soft_nms' in out
    assert 'coco/bbox_mAP' in out
    with open(trained / 'preds_tta.pkl', 'rb') as f:
        preds = pickle.load(f)
    assert len(preds) == 8 and all(len(p['preds']['objects']['scores']) <= 100 for p in preds)


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
    assert cfg.optim_wrapper.type == ('GuardedAmpOptimWrapper' if torch.cuda.is_available() else 'BF16AutocastOptimWrapper')
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


def interrupt_long_run(cwd: Path, work_dir: str, after_iterations: int, signum: int) -> subprocess.CompletedProcess:
    """Start a 1000-iteration training of the tiny config, wait (polling its losses.jsonl) until it
    has run ``after_iterations`` iterations, send it ``signum`` and wait for it to end."""
    import time
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    import signal

    def default_sigint() -> None:
        # a shell's background job (`cmd &`, as CI may start us) inherits SIGINT ignored, and Python
        # then raises no KeyboardInterrupt; a terminal's Ctrl-C reaches a default handler
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, str(REPO / 'tools' / 'train.py'), str(TINY), '--work-dir', work_dir,
                             '--cfg-options', 'train_cfg.max_iters=1000', 'train_cfg.val_interval=1000'],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    losses = cwd / work_dir / 'losses.jsonl'
    try:
        while not losses.is_file() or len(read_losses(str(losses))) < after_iterations:
            assert proc.poll() is None, f'the run ended early:\n{proc.stderr.read()[-3000:]}'
            time.sleep(0.01)
    finally:
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


@pytest.mark.slow
def test_sigkill_then_resume_continues_with_the_same_losses(trained):
    """A run killed with SIGKILL after its iteration-10 checkpoint, resumed with --resume (latest
    checkpoint), logs in scalars.json the same losses as the uninterrupted run A."""
    import signal

    from centerx.engine.scalars import read_scalars
    train = str(REPO / 'tools' / 'train.py')
    assert interrupt_long_run(trained, 'run_k', 12, signal.SIGKILL).returncode == -signal.SIGKILL
    run_tool([train, str(TINY), '--work-dir', 'run_k', '--resume', '--cfg-options', 'train_cfg.max_iters=30',
              'train_cfg.val_interval=30'], trained)
    first_run_a = min(d for d in (trained / 'run_a').iterdir() if (d / 'vis_data' / 'scalars.json').is_file())
    a = read_scalars(str(first_run_a))  # the uninterrupted 30 iterations
    k = read_scalars(str(trained / 'run_k'))  # the newest run folder: the resumed run
    resumed_from = k['loss'][0][0] - 1
    assert resumed_from >= 10 and resumed_from % 5 == 0 and resumed_from < 30
    for key in ('loss', 'loss_heatmap', 'loss_box2d_size', 'loss_box2d_offset'):
        expected = [(it, v) for it, v in a[key] if it > resumed_from]
        assert [it for it, _ in k[key]] == [it for it, _ in expected], key
        for (it, got), (_, want) in zip(k[key], expected):
            assert got == pytest.approx(want, rel=1e-4, abs=1e-6), (key, it)


@pytest.mark.slow
def test_ctrl_c_says_how_to_resume_in_one_line(tmp_path):
    import signal
    proc = interrupt_long_run(tmp_path, 'run_c', 7, signal.SIGINT)
    stderr = proc.stderr
    assert proc.returncode == 130, stderr[-3000:]
    assert 'Traceback' not in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith('Interrupted at iteration ') and 'nothing partial was written' in last
    assert last.endswith(f'{TINY} --cfg-options train_cfg.max_iters=1000 train_cfg.val_interval=1000 '
                         '--work-dir run_c --resume'), last
    assert not [p.name for p in (tmp_path / 'run_c').iterdir() if p.name.endswith('.tmp')]


@pytest.mark.slow
def test_diverging_training_stops_naming_the_term_and_skip_counts(tmp_path):
    """A learning rate of 1e30 makes the second step's loss non-finite: by default training stops
    before the weights change, naming iteration, head and term; with non_finite='skip' every such
    step is skipped and counted in scalars.json."""
    from centerx.engine.scalars import read_scalars
    train = str(REPO / 'tools' / 'train.py')
    options = ['train_cfg.max_iters=4', 'train_cfg.val_interval=100', 'optim_wrapper.optimizer.lr=1e30']
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, train, str(TINY), '--work-dir', 'stop', '--cfg-options', *options],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert re.search(r"NonFiniteLossError: iteration 2: non-finite loss \S+: head 'objects' .*"
                     r"Training stopped before the weights were updated", proc.stderr), proc.stderr[-3000:]
    run_tool([train, str(TINY), '--work-dir', 'skip', '--cfg-options', *options, 'optim_wrapper.non_finite=skip'],
             tmp_path)
    skipped = read_scalars(str(tmp_path / 'skip'))['non_finite_skipped']
    assert skipped == [(2, 1.0), (3, 2.0), (4, 3.0)]
