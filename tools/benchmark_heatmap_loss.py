"""Benchmark what a training step spends on the heatmap: targets + focal loss, forward and backward.

``python tools/benchmark_heatmap_loss.py [--objects 10 100 500] [--classes 80 1] [--threads 1 2]
[--batch 16] [--out-size 128] [--repeats N] [--no-memory] [--quick]``

Three measurements, all paths timed in the same run on the same seeded data, interleaved:

1. Targets + losses, forward + backward (ms per batch of (B, C, H, W) logits plus (B, 2, H, W)
   size and offset maps, all leaves that receive gradients):

   - centerx: the real head code path, ``CenterHead.loss`` of a head with ``Box2DTask`` and
     ``CornerNetGaussian(0.7)`` (centers, sparse heatmap target, sparse focal loss, size /
     offset targets and L1 losses), then ``backward`` of the summed losses. The note column
     gives the same head with ``heatmap_loss='dense'`` (the rendered dense target and
     ``penalty_reduced_focal_loss``).
   - baseline: CenterNet's ``ctdet`` training targets as a per-object loop
     (``baseline_encode`` of tools/benchmark_encode.py: ``draw_umich_gaussian`` style) plus
     its dense focal loss and its gathered L1 size / offset losses, written here from the
     CenterNet formulas, then ``backward``.

   The script asserts that both heatmap losses agree (relative difference <= 1e-5; the
   column gives it) and so do their gradients w.r.t. the logits.

2. The loss alone against the lower limit: ``sparse_focal_loss`` forward + backward on a
   prepared sparse target, against one fused elementwise pass over the logits
   (``softplus(x).sum()`` forward + backward) and a bare ``torch.sigmoid(x)``.

3. Peak memory above the inputs (MB) of one call of each path of 1., each in a fresh
   subprocess (Linux: the peak resident set ``VmHWM`` after resetting it through
   ``/proc/self/clear_refs``, with ``MALLOC_MMAP_THRESHOLD_`` fixed so that freed buffers go
   back to the system).

Timing: ``time.perf_counter`` (``--clock cpu``: ``time.process_time``, steadier on a shared machine
for 1-thread rows), warm-up calls, then the median of ``--repeats`` calls.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import os.path as osp
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from benchmark_common import Row, format_number, format_table, median_times, print_table  # noqa: E402
from benchmark_encode import ImageGT, baseline_encode, make_images, to_instances  # noqa: E402

from centerx.heatmap import CornerNetGaussian  # noqa: E402
from centerx.losses import sparse_focal_loss  # noqa: E402
from centerx.models.center_head import CenterHead  # noqa: E402
from centerx.models.loss_groups import LossGroup  # noqa: E402
from centerx.task import Grid  # noqa: E402
from centerx_tasks.box2d.task import Box2DTask  # noqa: E402

LOSS_TOL = 1e-5
GOALS = {10: 5.0, 500: 20.0}   # objects per image -> speed-up over the baseline, 1 thread
LIMIT_GOAL = 3.0               # loss alone within this factor of one fused pass
CLOCKS = {'wall': time.perf_counter, 'cpu': time.process_time}

# ---------------------------------------------------------------------------------------------
# one benchmark case
# ---------------------------------------------------------------------------------------------


@dataclass
class Case:
    """Seeded inputs of one (objects, classes) setting: images, their ground truth and leaves."""

    images: List[ImageGT]
    grid: Grid
    num_classes: int
    num_objects: int
    logits: torch.Tensor
    size: torch.Tensor
    offset: torch.Tensor

    @property
    def leaves(self) -> Tuple[torch.Tensor, ...]:
        return self.logits, self.size, self.offset

    def zero_grad(self) -> None:
        for t in self.leaves:
            t.grad = None


def make_case(num_objects: int, num_classes: int, args: argparse.Namespace) -> Case:
    stride = args.stride
    grid = Grid(batch_size=args.batch, shape=(args.out_size, args.out_size), stride=stride,
                input_shape=(args.out_size * stride, args.out_size * stride))
    images = make_images(args.batch, num_objects, args.out_size * stride, num_classes, args.min_size,
                         args.max_size, seed=args.seed + num_objects)
    g = torch.Generator().manual_seed(args.seed)
    shape = (args.batch, num_classes, args.out_size, args.out_size)
    logits = (torch.randn(shape, generator=g) - 2.19).requires_grad_()
    size = (torch.rand(args.batch, 2, args.out_size, args.out_size, generator=g) * 10).requires_grad_()
    offset = torch.rand(args.batch, 2, args.out_size, args.out_size, generator=g).requires_grad_()
    return Case(images, grid, num_classes, num_objects, logits, size, offset)


def make_head(num_classes: int, heatmap_loss: str) -> CenterHead:
    return CenterHead('h', in_channels=8, classes=[f'c{i}' for i in range(num_classes)], tasks=[Box2DTask()],
                      kernel=CornerNetGaussian(0.7), head_conv=0, heatmap_loss=heatmap_loss)


# ---------------------------------------------------------------------------------------------
# the two training paths
# ---------------------------------------------------------------------------------------------


def centerx_step(head: CenterHead, case: Case) -> torch.Tensor:
    """Targets + all head losses through ``CenterHead.loss``, then backward; the heatmap loss."""
    case.zero_grad()
    gt = to_instances(case.images)
    outputs = {'heatmap': case.logits, 'box2d': {'size': case.size, 'offset': case.offset}}
    losses = head.loss(outputs, gt, case.grid)
    total = sum(v for terms in losses.values() for v in terms.values())
    total.backward()
    return losses[LossGroup('h')]['heatmap'].detach()


def centernet_focal_loss(logits: torch.Tensor, hm: torch.Tensor) -> torch.Tensor:
    """CenterNet's dense penalty-reduced focal loss (its ``_neg_loss`` formulas) on a dense target."""
    pred = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = hm.eq(1).float()
    neg = hm.lt(1).float()
    pos_loss = (torch.log(pred) * torch.pow(1 - pred, 2) * pos).sum()
    neg_loss = (torch.log(1 - pred) * torch.pow(pred, 2) * torch.pow(1 - hm, 4) * neg).sum()
    num_pos = pos.sum()
    return -neg_loss if float(num_pos) == 0 else -(pos_loss + neg_loss) / num_pos


def centernet_reg_l1(output: torch.Tensor, ind: torch.Tensor, mask: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's ``RegL1Loss``: the map gathered at the ``ind`` cells, masked L1 over the mask sum."""
    B, D = output.shape[:2]
    pred = output.view(B, D, -1).permute(0, 2, 1).gather(1, ind[:, :, None].expand(-1, -1, D))
    m = mask[:, :, None].expand_as(pred).float()
    return F.l1_loss(pred * m, target * m, reduction='sum') / (m.sum() + 1e-4)


def baseline_step(case: Case) -> torch.Tensor:
    """Loop targets + CenterNet's dense focal loss and L1 losses (its ctdet weights), then backward."""
    case.zero_grad()
    t = baseline_encode(case.images, case.num_classes, case.grid.shape, case.grid.stride, case.num_objects)
    hm, ind, mask = (torch.from_numpy(t[k]) for k in ('hm', 'ind', 'reg_mask'))
    heat = centernet_focal_loss(case.logits, hm)
    wh = centernet_reg_l1(case.size, ind, mask, torch.from_numpy(t['wh']))
    reg = centernet_reg_l1(case.offset, ind, mask, torch.from_numpy(t['reg']))
    (heat + 0.1 * wh + reg).backward()
    return heat.detach()


def check_paths(head: CenterHead, case: Case) -> float:
    """Assert both paths give the same heatmap loss and logits gradient; the relative loss difference."""
    ours = centerx_step(head, case)
    grad = case.logits.grad.clone()
    theirs = baseline_step(case)
    rel = float((ours - theirs).abs() / theirs.abs().clamp(min=1e-12))
    assert rel <= LOSS_TOL, f'heatmap losses differ: {float(ours)} vs {float(theirs)} (relative {rel:.2e})'
    gdiff = float((grad - case.logits.grad).abs().max())
    scale = float(case.logits.grad.abs().max())
    assert gdiff <= LOSS_TOL * max(scale, 1e-12), f'heatmap gradients differ by {gdiff} (max {scale})'
    case.zero_grad()
    return rel


# ---------------------------------------------------------------------------------------------
# measurements
# ---------------------------------------------------------------------------------------------


def bench_training(case: Case, args: argparse.Namespace, threads: int) -> Row:
    sparse, dense = make_head(case.num_classes, 'sparse'), make_head(case.num_classes, 'dense')
    rel = check_paths(sparse, case)
    t_ours, t_dense, t_base = median_times([lambda: centerx_step(sparse, case), lambda: centerx_step(dense, case),
                                            lambda: baseline_step(case)], args.repeats, args.warmup, CLOCKS[args.clock])
    case.zero_grad()
    name = (f'targets + loss fwd+bwd, {case.num_objects} obj/img, C={case.num_classes} '
            f'[{threads} thr] (ms/batch)')
    return Row(name, t_ours * 1e3, t_base * 1e3, t_base / t_ours, rel,
               note=f'dense head path {format_number(t_dense * 1e3)} ms ({t_base / t_dense:.1f}x)')


@dataclass
class LimitRow:
    """The loss alone against one fused elementwise pass over the same logits (ms)."""

    name: str
    loss: float
    softplus: float
    sigmoid: float

    @property
    def ratio(self) -> float:
        return self.loss / self.softplus


def bench_limit(case: Case, args: argparse.Namespace, threads: int) -> LimitRow:
    head = make_head(case.num_classes, 'sparse')
    gt = to_instances(case.images)
    target = head.render_sparse(head.place_centers(gt, case.grid), case.grid)
    x = case.logits

    def loss() -> None:
        x.grad = None
        sparse_focal_loss(x, target).backward()

    def softplus() -> None:
        x.grad = None
        F.softplus(x).sum().backward()

    def sigmoid() -> None:
        with torch.no_grad():
            torch.sigmoid(x)

    t_loss, t_soft, t_sig = median_times([loss, softplus, sigmoid], args.repeats, args.warmup, CLOCKS[args.clock])
    x.grad = None
    shape = f'({args.batch},{case.num_classes},{args.out_size},{args.out_size})'
    return LimitRow(f'{shape}, {case.num_objects} obj/img [{threads} thr]', t_loss * 1e3, t_soft * 1e3, t_sig * 1e3)


# ---------------------------------------------------------------------------------------------
# peak memory, one path per fresh subprocess
# ---------------------------------------------------------------------------------------------

PATHS = ('sparse', 'dense', 'baseline')


def _status_kb(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    raise RuntimeError(f'/proc/self/status has no {key} line')


def memory_child(path: str, num_objects: int, num_classes: int, args: argparse.Namespace) -> Dict[str, float]:
    """In this process: one warm call of ``path``, then the peak resident memory of a second call
    above what was resident before it (MB)."""
    case = make_case(num_objects, num_classes, args)
    head = make_head(num_classes, 'dense' if path == 'dense' else 'sparse')
    fn: Callable[[], object] = (lambda: baseline_step(case)) if path == 'baseline' else (lambda: centerx_step(head, case))
    fn()
    case.zero_grad()
    gc.collect()
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # resets VmHWM to the current resident set
    before = _status_kb('VmRSS')
    fn()
    peak = _status_kb('VmHWM')
    return {'peak_mb': (peak - before) / 1024, 'inputs_mb': sum(t.numel() * 4 for t in case.leaves) / 2 ** 20}


def measure_memory(path: str, num_objects: int, num_classes: int, args: argparse.Namespace,
                   threads: int) -> Dict[str, float]:
    """Run :func:`memory_child` in a fresh interpreter; its result."""
    if not osp.exists('/proc/self/clear_refs'):
        raise RuntimeError('peak memory needs Linux /proc/self/clear_refs; run with --no-memory')
    cmd = [sys.executable, osp.abspath(__file__), '--memory-child', path, '--objects', str(num_objects),
           '--classes', str(num_classes), '--batch', str(args.batch), '--out-size', str(args.out_size),
           '--stride', str(args.stride), '--min-size', str(args.min_size), '--max-size', str(args.max_size),
           '--seed', str(args.seed)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MALLOC_MMAP_THRESHOLD_='65536', MALLOC_TRIM_THRESHOLD_='0')
    out = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f'memory subprocess for {path!r} failed ({out.returncode}):\n{out.stderr[-2000:]}')
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_table(args: argparse.Namespace, threads: int) -> List[Tuple[str, ...]]:
    cells = []
    for c in args.classes:
        n = max(args.objects)
        res = {p: measure_memory(p, n, c, args, threads) for p in PATHS}
        cells.append((f'{n} obj/img, C={c}, inputs {res["sparse"]["inputs_mb"]:.0f} MB',
                      *(f'{res[p]["peak_mb"]:.1f}' for p in PATHS),
                      f'{res["baseline"]["peak_mb"] / max(res["sparse"]["peak_mb"], 0.1):.1f}x'))
    return cells


# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> Tuple[List[Row], List[LimitRow]]:
    default_threads = torch.get_num_threads()
    rows: List[Row] = []
    limits: List[LimitRow] = []
    try:
        for threads in args.threads:
            torch.set_num_threads(threads)
            for c in args.classes:
                for n in args.objects:
                    case = make_case(n, c, args)
                    rows.append(bench_training(case, args, threads))
                    if n == max(args.objects):
                        limits.append(bench_limit(case, args, threads))
    finally:
        torch.set_num_threads(default_threads)
    return rows, limits


def verdicts(rows: Sequence[Row], limits: Sequence[LimitRow], args: argparse.Namespace) -> List[str]:
    lines = []
    for n, goal in GOALS.items():
        for r in rows:
            if r.name.startswith(f'targets + loss fwd+bwd, {n} obj/img') and '[1 thr]' in r.name:
                lines.append(f'goal: >= {goal:g}x at {n} obj/img, 1 thread: {r.ratio:.1f}x '
                             f'({"met" if r.ratio >= goal else "NOT met"}) -- {r.name}')
    for lim in limits:
        lines.append(f'goal: loss alone within {LIMIT_GOAL:g}x of one fused pass: {lim.ratio:.2f}x '
                     f'({"met" if lim.ratio <= LIMIT_GOAL else "NOT met"}) -- {lim.name}')
    return lines


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark heatmap targets + focal loss (forward and backward) '
                                     "against CenterNet's loop targets and dense loss")
    parser.add_argument('--objects', type=int, nargs='+', default=[10, 100, 500], help='objects per image')
    parser.add_argument('--classes', type=int, nargs='+', default=[80, 1], help='heatmap channels')
    parser.add_argument('--threads', type=int, nargs='+', default=[1, 2], help='torch thread counts')
    parser.add_argument('--repeats', type=int, default=5, help='timed calls per measurement (median)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed calls before timing')
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--out-size', type=int, default=128, help='output grid side (input = side * stride)')
    parser.add_argument('--stride', type=int, default=4)
    parser.add_argument('--min-size', type=float, default=2.0, help='smallest box side, input pixels')
    parser.add_argument('--max-size', type=float, default=120.0, help='largest box side, input pixels')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--clock', choices=sorted(CLOCKS), default='wall',
                        help="'cpu': CPU time of the process (steadier on a shared machine; with 2 threads "
                             'it adds both threads, so compare only rows of one thread count)')
    parser.add_argument('--no-memory', action='store_true', help='skip the peak memory subprocesses')
    parser.add_argument('--memory-child', choices=PATHS, help=argparse.SUPPRESS)
    parser.add_argument('--quick', action='store_true', help='tiny sizes for a smoke test (a second or two)')
    args = parser.parse_args(argv)
    if args.quick:
        args.objects = sorted({min(n, 20) for n in args.objects})
        args.classes = sorted({min(c, 4) for c in args.classes})
        args.repeats, args.warmup = 1, 0
        args.batch, args.out_size, args.max_size = 2, 32, min(args.max_size, 40.0)
        args.threads = [1]
        args.no_memory = True
    return args


def main(argv: Optional[Sequence[str]] = None):
    args = parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.objects[0], args.classes[0], args)))
        return None
    t0 = time.perf_counter()
    print(f'centerx heatmap targets + loss benchmark: torch {torch.__version__}, numpy {np.__version__}; '
          f'batch {args.batch}, {args.out_size}x{args.out_size} grid (stride {args.stride}), classes {args.classes}, '
          f'box sides {args.min_size:g}-{args.max_size:g}px, seed {args.seed}; median of {args.repeats} '
          f'interleaved calls after {args.warmup} warm-up, {args.clock} clock; load average {os.getloadavg()[0]:.1f}')
    print('baseline = per-object loop targets + dense focal loss + gathered L1 (CenterNet ctdet); '
          'ratio = baseline time / centerx time; diff = relative heatmap-loss difference\n')
    rows, limits = run(args)
    print_table(rows)
    print('\nloss alone (sparse_focal_loss fwd+bwd) vs one fused elementwise pass over the logits:')
    print(format_table(('logits', 'loss ms', 'softplus fwd+bwd ms', 'sigmoid ms', 'loss / softplus'),
                       [(r.name, format_number(r.loss), format_number(r.softplus), format_number(r.sigmoid),
                         f'{r.ratio:.2f}x') for r in limits], '<>>>>'))
    if not args.no_memory:
        threads = args.threads[0]
        print(f'\npeak memory above the inputs of one call (MB, fresh process, {threads} thread):')
        print(format_table(('case', 'centerx sparse', 'centerx dense', 'baseline', 'baseline / sparse'),
                           memory_table(args, threads), '<>>>>'))
    print()
    for line in verdicts(rows, limits, args):
        print(line)
    print(f'\nheatmap losses and gradients equal within {LOSS_TOL:g} (relative). '
          f'Total time {time.perf_counter() - t0:.1f} s')
    return rows, limits


if __name__ == '__main__':
    main()
