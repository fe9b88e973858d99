"""The closing summary of a training: how long it took, the final metrics and where things are."""
from __future__ import annotations

import glob
import os
import os.path as osp
import re
from typing import List, Mapping, Optional

#: Leaf names (after the last ``/``) of the metric that sums up an evaluator, best first:
#: nuScenes NDS, COCO keypoint AP, COCO box AP, DOTA / nuScenes mAP.
MAIN_METRIC_LEAVES = ('NDS', 'kpt_AP', 'bbox_mAP', 'mAP')
#: Image files the summary counts as pictures.
PICTURE_SUFFIXES = ('.png', '.jpg', '.jpeg')


def format_duration(seconds: float) -> str:
    """``'12 s'``, ``'3 min 20 s'``, ``'1 h 02 min'``."""
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f'{seconds:.0f} s' if seconds >= 10 else f'{seconds:.1f} s'
    minutes, sec = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f'{minutes} min {sec:02d} s'
    hours, minutes = divmod(minutes, 60)
    return f'{hours} h {minutes:02d} min'


def is_accuracy_key(key: str) -> bool:
    """An AP-like metric key (``mAP``, ``AP``, ``NDS`` in its last part), higher is better."""
    leaf = key.rsplit('/', 1)[-1]
    return 'AP' in leaf or 'NDS' in leaf


def main_metric_keys(metrics: Mapping[str, float]) -> List[str]:
    """The main key of each evaluator in ``metrics``, in the order the evaluators appear.

    Keys are grouped by what comes before their last ``/`` (``coco``, ``shapes/coco`` for a
    :class:`~centerx.evaluation.PerSourceMetric` source ...); in each group the first leaf of
    :data:`MAIN_METRIC_LEAVES` present is the main one (``coco/kpt_AP`` before
    ``coco/bbox_mAP``, ``nuscenes/NDS`` before ``nuscenes/mAP``).
    """
    groups: dict = {}
    for key in metrics:
        prefix, _, leaf = key.rpartition('/')
        groups.setdefault(prefix, {})[leaf] = key
    out = []
    for leaves in groups.values():
        main = next((leaves[name] for name in MAIN_METRIC_LEAVES if name in leaves), None)
        if main is not None:
            out.append(main)
    return out


def newest_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint that mmengine's ``last_checkpoint`` file names, else the newest
    ``iter_*.pth`` / ``epoch_*.pth`` of ``work_dir``; None when there is none."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(pointer):
        with open(pointer) as f:
            named = f.read().strip()
        if named and osp.isfile(named):
            return named
    found = glob.glob(osp.join(work_dir, 'iter_*.pth')) + glob.glob(osp.join(work_dir, 'epoch_*.pth'))

    def order(path: str) -> tuple:
        number = re.search(r'_(\d+)\.pth$', path)
        return osp.getmtime(path), int(number.group(1)) if number else -1

    return max(found, key=order) if found else None


def _pictures(log_dir: str) -> List[str]:
    """Image files below ``<log_dir>/vis_data`` (the visualizer's ``vis_image`` ...)."""
    out = []
    for root, _, files in os.walk(osp.join(log_dir, 'vis_data')):
        out += [osp.join(root, f) for f in files if f.lower().endswith(PICTURE_SUFFIXES)]
    return sorted(out)


def _metric_lines(metrics: Mapping[str, float], good_values: Mapping[str, float]) -> List[str]:
    """The main metrics first, then the other AP-like ones and those with a target; then one
    sentence about what a good value is."""
    main = main_metric_keys(metrics)
    rest = [k for k in metrics if k not in main and (is_accuracy_key(k) or k in good_values)]
    lines = []
    for key in main + rest:
        value = metrics[key]
        note = '  (main metric)' if key in main else ''
        if key in good_values:
            reached = isinstance(value, (int, float)) and value >= good_values[key]
            note += f'  target >= {good_values[key]}: {"reached" if reached else "not reached"}'
        shown = f'{value:.4f}' if isinstance(value, (int, float)) else str(value)
        lines.append(f'  {key}: {shown}{note}')
    targets = [f'{k} >= {v}' for k, v in good_values.items()]
    missing = [k for k in good_values if k not in metrics]
    if targets:
        sentence = f'A good value here: target {", ".join(targets)} (good_values of ProgressHook).'
        if missing:
            sentence += f' Not among the metrics: {", ".join(missing)}.'
    else:
        example = main[0] if main else 'coco/bbox_mAP'
        sentence = ('A good value: AP, mAP and NDS run from 0 to 1, higher is better, -1 means no ground '
                    'truth was evaluated; no target is set (ProgressHook good_values='
                    f"{{'{example}': ...}}).")
    return lines + [sentence]


def format_summary(*, train_seconds: float, val_seconds: float, iters: int, run_iters: int, max_iters: int,
                   metrics: Optional[Mapping[str, float]], metrics_iter: Optional[int],
                   good_values: Mapping[str, float], work_dir: str, log_dir: str) -> str:
    """The summary block ProgressHook prints at the end of a training.

    Args:
        train_seconds: wall time of the training loop, validations included.
        val_seconds: the part of it spent in validation.
        iters: the iteration the training ended at, ``run_iters`` how many of them this run
            trained (fewer after a resume), ``max_iters`` the planned end.
        metrics: the last validation's metrics (None: no validation ran);
            ``metrics_iter`` the iteration it ran after.
        good_values: ``{metric key: target}``, higher is better.
        work_dir: where the checkpoints are; ``log_dir`` the run's log folder.
    """
    resumed = '' if run_iters >= iters else f' ({run_iters} in this run)'
    stopped = '' if iters >= max_iters else f' (stopped early: {max_iters} were planned)'
    lines = ['=' * 20 + ' training summary ' + '=' * 20,
             f'Trained {iters} iterations{resumed}{stopped} in {format_duration(train_seconds)} '
             f'(validation {format_duration(val_seconds)} of it).']
    if metrics:
        lines.append(f'Final metrics (validation after iteration {metrics_iter}):')
        lines += _metric_lines(metrics, good_values)
    else:
        lines.append('No validation ran, so there are no metrics (a validation needs val_dataloader, '
                     'val_cfg and val_evaluator, and train_cfg.val_interval within the training).')
    ckpt = newest_checkpoint(work_dir)
    lines.append(f'Last checkpoint: {ckpt}' if ckpt else f'Last checkpoint: none saved in {work_dir}')
    logs = sorted(glob.glob(osp.join(log_dir, '*.log')))
    scalars = osp.join(log_dir, 'vis_data', 'scalars.json')
    lines.append(f'Logs: {logs[-1] if logs else log_dir}'
                 + (f'; scalars for plotting: {scalars}' if osp.isfile(scalars) else ''))
    pictures = _pictures(log_dir)
    if pictures:
        lines.append(f'Pictures: {len(pictures)} under {osp.join(log_dir, "vis_data")}')
    else:
        lines.append('Pictures: none saved by the training')
    lines.append(f'Loss and metric curves: python tools/plot_curves.py {work_dir}')
    return '\n'.join(lines)
