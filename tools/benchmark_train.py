"""Benchmark the centerx training step against a plain PyTorch loop, and count forward FLOPs.

``python tools/benchmark_train.py [CONFIG ...] [--iters N] [--warmup W] [--round-iters R]
[--threads T] [--cfg-options k=v ...] [--markdown]`` (default configs: ``configs/box2d_synthetic.py``
and ``configs/rotated_synthetic.py``; their synthetic data is generated under ``data/`` on first use).

For each config, two loops train the same model on the same batches, in the same process:

- centerx: the training step as users run it. The mmengine Runner of ``tools/train.py``
  (``load_config`` + ``build_runner``) runs ``runner.train()``: the config's data loader and its
  workers, the data preprocessor, the model in ``loss`` mode, the optimizer wrapper (with the
  config's gradient clipping), the parameter schedulers and the runtime, timer and logger hooks.
  Only the checkpoint hook and the validation loop are left out, and the train loop is made
  iteration-based with just the iterations the benchmark needs. Two hooks (the first and the
  last to run) take timestamps that split every iteration into: data (from the end of the previous
  iteration to ``before_train_iter``: ``model.train()`` and the loader's ``next``; IterTimerHook's
  ``data_time`` less the hooks that run after IterTimerHook), before-iteration hooks,
  ``train_step``, after-iteration hooks.
- plain: a PyTorch loop over a model of the same class, built from the same config with the
  Runner's initial weights, with the same loss (``model(**model.data_preprocessor(batch, True),
  mode='loss')`` summed as mmengine's ``parse_losses`` sums it), the same optimizer class and
  arguments (``torch.optim.<type>(**optim_wrapper.optimizer)``, constant lr) and
  ``clip_grad_norm_`` with the config's ``clip_grad``. It replays the batches the centerx loop
  has just trained on, already loaded: the plain loop has zero data cost, so the images/s of the
  two loops differ by what the framework adds, data waits included (and, on a machine with few
  cores, the CPU the loader's workers take from the training process), up to timing noise.

Interleaving: ``W`` warm-up centerx iterations (untimed), replayed by the plain loop as its
warm-up; then rounds of ``R`` timed centerx iterations, each followed by the plain loop on the
same ``R`` batches, so that load from other processes hits both loops alike. While the plain loop
runs, the loader's workers fill their queue (``num_workers x prefetch_factor`` batches), which
the next centerx iterations would get for free; that many centerx iterations after every plain
block are run untimed ("refill") so the timed ones see the steady-state data wait.

Reported: images/s of both loops (timed images / summed iteration time), centerx/plain (goal:
>= 0.90, centerx within 10% of the plain loop), the share of data time in the centerx iteration,
a per-iteration breakdown, and forward FLOPs of one batch per component: ``model.backbone``,
``model.neck`` and each head of ``model.heads`` (with each of its branches), each called on its
real input under ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products;
1 multiply-add = 2 FLOPs; normalization, activations and the losses are not counted).
"""
from __future__ import annotations

import argparse
import functools
import gc
import math
import os
import os.path as osp
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Set, Tuple, Union

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import mmengine  # noqa: E402
import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from torch import Tensor, nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from benchmark_common import format_number, format_table  # noqa: E402

from centerx.engine.launch import build_runner, load_config  # noqa: E402
from centerx.registry import MODELS  # noqa: E402

DEFAULT_CONFIGS = ('configs/box2d_synthetic.py', 'configs/rotated_synthetic.py')
RATIO_GOAL = 0.90
Batch = Dict[str, list]

# ---------------------------------------------------------------------------------------------
# the plain PyTorch loop
# ---------------------------------------------------------------------------------------------


def total_loss(losses: Dict[str, Union[Tensor, List[Tensor]]]) -> Tensor:
    """The loss mmengine's ``parse_losses`` backpropagates: the sum, over the keys that contain
    ``'loss'``, of each value's mean (of the sum of the means for a list of tensors)."""
    total = 0
    for key, value in losses.items():
        if 'loss' in key:
            total = total + (value.mean() if isinstance(value, Tensor) else sum(v.mean() for v in value))
    return total


@dataclass
class PlainLoop:
    """A model, its optimizer and the gradient clipping, stepped without any framework."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    clip: Optional[Callable[[], object]] = None

    def step(self, batch: Batch) -> Tensor:
        """One training step on a loaded batch (``{'inputs': [(3, H, W) uint8], 'data_samples':
        [DetSample]}``); returns the detached () loss."""
        data = self.model.data_preprocessor(batch, True)
        loss = total_loss(self.model(**data, mode='loss'))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.clip is not None:
            self.clip()
        self.optimizer.step()
        return loss.detach()


def build_plain_loop(cfg: Config, state: Dict[str, Tensor]) -> PlainLoop:
    """The config's model (weights ``state``), ``torch.optim.<optimizer type>`` with the config's
    arguments, and ``clip_grad_norm_`` (``clip_grad_value_`` for ``type='value'``) with its
    ``clip_grad``. The optimizer wrapper's type (AMP), ``paramwise_cfg`` and the parameter
    schedulers are not reproduced."""
    model = MODELS.build(cfg.model)
    model.load_state_dict(state)
    model.train()
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    optimizer = getattr(torch.optim, opt_cfg.pop('type'))(model.parameters(), **opt_cfg)
    clip_cfg = dict(cfg.optim_wrapper.get('clip_grad') or {})
    clip = None
    if clip_cfg:
        by_value = clip_cfg.pop('type', 'norm') == 'value'
        clip_fn = nn.utils.clip_grad_value_ if by_value else nn.utils.clip_grad_norm_
        clip = functools.partial(clip_fn, [p for p in model.parameters() if p.requires_grad], **clip_cfg)
    return PlainLoop(model, optimizer, clip)


# ---------------------------------------------------------------------------------------------
# timing the Runner's iterations, interleaved with the plain loop
# ---------------------------------------------------------------------------------------------


@dataclass
class IterTimes:
    """One centerx iteration, in seconds."""

    data: float
    before_hooks: float
    step: float
    after_hooks: float

    @property
    def total(self) -> float:
        return self.data + self.before_hooks + self.step + self.after_hooks


@dataclass
class Plan:
    """What each centerx iteration is: ``kinds[i]`` in ``warmup`` / ``refill`` / ``timed``; the
    plain loop runs after the iterations in ``block_ends``, on the warm-up or timed batches of the
    block. Refill iterations follow each plain block (none before the first one)."""

    kinds: List[str]
    block_ends: Set[int]

    @classmethod
    def make(cls, iters: int, warmup: int, round_iters: int, refill: int) -> 'Plan':
        kinds = ['warmup'] * warmup
        ends = {warmup - 1} if warmup else set()
        for start in range(0, iters, round_iters):
            kinds += ['refill'] * (refill if kinds else 0) + ['timed'] * min(round_iters, iters - start)
            ends.add(len(kinds) - 1)
        return cls(kinds, ends)


def refill_iterations(loader_cfg: dict) -> int:
    """Batches the loader's workers have ready after a pause: ``num_workers x prefetch_factor``."""
    workers = loader_cfg.get('num_workers', 0) or 0
    return workers * (loader_cfg.get('prefetch_factor') or 2) if workers > 0 else 0


class _Stamp(Hook):
    """Hands ``before_train`` / ``before_train_iter`` / ``after_train_iter`` to the clock, tagged
    ``first`` or ``last`` (registered at the highest and the lowest priority)."""

    def __init__(self, clock: 'InterleavedClock', position: str) -> None:
        self.clock, self.position = clock, position

    def before_train(self, runner) -> None:
        if self.position == 'last':
            self.clock.start(runner)

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[Batch] = None) -> None:
        self.clock.stamp(f'before_{self.position}')

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[Batch] = None,
                         outputs: Optional[dict] = None) -> None:
        self.clock.stamp(f'after_{self.position}')
        if self.position == 'last':
            self.clock.end_iter(batch_idx, data_batch, outputs)


class InterleavedClock:
    """Times the Runner's iterations and, at the end of each block of the :class:`Plan`, runs the
    plain loop on that block's batches (outside the centerx times)."""

    def __init__(self, cfg: Config, plan: Plan, threads: int) -> None:
        self.cfg, self.plan, self.threads = cfg, plan, threads
        self.centerx: List[IterTimes] = []
        self.plain: List[float] = []
        self.images = 0
        self.first_losses: List[float] = []  # centerx, plain: the loss of the first step
        self.plain_loop: Optional[PlainLoop] = None
        self.sample_batch: Optional[Batch] = None
        self._pending: List[Batch] = []
        self._t: Dict[str, float] = {}

    def hooks(self) -> Tuple[Hook, Hook]:
        return _Stamp(self, 'first'), _Stamp(self, 'last')

    def start(self, runner) -> None:
        """Build the plain loop from the Runner's initial weights (after ``init_weights``)."""
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        torch.set_num_threads(self.threads)
        self.plain_loop = build_plain_loop(self.cfg, model.state_dict())
        self._t['end'] = time.perf_counter()

    def stamp(self, name: str) -> None:
        self._t[name] = time.perf_counter()

    def end_iter(self, idx: int, batch: Batch, outputs: Optional[dict]) -> None:
        t = self._t
        kind = self.plan.kinds[idx]
        if idx == 0 and outputs:
            self.first_losses.append(float(outputs['loss'].detach()))
        if kind == 'timed':
            self.centerx.append(IterTimes(data=t['before_first'] - t['end'],
                                          before_hooks=t['before_last'] - t['before_first'],
                                          step=t['after_first'] - t['before_last'],
                                          after_hooks=t['after_last'] - t['after_first']))
            self.images += len(batch['inputs'])
        if kind != 'refill':
            self._pending.append(batch)
        if self.sample_batch is None:
            self.sample_batch = batch
        if idx in self.plan.block_ends:
            self._run_plain(timed=kind == 'timed')
        t['end'] = time.perf_counter()

    def _run_plain(self, timed: bool) -> None:
        for batch in self._pending:
            t0 = time.perf_counter()
            loss = self.plain_loop.step(batch)
            dt = time.perf_counter() - t0
            if len(self.first_losses) == 1:
                self.first_losses.append(float(loss))
            if timed:
                self.plain.append(dt)
        self._pending = []


# ---------------------------------------------------------------------------------------------
# forward FLOPs per component
# ---------------------------------------------------------------------------------------------


@dataclass
class FlopRow:
    """FLOPs of one component for one batch; ``level`` 0 rows partition the model."""

    name: str
    flops: int
    level: int = 0
    share: float = 0.0  # of the sum of the level-0 rows


def _counted(fn: Callable, *args) -> Tuple[object, int]:
    with FlopCounterMode(display=False) as counter:
        out = fn(*args)
    return out, counter.get_total_flops()


def _branches(head: nn.Module) -> Iterator[Tuple[str, nn.Module]]:
    """A CenterHead's output branches: ``heatmap`` and ``<task>.<map>``."""
    if isinstance(getattr(head, 'heatmap', None), nn.Module):
        yield 'heatmap', head.heatmap
    for key, branch in getattr(head, 'branches', {}).items():
        yield key.replace('__', '.'), branch


def component_flops(model: nn.Module, inputs: Tensor) -> Tuple[List[FlopRow], int]:
    """Forward FLOPs of ``model.backbone``, ``model.neck``, each head of ``model.heads`` and each
    head's branches on (B, 3, H, W) normalized ``inputs``; also those of the whole forward
    (``mode='tensor'``), which the level-0 rows should add up to."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            feats, backbone = _counted(model.backbone, inputs)
            feat, neck = _counted(model.neck, feats)
            rows = [FlopRow(f'backbone ({type(model.backbone).__name__})', backbone),
                    FlopRow(f'neck ({type(model.neck).__name__})', neck)]
            for name, head in model.heads.items():
                rows.append(FlopRow(f'head {name} ({type(head).__name__})', _counted(head, feat)[1]))
                rows += [FlopRow(f'{name}.{b}', _counted(branch, feat)[1], level=1)
                         for b, branch in _branches(head)]
            whole = _counted(lambda x: model(x, mode='tensor'), inputs)[1]
    finally:
        model.train(was_training)
    total = sum(r.flops for r in rows if r.level == 0)
    for r in rows:
        r.share = r.flops / total if total else 0.0
    return rows, whole


# ---------------------------------------------------------------------------------------------
# one config
# ---------------------------------------------------------------------------------------------


@dataclass
class TrainResult:
    """Both loops' times on one config, and its forward FLOPs."""

    config: str
    threads: int
    input_shape: Tuple[int, int]
    refill: int
    centerx: List[IterTimes]
    plain: List[float]
    images: int
    first_losses: List[float]
    flops: List[FlopRow] = field(default_factory=list)
    flops_whole: int = 0

    @property
    def batch_size(self) -> float:
        return self.images / max(len(self.centerx), 1)

    @property
    def centerx_images_per_s(self) -> float:
        return self.images / sum(t.total for t in self.centerx)

    @property
    def plain_images_per_s(self) -> float:
        return self.images / sum(self.plain)

    @property
    def ratio(self) -> float:
        """centerx images/s over plain images/s (1.0: no overhead)."""
        return self.centerx_images_per_s / self.plain_images_per_s

    @property
    def data_share(self) -> float:
        """Share of the centerx iteration time spent waiting for data, in [0, 1]."""
        return sum(t.data for t in self.centerx) / sum(t.total for t in self.centerx)


def benchmark_cfg(path: str, cfg_options: Sequence[str], work_dir: str) -> Config:
    """The config as ``tools/train.py`` loads it, with no validation, no checkpoints and
    warnings-only logging (the caller sets the iterations of the train loop)."""
    cfg = load_config(path, cfg_options, work_dir=work_dir)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if cfg.get('default_hooks'):
        cfg.default_hooks.checkpoint = None
    cfg.resume, cfg.load_from = False, None
    cfg.log_level = 'WARNING'
    return cfg


def benchmark_config(path: str, iters: int, warmup: int, round_iters: int, threads: int,
                     cfg_options: Sequence[str] = ()) -> TrainResult:
    """Run both loops on one config (see the module docstring) and count its FLOPs."""
    with tempfile.TemporaryDirectory(prefix='centerx_benchmark_train_') as work_dir:
        cfg = benchmark_cfg(path, cfg_options, work_dir)
        refill = refill_iterations(cfg.train_dataloader)
        plan = Plan.make(iters, warmup, round_iters, refill)
        cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=len(plan.kinds))
        clock = InterleavedClock(cfg, plan, threads)
        runner = build_runner(cfg)
        first, last = clock.hooks()
        runner.register_hook(first, priority='HIGHEST')
        runner.register_hook(last, priority='LOWEST')
        runner.train()
        del runner
        gc.collect()  # stop the loader's persistent workers before the next config
    model = clock.plain_loop.model
    inputs = model.data_preprocessor(clock.sample_batch, True)['inputs']
    flops, whole = component_flops(model, inputs)
    rel = osp.relpath(path)
    return TrainResult(config=path if rel.startswith('..') else rel, threads=torch.get_num_threads(),
                       input_shape=tuple(inputs.shape[-2:]), refill=refill, centerx=clock.centerx,
                       plain=clock.plain, images=clock.images, first_losses=clock.first_losses,
                       flops=flops, flops_whole=whole)


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def speed_table(results: Sequence[TrainResult], markdown: bool) -> str:
    headers = ('config', 'batch', 'input', 'centerx img/s', 'plain img/s', 'centerx/plain', 'data share')
    cells = [(r.config, f'{r.batch_size:g}', 'x'.join(map(str, r.input_shape)),
              format_number(r.centerx_images_per_s), format_number(r.plain_images_per_s),
              f'{r.ratio:.2f}x', f'{100 * r.data_share:.1f}%') for r in results]
    return format_table(headers, cells, '<' + '>' * 6, markdown)


def breakdown_table(results: Sequence[TrainResult], markdown: bool) -> str:
    headers = ('config', 'data', 'hooks', 'train_step', 'centerx iter', 'plain step',
               'centerx median', 'plain median')
    cells = []
    for r in results:
        def ms(values: Sequence[float]) -> str:
            return f'{1e3 * sum(values) / len(values):.1f}'
        cells.append((r.config, ms([t.data for t in r.centerx]),
                      ms([t.before_hooks + t.after_hooks for t in r.centerx]), ms([t.step for t in r.centerx]),
                      ms([t.total for t in r.centerx]), ms(r.plain),
                      f'{1e3 * statistics.median(t.total for t in r.centerx):.1f}',
                      f'{1e3 * statistics.median(r.plain):.1f}'))
    return format_table(headers, cells, '<' + '>' * 7, markdown)


def flops_table(result: TrainResult, markdown: bool) -> str:
    indent = '' if markdown else '  '
    cells = [(indent * r.level + r.name, f'{r.flops / 1e9:.3f}', f'{100 * r.share:.1f}%') for r in result.flops]
    total = sum(r.flops for r in result.flops if r.level == 0)
    cells.append(('total', f'{total / 1e9:.3f}', '100.0%'))
    return format_table(('component', 'GFLOP/batch', 'share'), cells, '<>>', markdown)


def report(results: Sequence[TrainResult], markdown: bool) -> None:
    print(speed_table(results, markdown))
    print('\nper centerx iteration, mean ms (data: waiting for the loader; hooks: before + after '
          'iteration hooks; train_step: preprocess, forward, loss, backward, clip, step); plain: mean '
          'ms per step; medians of both last\n')
    print(breakdown_table(results, markdown))
    for r in results:
        verdict = 'met' if r.ratio >= RATIO_GOAL else 'NOT met'
        print(f'\n{r.config}: goal centerx/plain >= {RATIO_GOAL:.2f} -> {verdict} ({r.ratio:.2f}x); '
              f'first-step loss centerx {r.first_losses[0]:.6f}, plain {r.first_losses[1]:.6f}; '
              f'{len(r.centerx)} timed iterations each, {r.refill} refill iterations per round')
        whole = sum(f.flops for f in r.flops if f.level == 0)
        check = 'equal to' if whole == r.flops_whole else f'NOT equal to ({r.flops_whole / 1e9:.3f})'
        print(f'forward FLOPs of one batch ({r.batch_size:g} x {"x".join(map(str, r.input_shape))}); '
              f'total {check} the whole forward\n')
        print(flops_table(r, markdown))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark the centerx training step (mmengine '
                                     'Runner) against a plain PyTorch loop; forward FLOPs per component')
    parser.add_argument('configs', nargs='*', default=[osp.join(ROOT, c) for c in DEFAULT_CONFIGS])
    parser.add_argument('--iters', type=int, default=20, help='timed iterations per loop and config')
    parser.add_argument('--warmup', type=int, default=3, help='untimed warm-up iterations per loop')
    parser.add_argument('--round-iters', type=int, default=5,
                        help='iterations per round before switching loops')
    parser.add_argument('--threads', type=int, default=1, help='torch threads')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='override config entries of every config')
    parser.add_argument('--markdown', action='store_true', help='print markdown tables')
    args = parser.parse_args(argv)
    if args.iters < 1 or args.round_iters < 1 or args.warmup < 0:
        parser.error('--iters and --round-iters must be >= 1, --warmup >= 0')
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[TrainResult]:
    args = parse_args(argv)
    default_threads = torch.get_num_threads()
    t0 = time.perf_counter()
    load = ' '.join(f'{x:.2f}' for x in os.getloadavg())
    print(f'centerx training benchmark: torch {torch.__version__}, mmengine {mmengine.__version__}, '
          f'torch threads {args.threads} (OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS", "unset")}), '
          f'{os.cpu_count()} CPUs, load average {load} (1/5/15 min) at start')
    print(f'{args.warmup} warm-up iterations, then {math.ceil(args.iters / args.round_iters)} rounds of '
          f'{args.round_iters} alternating centerx (mmengine Runner, real loader) and plain PyTorch (same '
          f'model, loss, optimizer, clipping; same batches, pre-loaded: zero data cost), {args.iters} '
          f'timed iterations each; images/s = timed images / summed time\n')
    results = []
    try:
        torch.set_num_threads(args.threads)
        for path in args.configs:
            results.append(benchmark_config(path, args.iters, args.warmup, args.round_iters, args.threads,
                                            args.cfg_options))
    finally:
        torch.set_num_threads(default_threads)
    report(results, args.markdown)
    load = ' '.join(f'{x:.2f}' for x in os.getloadavg())
    print(f'\nload average {load} at the end; total time {time.perf_counter() - t0:.1f} s')
    return results


if __name__ == '__main__':
    main()
