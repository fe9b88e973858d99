"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [options]`` (mmdet's options)."""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import centerx_tasks  # noqa: E402,F401  (the built-in tasks register themselves, as a plugin does)
from centerx.engine.launch import build_runner, distributed_teardown, load_config, require_checkpoint  # noqa: E402
from centerx.tta import PAPER_SCALES  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test (and evaluate) a centerx detector')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where to save the evaluation logs')
    parser.add_argument('--out', help='dump the predictions of every image to this pickle file')
    parser.add_argument('--show-dir', nargs='?', const='', metavar='DIR',
                        help='save images with the predictions drawn into DIR (default with no DIR: <work dir>/show), '
                        "at their path relative to the dataset's image folder (same-named images of different folders "
                        'stay apart); the folder gets a .gitignore, and the end of the run says how many predictions '
                        'were drawn and how many were under --show-score-thr')
    parser.add_argument('--show-score-thr', type=float, default=0.3,
                        help='draw predictions scoring above this (default 0.3); an untrained or short-trained model '
                        'may need 0.1 or less')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow full (unsafe) unpickling of the checkpoint; only for files you trust')
    parser.add_argument('--tta', action='store_true',
                        help="test-time augmentation: flip and the paper's scales 0.5-1.5, merged by soft-NMS "
                        '(sets model.test_cfg scales and flip; docs/config_reference.md)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, work_dir=args.work_dir, launcher=args.launcher,
                      trust_checkpoint=args.trust_checkpoint)
    require_checkpoint(args.checkpoint, 'the CHECKPOINT argument')
    cfg.load_from = args.checkpoint
    if args.tta:
        test_cfg = dict(cfg.model.get('test_cfg') or {})
        if not test_cfg.get('scales'):  # unset or None: the paper's scales
            test_cfg['scales'] = PAPER_SCALES
        test_cfg['flip'] = True
        cfg.model.test_cfg = test_cfg
        print(f"test-time augmentation: scales {tuple(test_cfg['scales'])}, flip, merge "
              f"{dict(test_cfg.get('tta_merge') or {}).get('type', 'soft_nms')}", flush=True)
    cfg.resume = False
    hooks = list(cfg.get('custom_hooks', []) or [])
    if args.show_dir is not None:
        show_dir = args.show_dir or os.path.join(cfg.work_dir, 'show')
        hooks.append(dict(type='DrawPredictionsHook', out_dir=show_dir, score_thr=args.show_score_thr))
    cfg.custom_hooks = hooks
    if args.out:
        evaluator = cfg.test_evaluator
        evaluator = list(evaluator) if isinstance(evaluator, (list, tuple)) else [evaluator]
        evaluator.append(dict(type='DumpDetResults', out_file_path=args.out))
        cfg.test_evaluator = evaluator
    with distributed_teardown():
        return build_runner(cfg).test()


if __name__ == '__main__':
    main()
