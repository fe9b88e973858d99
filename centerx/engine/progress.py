"""ProgressHook: early ETA lines of a training, and one readable summary block at its end."""
from __future__ import annotations

import time
from typing import Dict, List, Mapping, Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.runner import EpochBasedTrainLoop

from centerx.registry import HOOKS

from .run_summary import format_duration, format_summary
from .start_header import count_parameters, describe_dataset, format_header

#: Until a validation has been timed, one validation batch is guessed to cost this fraction of
#: a training iteration on a batch of the same size (a forward pass, decoding, the metric).
VAL_COST_FACTOR = 0.5


def validations_left(loop, has_val_loop: bool) -> int:
    """How many validations ``loop`` (an mmengine train loop, seen from ``after_train_iter``)
    still runs, the one after the current iteration or epoch included.

    mmengine's rule: after each epoch (``EpochBasedTrainLoop``) or iteration (else) ``k`` with
    ``k >= val_begin`` and ``k % val_interval == 0`` or ``k`` the last one. A loop without
    ``val_interval`` counts one, at the end; dynamic intervals are not followed.
    """
    if not has_val_loop:
        return 0
    if isinstance(loop, EpochBasedTrainLoop):
        first, last = loop.epoch + 1, loop.max_epochs
    else:
        first, last = loop.iter + 1, loop.max_iters
    interval = getattr(loop, 'val_interval', None)
    if not isinstance(interval, int) or interval <= 0:
        return 1
    first = max(first, int(getattr(loop, 'val_begin', 1)))
    if first > last:
        return 0
    count = last // interval - (first - 1) // interval
    return count + (1 if last % interval else 0)


@HOOKS.register_module()
class ProgressHook(Hook):
    """Print a progress line after the first few iterations and a summary after training.

    The progress lines (after the ``at_iters``-th iterations of this run; LoggerHook takes over
    from there) give the iteration, the seconds per iteration measured so far (without the
    first iteration's warm-up once there are two), an ETA of the whole training including its
    validations (the first one guessed from the batch counts, later ones from the timed ones)
    and the total loss. The summary (at ``after_train``) gives the wall time, the last
    validation's metrics with the main metric of each evaluator first, the ``good_values``
    targets, and where the last checkpoint, the logs and any pictures are. Rank 0 prints.

    Args:
        at_iters: iterations of this run after which a progress line is printed.
        good_values: ``{metric key: target}`` (higher is better), e.g.
            ``{'coco/bbox_mAP': 0.45}``; the summary says whether each target was reached.
        expected: what a run of the config takes and reaches on a reference machine, e.g.
            ``'~10-15 min on 2 CPU cores, dota/mAP ~0.65-0.71'``, printed in the header.
        header: print the start header (:func:`~centerx.engine.start_header.format_header`:
            config, work dir, model size, data size, iterations, expected time) before training.
    """

    priority = 'LOW'

    def __init__(self, at_iters: Sequence[int] = (1, 5, 10),
                 good_values: Optional[Mapping[str, float]] = None, expected: Optional[str] = None,
                 header: bool = True) -> None:
        self.at_iters = {int(i) for i in at_iters}
        self.expected, self.header = expected, bool(header)
        self.good_values: Dict[str, float] = {str(k): float(v) for k, v in (good_values or {}).items()}
        self._start = self._after_first = self._val_start = 0.0
        self._run_iters = 0
        self._val_times: List[float] = []
        self._metrics: Optional[Dict[str, float]] = None
        self._metrics_iter: Optional[int] = None

    # ------------------------------------------------------------------ timing
    def before_train(self, runner) -> None:
        self._start = time.perf_counter()
        self._run_iters = 0
        self._val_times, self._metrics, self._metrics_iter = [], None, None
        if self.header and is_main_process():
            print_log(self._header(runner), logger='current')

    def _header(self, runner) -> str:
        model = getattr(runner.model, 'module', runner.model)
        val_loop = runner.val_loop
        loader = runner.train_dataloader
        return format_header(
            config=getattr(runner.cfg, 'filename', None), work_dir=runner.work_dir, log_dir=runner.log_dir,
            parameters=count_parameters(model), train_data=describe_dataset(loader),
            batch_size=getattr(loader, 'batch_size', None),
            val_data=describe_dataset(val_loop.dataloader) if val_loop is not None else None,
            max_iters=runner.max_iters, start_iter=runner.iter,
            val_interval=getattr(runner.train_loop, 'val_interval', None), expected=self.expected)

    def before_val(self, runner) -> None:
        self._val_start = time.perf_counter()

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self._metrics, self._metrics_iter = dict(metrics or {}), runner.iter

    def after_val(self, runner) -> None:
        if self._val_start:
            self._val_times.append(time.perf_counter() - self._val_start)
            self._val_start = 0.0

    # ----------------------------------------------------------------- printing
    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs: Optional[Dict] = None) -> None:
        now = time.perf_counter()
        self._run_iters += 1
        if self._run_iters == 1:
            self._after_first = now
        if self._run_iters in self.at_iters and is_main_process():
            print_log(self._progress_line(runner, now, outputs or {}), logger='current')

    def after_train(self, runner) -> None:
        if not is_main_process():
            return
        print_log(format_summary(
            train_seconds=time.perf_counter() - self._start, val_seconds=sum(self._val_times),
            iters=runner.iter, run_iters=self._run_iters, max_iters=runner.max_iters,
            metrics=self._metrics, metrics_iter=self._metrics_iter, good_values=self.good_values,
            work_dir=runner.work_dir, log_dir=runner.log_dir), logger='current')

    def _progress_line(self, runner, now: float, outputs: Mapping) -> str:
        if self._run_iters > 1:
            per_iter = (now - self._after_first) / (self._run_iters - 1)
            measured = f'over iterations 2-{self._run_iters} of this run'
        else:
            per_iter = now - self._start
            measured = 'first iteration, warm-up included'
        done = runner.iter + 1
        vals = validations_left(runner.train_loop, runner.val_loop is not None)
        val_total = vals * self._seconds_per_validation(runner, per_iter)
        eta = (runner.max_iters - done) * per_iter + val_total
        parts = [f'progress: iter {done}/{runner.max_iters}',
                 f'{per_iter:.3f} s/iter ({measured})',
                 f'ETA {format_duration(eta)}'
                 + (f' (incl. ~{format_duration(val_total)} for {vals} validation{"s" * (vals > 1)})'
                    if vals else ' (no validation)')]
        loss = outputs.get('loss')
        if loss is not None:
            parts.append(f'loss {float(loss.detach() if hasattr(loss, "detach") else loss):.4f}')
        return ' | '.join(parts)

    def _seconds_per_validation(self, runner, per_iter: float) -> float:
        """The mean of the timed validations; before the first one, a guess from the number
        and size of the validation batches (:data:`VAL_COST_FACTOR`)."""
        if self._val_times:
            return sum(self._val_times) / len(self._val_times)
        try:
            loader = runner.val_loop.dataloader
            ratio = (loader.batch_size or 1) / (runner.train_dataloader.batch_size or 1)
            return len(loader) * ratio * per_iter * VAL_COST_FACTOR
        except (AttributeError, TypeError):  # no length (an iterable dataset) or no batch size
            return 0.0
