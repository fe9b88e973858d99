"""Peak memory of target building at 500 objects per image: centerx against the per-object loop.

``python tools/benchmark_memory.py [--objects 500] [--batch 16] [--classes 80] [--out-size 128] [--quick]``

Each measurement runs once in a forked child process (Linux): the child's peak resident set size
(``ru_maxrss``) starts at its current size when it is forked, so the peak after one call less the
value before it is the memory that call needed at its peak (torch's CPU allocator returns large
blocks to the system, so earlier calls do not hide it). centerx builds the targets as
``CenterHead.loss`` does (:func:`benchmark_common.head_targets`: ``place_centers``, ``render``
with the ignore mask, ``encode``); the baseline is the CenterNet-style loop of
``benchmark_encode.py`` / ``benchmark_rotated.py``. The check: both produce the same targets
(the encode benchmarks' checks), and the dense (B, C, H, W) float32 heatmap's size is printed
beside them (the least any dense target needs).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os.path as osp
import resource
import sys
import time
from typing import Callable, List, Optional, Sequence

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import benchmark_encode as be  # noqa: E402
import benchmark_rotated as br  # noqa: E402
from benchmark_common import Row, report, target_head, torch_threads  # noqa: E402

from centerx.task import Grid  # noqa: E402


def _child(fn: Callable[[], object], conn) -> None:
    # a forked child must not enter the parent's OpenMP pool (libgomp is not fork-safe: its
    # first parallel region deadlocks when the parent had run one); one thread runs inline
    torch.set_num_threads(1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fn()
    conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    conn.close()


def peak_memory_mb(fn: Callable[[], object]) -> float:
    """Peak extra resident memory (MB) of one call of ``fn``, measured in a forked child."""
    ctx = mp.get_context('fork')
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(fn, child))
    proc.start()
    child.close()
    try:
        kb = parent.recv()
    except EOFError as err:
        raise RuntimeError(f'the memory measurement child died (exit code {proc.exitcode})') from err
    finally:
        proc.join()
    return kb / 1024.0


def bench_memory(args: argparse.Namespace) -> List[Row]:
    """Box2D (CornerNet kernel, ``args.classes`` classes) and rotated (rotated kernel, 15 classes)."""
    stride, n, B = 4, args.objects, args.batch
    grid = Grid(batch_size=B, shape=(args.out_size, args.out_size), stride=stride,
                input_shape=(args.out_size * stride, args.out_size * stride))
    rows = []
    images = be.make_images(B, n, args.out_size * stride, args.classes, 2.0, 120.0, seed=n)
    gt = be.to_instances(images)
    head = target_head(be.Box2DTask(), be.CornerNetGaussian(0.7), args.classes)
    heat, targets, centers = be.centerx_encode(head, gt, grid)
    be.check_encoding(images, heat, targets, centers, grid,
                      be.baseline_encode(images, args.classes, grid.shape, stride, n))
    rows.append(_row(f'box2d, {args.classes} classes', B, n, args.classes, grid,
                     lambda: be.centerx_encode(head, gt, grid),
                     lambda: be.baseline_encode(images, args.classes, grid.shape, stride, n)))
    classes = 15
    images_r = br.make_images(B, n, args.out_size * stride, classes, 4.0, 120.0, seed=n)
    gt_r = br.to_instances(images_r)
    head_r = target_head(br.RotatedBoxTask(), br.KERNELS['rotated'](), classes)
    heat, targets, centers = br.centerx_encode(head_r, gt_r, grid)
    br.check_encoding(images_r, heat, targets, centers, grid,
                      br.baseline_encode(images_r, classes, grid.shape, stride, n, 'rotated'))
    rows.append(_row(f'rotated, {classes} classes', B, n, classes, grid,
                     lambda: br.centerx_encode(head_r, gt_r, grid),
                     lambda: br.baseline_encode(images_r, classes, grid.shape, stride, n, 'rotated')))
    return rows


def _row(label: str, batch: int, objects: int, classes: int, grid: Grid, ours: Callable, theirs: Callable) -> Row:
    dense = batch * classes * grid.shape[0] * grid.shape[1] * 4 / 2 ** 20
    m_ours, m_theirs = peak_memory_mb(ours), peak_memory_mb(theirs)
    return Row(f'peak memory, target building {label}, {objects} obj/img, B={batch} (MB)', m_ours, m_theirs,
               m_theirs / max(m_ours, 1e-9), 0.0, f'targets identical; dense heatmap {dense:.0f} MB')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Peak memory of target building, centerx vs the per-object loop')
    parser.add_argument('--objects', type=int, default=500)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--out-size', type=int, default=128)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--quick', action='store_true', help='batch 4')
    args = parser.parse_args(argv)
    if args.quick:
        args.batch = min(args.batch, 4)
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[Row]:
    args = parse_args(argv)
    t0 = time.perf_counter()
    with torch_threads(args.threads):
        rows = bench_memory(args)
    report('peak memory of one target-building call (forked child, ru_maxrss); ratio = baseline / centerx', rows, t0)
    return rows


if __name__ == '__main__':
    main()
