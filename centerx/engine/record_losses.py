"""A hook that keeps every iteration's losses, for tests and for plotting loss curves."""
from __future__ import annotations

import json
import os.path as osp
from typing import Dict, List

from mmengine.hooks import Hook

from centerx.registry import HOOKS


@HOOKS.register_module()
class RecordLossesHook(Hook):
    """Append ``{'iter': i, <loss name>: value, ...}`` per training iteration to
    ``<work_dir>/losses.jsonl`` (rank 0 only)."""

    priority = 'LOW'

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: Dict = None) -> None:
        if runner.rank != 0 or not outputs:
            return
        record = {'iter': runner.iter + 1}
        record.update({k: float(v.detach()) if hasattr(v, 'detach') else float(v) for k, v in outputs.items()})
        with open(osp.join(runner.work_dir, 'losses.jsonl'), 'a') as f:
            f.write(json.dumps(record) + '\n')


def read_losses(path: str) -> List[Dict[str, float]]:
    """Read a ``losses.jsonl`` written by :class:`RecordLossesHook`."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
