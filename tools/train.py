"""Train a centerx model: ``python tools/train.py CONFIG [options]`` (mmdet's options)."""
from __future__ import annotations

import argparse
import os
import os.path as osp
import shlex
import sys
from typing import Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import centerx_tasks  # noqa: E402,F401  (the built-in tasks register themselves, as a plugin does)
from centerx.engine.checkpoint import latest_checkpoint  # noqa: E402
from centerx.engine.launch import build_runner, distributed_teardown, load_config, require_checkpoint  # noqa: E402

#: exit status after Ctrl-C (128 + SIGINT), as shells report it
INTERRUPTED_STATUS = 130


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a centerx detector')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where to save logs and checkpoints '
                        '(default: ./work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir when no '
                        'path is given')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision training')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow full (unsafe) unpickling of checkpoints; only for files you trust')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config entries, e.g. train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none',
                        help='job launcher (pytorch: under torchrun)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def resume_command(argv: Sequence[str], work_dir: str) -> str:
    """The command line that resumes this training: the same arguments with ``--work-dir`` and
    ``--resume`` (latest checkpoint) instead of any given."""
    args, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            if not arg.startswith('-'):
                continue  # the value of --resume / --work-dir
        if arg in ('--resume', '--work-dir'):
            skip = True
            continue
        if arg.startswith(('--resume=', '--work-dir=')):
            continue
        args.append(arg)
    return shlex.join(['python', 'tools/train.py', *args, '--work-dir', work_dir, '--resume'])


def interrupted_message(argv: Sequence[str], work_dir: str, iteration: Optional[int]) -> str:
    """One line after Ctrl-C: where training stopped, what is on disk, how to resume."""
    last = latest_checkpoint(work_dir) if os.path.isfile(osp.join(work_dir, 'last_checkpoint')) else None
    where = f'at iteration {iteration}' if iteration is not None else 'before training started'
    saved = f'last complete checkpoint: {last}' if last else 'no checkpoint saved yet'
    return f'Interrupted {where} ({saved}; nothing partial was written). Resume with: ' \
        f'{resume_command(argv, work_dir)}'


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, work_dir=args.work_dir, launcher=args.launcher,
                      amp=args.amp, trust_checkpoint=args.trust_checkpoint)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, latest_checkpoint(cfg.work_dir)
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    require_checkpoint(cfg.get('load_from'), '--resume' if args.resume not in (None, 'auto') else 'load_from')
    runner = None
    if int(os.environ.get('RANK', '0')) == 0:
        print(f'centerx: {args.config}: building the model and the data (the first run generates synthetic data) ...',
              flush=True)
    try:
        with distributed_teardown():
            runner = build_runner(cfg)
            runner.train()
    except KeyboardInterrupt:
        iteration = runner.iter if runner is not None else None
        print(interrupted_message(argv, cfg.work_dir, iteration), file=sys.stderr)
        sys.exit(INTERRUPTED_STATUS)


if __name__ == '__main__':
    main()
