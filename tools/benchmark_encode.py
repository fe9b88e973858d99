"""Benchmark centerx's ground-truth encoding and peak decoding against per-object baselines.

``python tools/benchmark_encode.py [--objects 10 100 500] [--repeats N] [--batch B]
[--out-size 128] [--classes 80] [--threads 1 2] [--profile] [--quick]``

Two measurements, both paths timed in the same run on the same seeded data:

1. GT encoding throughput (images/s) for a batch of images with N random boxes each.

   - centerx: the training path, vectorized over the concatenated batch:
     ``concat_instances``-style InstanceData -> a ``CenterHead`` holding ``Box2DTask`` with the
     ``CornerNetGaussian`` kernel: its ``place_centers`` and ``render_sparse`` (the sparse target and
     ignore cells the default ``heatmap_loss='sparse'`` of ``CenterHead.loss`` trains on) ->
     ``Box2DTask.encode``.
   - baseline: CenterNet's ``ctdet`` recipe, written here as a per-object Python loop
     (``gaussian_radius`` / ``gaussian2D`` / ``draw_umich_gaussian`` in numpy, plus the
     ``wh`` / ``reg`` / ``ind`` / ``reg_mask`` arrays).

   The script asserts that both produce the same heatmap (the sparse target made dense, max
   abs diff <= 1e-6) and identical size / offset / index targets. The heatmap loss these
   targets feed is measured by tools/benchmark_heatmap_loss.py.

2. Decode latency (ms per call) for a (B, C, H, W) heatmap logit map plus (B, 2, H, W)
   size and offset maps: sigmoid + ``extract_peaks`` + two ``gather_at_peaks`` against a
   straightforward baseline (max-pool NMS, top-K over C*H*W, index arithmetic, gather
   by a Python loop over the batch). The script asserts both pick the same peaks.

Timing: ``time.perf_counter``, warm-up calls, then the median of ``--repeats`` calls, the
centerx and baseline calls interleaved so that load from other processes hits both alike.
Torch runs with the thread counts given by ``--threads`` (default: 1, for a fair
comparison with the single-threaded numpy baseline, and torch's default count); each
row is labelled with its count. ``--profile`` adds a stage breakdown and a torch
profiler table of the centerx encoding at the largest object count.

The dense ``render_gaussians`` (``--profile`` times it too) spends most of its time on the
zero-filled (B, C, H, W) heatmap (page faults of a fresh ~84 MB buffer; ``THP_MEM_ALLOC_ENABLE=1``
changes that cost a lot, so the header prints its value); the sparse target has none.
"""
from __future__ import annotations

import argparse
import math
import os
import os.path as osp
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from benchmark_common import (as_dense, Row, baseline_gaussian_radius, concat_ground_truth, head_targets,  # noqa: E402
                              median_time, median_times, print_table, target_head)

from centerx.decode.peaks import extract_peaks, gather_at_peaks  # noqa: E402
from centerx.heatmap import CornerNetGaussian, KernelShape, SparseHeatmap, render_gaussians, render_sparse  # noqa: E402
from centerx.models import CenterHead  # noqa: E402
from centerx.task import Centers, Grid  # noqa: E402
from centerx_tasks.box2d.task import Box2DTask  # noqa: E402

HEATMAP_TOL = 1e-6
ENCODE_GOAL = 20.0

# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


@dataclass
class ImageGT:
    """One image's ground truth: (N, 4) float32 xyxy boxes in input pixels, (N,) int64 labels."""

    bboxes: np.ndarray
    labels: np.ndarray


def make_images(num_images: int, num_objects: int, input_size: int, num_classes: int,
                min_size: float, max_size: float, seed: int) -> List[ImageGT]:
    """Random boxes: widths and heights log-uniform in [min_size, max_size] pixels, centers
    uniform over the input (so boxes near the border are partly outside and get clipped)."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(num_images):
        wh = np.exp(rng.uniform(np.log(min_size), np.log(max_size), size=(num_objects, 2)))
        ctr = rng.uniform(0, input_size, size=(num_objects, 2))
        boxes = np.concatenate([ctr - wh / 2, ctr + wh / 2], axis=1).astype(np.float32)
        labels = rng.integers(0, num_classes, size=num_objects).astype(np.int64)
        images.append(ImageGT(boxes, labels))
    return images


def to_instances(images: Sequence[ImageGT]) -> InstanceData:
    """The concatenated ground truth a head receives (``concat_instances`` of per-image data)."""
    return concat_ground_truth(images, 'bboxes')


# ---------------------------------------------------------------------------------------------
# centerx encoding
# ---------------------------------------------------------------------------------------------


def centerx_encode(head: CenterHead, gt: InstanceData, grid: Grid
                   ) -> Tuple[SparseHeatmap | torch.Tensor, Dict[str, torch.Tensor], Centers]:
    """Heatmap and Box2D targets of a batch, the way ``CenterHead.loss`` builds them (the head's own
    ``place_centers`` and sparse or dense render, the task's ``encode``: :func:`benchmark_common.head_targets`)."""
    heat, targets, centers = head_targets(head, gt, grid)
    return heat, targets[head.center_task], centers


# ---------------------------------------------------------------------------------------------
# baseline encoding: CenterNet ctdet, one object at a time
# ---------------------------------------------------------------------------------------------



def baseline_gaussian2d(shape: Tuple[int, int], sigma: float) -> np.ndarray:
    """Dense (h, w) Gaussian centred in the window, tiny values zeroed."""
    m, n = [(s - 1.0) / 2.0 for s in shape]
    y, x = np.ogrid[-m:m + 1, -n:n + 1]
    g = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    g[g < np.finfo(g.dtype).eps * g.max()] = 0
    return g


def baseline_draw_umich_gaussian(heatmap: np.ndarray, center: Sequence[int], radius: int) -> None:
    """Element-wise max of a (2r+1)^2 Gaussian (sigma = (2r+1)/6) into ``heatmap`` at ``center``."""
    diameter = 2 * radius + 1
    gaussian = baseline_gaussian2d((diameter, diameter), sigma=diameter / 6)
    x, y = int(center[0]), int(center[1])
    height, width = heatmap.shape[0:2]
    left, right = min(x, radius), min(width - x, radius + 1)
    top, bottom = min(y, radius), min(height - y, radius + 1)
    masked_heatmap = heatmap[y - top:y + bottom, x - left:x + right]
    masked_gaussian = gaussian[radius - top:radius + bottom, radius - left:radius + right]
    if min(masked_gaussian.shape) > 0 and min(masked_heatmap.shape) > 0:
        np.maximum(masked_heatmap, masked_gaussian, out=masked_heatmap)


def baseline_encode(images: Sequence[ImageGT], num_classes: int, out_size: Tuple[int, int],
                    stride: int, max_objs: int) -> Dict[str, np.ndarray]:
    """CenterNet ``ctdet`` targets of a batch, object by object.

    The batch arrays are allocated once and filled in place (no per-image arrays and
    no collate copy), which is cheaper than CenterNet's data loader, so the ratio the
    script reports is conservative.
    """
    H, W = out_size
    B = len(images)
    hm = np.zeros((B, num_classes, H, W), dtype=np.float32)
    wh = np.zeros((B, max_objs, 2), dtype=np.float32)
    reg = np.zeros((B, max_objs, 2), dtype=np.float32)
    ind = np.zeros((B, max_objs), dtype=np.int64)
    reg_mask = np.zeros((B, max_objs), dtype=np.uint8)
    for b, img in enumerate(images):
        for k in range(min(len(img.labels), max_objs)):
            bbox = img.bboxes[k] / np.float32(stride)
            cls_id = int(img.labels[k])
            # centerx convention: clip to the grid extent [0, W] x [0, H] (the visible part).
            # The original clips to [0, W - 1] x [0, H - 1] (output_w - 1, output_h - 1).
            bbox[[0, 2]] = np.clip(bbox[[0, 2]], 0, W)
            bbox[[1, 3]] = np.clip(bbox[[1, 3]], 0, H)
            h, w = bbox[3] - bbox[1], bbox[2] - bbox[0]
            if h > 0 and w > 0:
                radius = baseline_gaussian_radius((math.ceil(h), math.ceil(w)))
                radius = max(0, int(radius))
                ct = np.array([(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2], dtype=np.float32)
                ct_int = ct.astype(np.int32)
                baseline_draw_umich_gaussian(hm[b, cls_id], ct_int, radius)
                wh[b, k] = 1. * w, 1. * h
                ind[b, k] = ct_int[1] * W + ct_int[0]
                reg[b, k] = ct - ct_int
                reg_mask[b, k] = 1
    return {'hm': hm, 'wh': wh, 'reg': reg, 'ind': ind, 'reg_mask': reg_mask}


def check_encoding(images: Sequence[ImageGT], heat: SparseHeatmap | torch.Tensor, targets: Dict[str, torch.Tensor],
                   centers: Centers, grid: Grid, base: Dict[str, np.ndarray]) -> float:
    """Assert both encodings agree; returns the max abs heatmap difference."""
    heat = as_dense(heat)
    diff = float((heat - torch.from_numpy(base['hm'])).abs().max())
    assert diff <= HEATMAP_TOL, f'heatmaps differ by {diff}'
    counts = [len(img.labels) for img in images]
    # the baseline's per-image slots 0..n-1, laid out like the concatenated batch
    flat = {key: np.concatenate([base[key][b, :n] for b, n in enumerate(counts)])
            for key in ('wh', 'reg', 'ind', 'reg_mask')}
    valid = centers.valid.numpy()
    assert np.array_equal(flat['reg_mask'].astype(bool), valid), 'valid masks differ'
    assert np.array_equal(targets['weight'].numpy(), valid.astype(np.float32)), 'weights differ'
    assert np.array_equal(flat['wh'][valid], targets['size'].numpy()[valid]), 'size targets differ'
    assert np.array_equal(flat['reg'][valid], targets['offset'].numpy()[valid]), 'offset targets differ'
    assert np.array_equal(flat['ind'][valid], centers.cell_index(grid).numpy()[valid]), 'indices differ'
    return diff


# ---------------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------------


def centerx_decode(logits: torch.Tensor, size: torch.Tensor, offset: torch.Tensor, k: int):
    """Box2D-style decode front end: sigmoid, peaks, and the attribute maps at the peaks."""
    peaks = extract_peaks(logits.sigmoid(), k)
    return peaks.scores, peaks.labels, peaks.ys, peaks.xs, gather_at_peaks(size, peaks), \
        gather_at_peaks(offset, peaks)


def baseline_decode(logits: torch.Tensor, size: torch.Tensor, offset: torch.Tensor, k: int):
    """The same decode written plainly, with the gathers done image by image."""
    B, C, H, W = logits.shape
    heat = torch.sigmoid(logits)
    hmax = F.max_pool2d(heat, (3, 3), stride=1, padding=1)
    keep = (hmax == heat).float()
    heat = heat * keep
    scores, inds = torch.topk(heat.view(B, -1), min(k, C * H * W))
    labels = inds // (H * W)
    cell = inds % (H * W)
    ys = cell // W
    xs = cell % W
    sizes, offsets = [], []
    for b in range(B):
        sizes.append(size[b][:, ys[b], xs[b]].t())
        offsets.append(offset[b][:, ys[b], xs[b]].t())
    return scores, labels, ys, xs, torch.stack(sizes), torch.stack(offsets)


def make_decode_inputs(batch: int, classes: int, out_size: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, classes, out_size, out_size, generator=g) * 2 - 4
    size = torch.rand(batch, 2, out_size, out_size, generator=g) * 30
    offset = torch.rand(batch, 2, out_size, out_size, generator=g)
    return logits, size, offset


def check_decoding(ours, theirs) -> float:
    """Assert both decoders pick the same peaks; returns the max abs score difference."""
    diff = float((ours[0] - theirs[0]).abs().max())
    assert diff == 0.0, f'peak scores differ by {diff}'
    for name, a, b in zip(('labels', 'ys', 'xs', 'size', 'offset'), ours[1:], theirs[1:]):
        assert torch.equal(a, b), f'decoded {name} differ'
    return diff


# ---------------------------------------------------------------------------------------------
# timing and report
# ---------------------------------------------------------------------------------------------


def bench_encode(num_objects: int, args: argparse.Namespace, threads: int) -> Row:
    stride = args.stride
    grid = Grid(batch_size=args.batch, shape=(args.out_size, args.out_size), stride=stride,
                input_shape=(args.out_size * stride, args.out_size * stride))
    images = make_images(args.batch, num_objects, args.out_size * stride, args.classes,
                         args.min_size, args.max_size, seed=args.seed + num_objects)
    gt = to_instances(images)
    head = target_head(Box2DTask(), CornerNetGaussian(0.7), args.classes)

    heat, targets, centers = centerx_encode(head, gt, grid)
    base = baseline_encode(images, args.classes, grid.shape, stride, num_objects)
    diff = check_encoding(images, heat, targets, centers, grid, base)

    t_ours, t_base = median_times([
        lambda: centerx_encode(head, gt, grid),
        lambda: baseline_encode(images, args.classes, grid.shape, stride, num_objects),
    ], args.repeats, args.warmup)
    return Row(f'encode {num_objects} obj/img, B={args.batch} [{threads} thr] (img/s)',
               args.batch / t_ours, args.batch / t_base, t_base / t_ours, diff)


def bench_decode(args: argparse.Namespace, threads: int) -> Row:
    logits, size, offset = make_decode_inputs(args.decode_batch, args.classes, args.out_size, args.seed)
    k = args.topk
    diff = check_decoding(centerx_decode(logits, size, offset, k), baseline_decode(logits, size, offset, k))
    t_ours, t_base = median_times([lambda: centerx_decode(logits, size, offset, k),
                                   lambda: baseline_decode(logits, size, offset, k)],
                                  args.repeats, args.warmup)
    shape = f'({args.decode_batch},{args.classes},{args.out_size},{args.out_size})'
    return Row(f'decode {shape} K={k} [{threads} thr] (ms/call)',
               t_ours * 1e3, t_base * 1e3, t_base / t_ours, diff)


def profile_encode(num_objects: int, args: argparse.Namespace) -> None:
    """Where the centerx encoding spends its time: stages, then the torch op profile."""
    stride = args.stride
    grid = Grid(batch_size=args.batch, shape=(args.out_size, args.out_size), stride=stride,
                input_shape=(args.out_size * stride, args.out_size * stride))
    images = make_images(args.batch, num_objects, args.out_size * stride, args.classes,
                         args.min_size, args.max_size, seed=args.seed + num_objects)
    gt = to_instances(images)
    task, kernel = Box2DTask(), CornerNetGaussian(0.7)
    head = target_head(task, kernel, args.classes)
    H, W = grid.shape
    shape4 = (grid.batch_size, args.classes, H, W)

    centers = task.centers(gt, grid)
    ks = kernel(centers.sizes)
    xy_int = centers.xy_int
    xy_int = torch.stack([xy_int[:, 0].clamp(0, W - 1), xy_int[:, 1].clamp(0, H - 1)], 1)
    m = centers.valid
    args_r = (centers.batch_idx[m], centers.labels[m], xy_int[m], KernelShape(ks.radius[m], ks.inv_cov[m]))
    radius = args_r[3].radius.max(dim=1).values
    window = torch.where(radius <= 0, torch.zeros_like(radius),
                         2 ** torch.ceil(torch.log2(radius.clamp(min=1).float())).long())
    used = ((2 * radius + 1) ** 2).sum().item()
    evaluated = ((2 * window + 1) ** 2).sum().item()

    stages = {
        'concat_instances (not in the encode row)': lambda: to_instances(images),
        'Box2DTask.centers': lambda: task.centers(gt, grid),
        'CornerNetGaussian (kernel)': lambda: kernel(centers.sizes),
        'xy_int + clamp + valid masking': lambda: (torch.stack([centers.xy_int[:, 0].clamp(0, W - 1),
                                                                centers.xy_int[:, 1].clamp(0, H - 1)], 1)[m],
                                                   ks.radius[m], ks.inv_cov[m]),
        'render_sparse (in the encode row)': lambda: render_sparse(shape4, *args_r),
        'render_gaussians (dense, total)': lambda: render_gaussians(shape4, *args_r),
        '  of which torch.zeros(B,C,H,W)': lambda: torch.zeros(shape4),
        'Box2DTask.encode': lambda: task.encode(gt, centers, grid),
        'full centerx encode': lambda: centerx_encode(head, gt, grid),
    }
    print(f'\nProfile: centerx encode, {num_objects} obj/img, B={args.batch}, '
          f'{torch.get_num_threads()} thread(s); {int(m.sum())} valid objects')
    print(f'  window cells: {used:,} inside the objects\' radii, {evaluated:,} evaluated '
          f'by the power-of-two buckets ({evaluated / max(used, 1):.2f}x)')
    for name, fn in stages.items():
        t = median_time(fn, args.repeats, args.warmup)
        print(f'  {name:<44} {t * 1e3:8.2f} ms')
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            centerx_encode(head, gt, grid)
    print('\n  torch profiler, 3 calls of the full centerx encode (self CPU time):')
    print(prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=15))


def run(args: argparse.Namespace) -> List[Row]:
    default_threads = torch.get_num_threads()
    thread_counts = args.threads or sorted({1, default_threads})
    rows: List[Row] = []
    try:
        for threads in thread_counts:
            torch.set_num_threads(threads)
            for n in args.objects:
                rows.append(bench_encode(n, args, threads))
            rows.append(bench_decode(args, threads))
        if args.profile:
            torch.set_num_threads(thread_counts[0])
            profile_encode(max(args.objects), args)
    finally:
        torch.set_num_threads(default_threads)
    return rows


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark centerx GT encoding and peak decoding '
                                     'against per-object CenterNet-style baselines')
    parser.add_argument('--objects', type=int, nargs='+', default=[10, 100, 500],
                        help='objects per image (one encode row each)')
    parser.add_argument('--repeats', type=int, default=7, help='timed calls per measurement (median)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed calls before timing')
    parser.add_argument('--batch', type=int, default=16, help='images per encoded batch')
    parser.add_argument('--decode-batch', type=int, default=8, help='images per decoded heatmap')
    parser.add_argument('--out-size', type=int, default=128, help='output grid side (input = side * stride)')
    parser.add_argument('--stride', type=int, default=4)
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--topk', type=int, default=100, help='peaks per image in decode')
    parser.add_argument('--min-size', type=float, default=2.0, help='smallest box side, input pixels')
    parser.add_argument('--max-size', type=float, default=120.0, help='largest box side, input pixels')
    parser.add_argument('--threads', type=int, nargs='+', default=None,
                        help='torch thread counts to measure (default: 1 and torch\'s default)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--profile', action='store_true',
                        help='also break down the centerx encode at the largest object count')
    parser.add_argument('--quick', action='store_true', help='tiny sizes for a smoke test (a second or two)')
    args = parser.parse_args(argv)
    if args.quick:
        args.objects = sorted({min(n, 20) for n in args.objects})
        args.repeats, args.warmup = 1, 0
        args.batch, args.decode_batch = 2, 2
        args.out_size, args.classes, args.topk = 32, 4, 10
        args.max_size = min(args.max_size, 40.0)
        args.threads = args.threads or [1]
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[Row]:
    args = parse_args(argv)
    t0 = time.perf_counter()
    print(f'centerx encode/decode benchmark: torch {torch.__version__}, numpy {np.__version__}, '
          f'default torch threads {torch.get_num_threads()}; input {args.out_size * args.stride}px, '
          f'stride {args.stride} -> {args.out_size}x{args.out_size} grid, {args.classes} classes, '
          f'box sides {args.min_size:g}-{args.max_size:g}px (log-uniform), seed {args.seed}; '
          f'median of {args.repeats} interleaved calls after {args.warmup} warm-up; '
          f'THP_MEM_ALLOC_ENABLE={os.environ.get("THP_MEM_ALLOC_ENABLE", "unset")}')
    print('baseline = per-object Python/numpy loop (numpy is single-threaded); '
          'ratio = baseline time / centerx time\n')
    rows = run(args)
    print_table(rows)
    big = [r for r in rows if r.name.startswith(f'encode {max(args.objects)} ')]
    if big and max(args.objects) >= 500:
        best = max(r.ratio for r in big)
        verdict = 'met' if best >= ENCODE_GOAL else 'NOT met'
        print(f'\ngoal: encode >= {ENCODE_GOAL:g}x at {max(args.objects)} obj/img -> {verdict} '
              f'(best {best:.1f}x)')
    print(f'\nheatmap check: max abs diff <= {HEATMAP_TOL:g}; size/offset/index targets and decoded '
          f'peaks identical. Total time {time.perf_counter() - t0:.1f} s')
    return rows


if __name__ == '__main__':
    main()
