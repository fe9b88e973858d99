"""The short header a training prints once its data and model are built: what runs, where it
writes, how big it is, and how long it is expected to take."""
from __future__ import annotations

import glob
import os.path as osp
from typing import Any, Optional

from torch import nn


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters of ``model`` (a wrapper's ``module`` counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def format_count(n: int) -> str:
    """``1234567`` -> ``'1.23 M'``, ``12345`` -> ``'12.3 k'``."""
    if n >= 1_000_000:
        return f'{n / 1e6:.2f} M'
    return f'{n / 1e3:.1f} k' if n >= 1000 else str(n)


def describe_dataset(loader: Any) -> Optional[str]:
    """``'600 images'``: the items of a built dataloader's dataset, named as the dataset names them
    (``filter_item_name``; default ``items``); None without a dataloader or a length."""
    try:
        count = len(loader.dataset)
    except (AttributeError, TypeError):
        return None
    return f'{count} {getattr(loader.dataset, "filter_item_name", "items")}'


def format_header(*, config: Optional[str], work_dir: str, log_dir: str, parameters: int,
                  train_data: Optional[str], batch_size: Optional[int], val_data: Optional[str],
                  max_iters: int, start_iter: int, val_interval: Optional[int], expected: Optional[str]) -> str:
    """Three lines: config and where things go; model and data size; iterations and the expected time.

    Args:
        config: the config file (None: built in code); its full text is in the work dir.
        work_dir: checkpoints; ``log_dir``: the run's log folder.
        parameters: trainable parameters of the model.
        train_data / val_data: :func:`describe_dataset` of the loaders (None: unknown, or no
            validation); ``batch_size`` of training.
        max_iters / start_iter: the planned end and where this run starts (after a resume).
        val_interval: iterations between validations (None: at the end only).
        expected: what the config says a run takes and reaches (ProgressHook ``expected``).
    """
    logs = sorted(glob.glob(osp.join(log_dir, '*.log')))
    dumped = osp.join(work_dir, osp.basename(config)) if config else None
    where = f'training {config or "a config built in code"} -> {work_dir}'
    if dumped and osp.isfile(dumped):
        where += f' (full config: {dumped}'
        where += f'; log: {logs[-1]})' if logs else ')'
    data = f'{train_data} to train on' if train_data is not None else 'training data of unknown size'
    if batch_size:
        data += f' (batch {batch_size})'
    data += f', {val_data} to validate on' if val_data is not None else ', no validation'
    iters = f'{max_iters} iterations' + (f' from iteration {start_iter} (resumed)' if start_iter else '')
    if val_data is not None:
        iters += f', a validation every {val_interval}' if val_interval else ', a validation at the end'
    time = f'expected: {expected}' if expected else \
        'expected time: the progress lines after iterations 1, 5 and 10 give an ETA'
    return '\n'.join([where, f'model: {format_count(parameters)} parameters | data: {data}',
                      f'{iters} | {time}'])
