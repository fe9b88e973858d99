"""Reading mmengine's ``vis_data/scalars.json``: each logged value as a series over iterations."""
from __future__ import annotations

import json
import os
import os.path as osp
from typing import Dict, List, Tuple

#: Keys of a line that say where it is, not what was measured.
POSITION_KEYS = ('step', 'iter', 'epoch')

Series = Dict[str, List[Tuple[int, float]]]


def find_scalars(path: str) -> str:
    """The ``scalars.json`` that ``path`` means: the file itself, ``<log dir>/vis_data/scalars.json``,
    or, for a work dir, that of its newest run folder (mmengine's ``<timestamp>`` names sort by
    time) that has one.

    Raises:
        FileNotFoundError: none found.
    """
    if osp.isfile(path):
        return path
    direct = osp.join(path, 'vis_data', 'scalars.json')
    if osp.isfile(direct):
        return direct
    runs = sorted(d for d in os.listdir(path) if osp.isfile(osp.join(path, d, 'vis_data', 'scalars.json'))) \
        if osp.isdir(path) else []
    if not runs:
        raise FileNotFoundError(f'no scalars.json at {path} (expected a scalars.json, a log dir with '
                                'vis_data/scalars.json, or a work dir with <timestamp>/vis_data/scalars.json)')
    return osp.join(path, runs[-1], 'vis_data', 'scalars.json')


def read_scalars(path: str) -> Series:
    """``{key: [(iteration, value), ...]}`` from a ``scalars.json`` (or a log or work dir, see
    :func:`find_scalars`), in file order.

    Training lines (they carry ``iter``) are placed at their ``step`` (mmengine: the iteration,
    counted from 1). Validation lines are placed at their ``step`` too, which is the iteration
    they ran after when LoggerHook has ``log_metric_by_epoch=False`` (centerx's default); a
    smaller step (an epoch number, or 0 in an iteration-based training, as mmengine logs by
    default) is replaced by the step of the training line before it. Keys of validation lines
    without a ``/`` (``time``, ``data_time``) get a ``val/`` prefix so that they stay apart from
    the training ones. Values that are not numbers are left out; an unreadable last line (a
    file still being written) is skipped.

    Raises:
        ValueError: an unreadable line before the last one, or a line without ``step``/``iter``.
    """
    path = find_scalars(path)
    with open(path) as f:
        lines = [line for line in f.read().splitlines() if line.strip()]
    series: Series = {}
    last_train_step = 0
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if number == len(lines):
                break
            raise ValueError(f'{path}:{number}: not a json line ({err})') from None
        step = record.get('step', record.get('iter'))
        if not isinstance(step, (int, float)):
            raise ValueError(f'{path}:{number}: a line without a numeric "step" or "iter"')
        train = 'iter' in record
        if train:
            last_train_step = int(step)
        elif step < last_train_step:
            step = last_train_step
        for key, value in record.items():
            if key in POSITION_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            name = key if train or '/' in key else f'val/{key}'
            series.setdefault(name, []).append((int(step), float(value)))
    return series
