"""Benchmark the rotated-box (DOTA) task: GT encoding and DOTA evaluation against per-object baselines.

``python tools/benchmark_rotated.py [--objects 500] [--repeats N] [--batch B] [--out-size 128]
[--classes 15] [--threads 1 2] [--eval-images 20] [--eval-dets 500] [--eval-gts 50] [--quick]``

Two measurements, both paths timed in the same run on the same seeded data:

1. Rotated GT encoding throughput (images/s) for a batch of images with N random rotated
   rectangles each (given as 4-point polygons, DOTA's form), for two kernels.

   - centerx: the training path, vectorized over the concatenated batch:
     ``concat_instances``-style InstanceData with ``polygons`` -> ``RotatedBoxTask.centers``
     (min-area rectangle, long-edge form, visibility) on a ``CenterHead`` with the kernel
     (``RotatedEllipticalGaussian`` or ``CornerNetGaussian``): the head's ``place_centers`` and
     ``render`` (heatmap and ignore mask, the code ``CenterHead.loss`` runs) ->
     ``RotatedBoxTask.encode``.
   - baseline: the same targets object by object in a Python loop: ``cv2.minAreaRect``,
     long-edge canonicalization, the visibility rule, a Gaussian drawn into the heatmap with
     numpy (CenterNet's ``draw_umich_gaussian`` for the CornerNet kernel; the same rotated
     Gaussian formula, window and truncation for the rotated kernel), and the
     ``size`` / ``angle`` / ``offset`` / ``ind`` / ``mask`` arrays.

   The script asserts that both produce the same heatmap (max abs diff <= 1e-5: float32
   against float64 arithmetic) and the same valid mask and peak cells, and size / angle /
   offset targets within 1e-3.

2. DOTA task-1 evaluation time (ms per call) for ``--eval-images`` images with
   ``--eval-dets`` detections and ~``--eval-gts`` ground truths each (15 classes, 5%
   difficult): detections are jittered copies of the GT (IoUs spread around the 0.5
   threshold, duplicates included) plus random boxes. ``centerx_tasks.rotated.dota_eval.eval_dota``
   (vectorized) against ``centerx_tasks.rotated.dota_eval_reference.eval_dota_reference`` (the
   official script's per-detection loop with one shapely IoU at a time). The script asserts
   identical per-class APs, recalls, precisions and counts.

Timing: ``time.perf_counter``, warm-up calls, then the median of ``--repeats`` calls, the
centerx and baseline calls interleaved so that load from other processes hits both alike.
Torch runs with the thread counts given by ``--threads`` (default: 1, for a fair
comparison with the single-threaded numpy baseline, and torch's default count); each
encode row is labelled with its count. The evaluation is numpy/shapely only.
"""
from __future__ import annotations

import argparse
import math
import os.path as osp
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from benchmark_common import (as_dense, Row, baseline_gaussian_radius, concat_ground_truth, head_targets,  # noqa: E402
                              median_times, print_table, target_head)

from centerx.heatmap import CornerNetGaussian, RotatedEllipticalGaussian  # noqa: E402
from centerx.models import CenterHead  # noqa: E402
from centerx.task import Centers, Grid  # noqa: E402
from centerx_tasks.rotated.dota_eval import DotaEvalResult, eval_dota  # noqa: E402
from centerx_tasks.rotated.dota_eval_reference import eval_dota_reference  # noqa: E402
from centerx_tasks.rotated.geometry import rbox_to_poly_np  # noqa: E402
from centerx_tasks.rotated.task import RotatedBoxTask  # noqa: E402

HEATMAP_TOL = 1e-5
TARGET_TOL = 1e-3
AP_TOL = 1e-12
KERNELS = {'rotated': lambda: RotatedEllipticalGaussian(0.54), 'cornernet': lambda: CornerNetGaussian(0.7)}

# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


@dataclass
class ImageGT:
    """One image's ground truth: (N, 8) float32 quads in input pixels, (N,) int64 labels."""

    polygons: np.ndarray
    labels: np.ndarray


def random_rboxes(rng: np.random.Generator, n: int, extent: Tuple[float, float], min_size: float,
                  max_size: float, margin: float = 0.0, max_aspect: float = 1.0) -> np.ndarray:
    """(n, 5) float64 rboxes: long side log-uniform in [min_size, max_size], aspect ratio
    (short / long) uniform in [0.15, max_aspect), angle uniform, centers uniform over the extent
    widened by ``margin`` on each side (so some centers fall outside)."""
    long_side = np.exp(rng.uniform(np.log(min_size), np.log(max_size), n))
    short_side = long_side * rng.uniform(0.15, max_aspect, n)
    cx = rng.uniform(-margin * extent[0], (1 + margin) * extent[0], n)
    cy = rng.uniform(-margin * extent[1], (1 + margin) * extent[1], n)
    theta = rng.uniform(-math.pi, math.pi, n)
    return np.stack([cx, cy, long_side, short_side, theta], axis=1)


def jittered_quads(rng: np.random.Generator, rboxes: np.ndarray, jitter: float = 0.05) -> np.ndarray:
    """Corners of the rboxes, each moved by up to ``jitter`` x the short side (annotator noise)."""
    polys = rbox_to_poly_np(rboxes)
    noise = rng.uniform(-1, 1, polys.shape) * (jitter * rboxes[:, 3:4])
    return polys + noise


def make_images(num_images: int, num_objects: int, input_size: int, num_classes: int,
                min_size: float, max_size: float, seed: int) -> List[ImageGT]:
    """Random rotated rectangles as 4-point polygons; about 9% of the centers fall outside the input.

    Exact rectangles with aspect ratio <= 0.9, so that the min-area rectangle is unique and
    both paths must agree. (A general quad can have two different rectangles of exactly the
    same minimum area: whenever three of its vertices determine both, each has twice the
    triangle's area. Which one a fit returns then depends on float rounding: 87 of the 600
    integer quads of the DOTA fixtures are such ties.)
    """
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(num_images):
        rb = random_rboxes(rng, num_objects, (input_size, input_size), min_size, max_size, margin=0.025,
                           max_aspect=0.9)
        polys = rbox_to_poly_np(rb).astype(np.float32)
        labels = rng.integers(0, num_classes, size=num_objects).astype(np.int64)
        images.append(ImageGT(polys, labels))
    return images


def to_instances(images: Sequence[ImageGT]) -> InstanceData:
    """The concatenated ground truth a head receives (``concat_instances`` of per-image data)."""
    return concat_ground_truth(images, 'polygons')


# ---------------------------------------------------------------------------------------------
# centerx encoding
# ---------------------------------------------------------------------------------------------


def centerx_encode(head: CenterHead, gt: InstanceData, grid: Grid
                   ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor], Centers]:
    """Heatmap and rotated-box targets of a batch, the way ``CenterHead.loss`` builds them (the head's own
    ``place_centers`` and ``render``, the task's ``encode``: :func:`benchmark_common.head_targets`)."""
    heat, targets, centers = head_targets(head, gt, grid)
    return heat, targets[head.center_task], centers


# ---------------------------------------------------------------------------------------------
# baseline encoding: one object at a time
# ---------------------------------------------------------------------------------------------


def baseline_min_area_rect(quad: np.ndarray) -> Tuple[float, float, float, float, float]:
    """``cv2.minAreaRect`` in the canonical long-edge form ``(cx, cy, w, h, theta)``, ``w >= h``,
    ``theta`` in ``[-pi/2, pi/2)`` (angle of the ``w`` side from +x towards +y)."""
    (cx, cy), (w, h), angle = cv2.minAreaRect(quad.reshape(4, 2))
    theta = math.radians(angle)
    if h > w:
        w, h, theta = h, w, theta + math.pi / 2
    theta = (theta + math.pi / 2) % math.pi - math.pi / 2
    return cx, cy, w, h, theta


def baseline_draw_gaussian(heatmap: np.ndarray, center: Sequence[int], rx: int, ry: int,
                           a: float, b: float, c: float) -> None:
    """Element-wise max of ``exp(-(a dx^2 + 2 b dx dy + c dy^2) / 2)`` over the window
    ``|dx| <= rx, |dy| <= ry`` around ``center`` (clipped at the heatmap border)."""
    x, y = int(center[0]), int(center[1])
    height, width = heatmap.shape[0:2]
    left, right = min(x, rx), min(width - x, rx + 1)
    top, bottom = min(y, ry), min(height - y, ry + 1)
    dy, dx = np.ogrid[-top:bottom, -left:right]
    gaussian = np.exp(-0.5 * (a * dx * dx + 2 * b * dx * dy + c * dy * dy))
    masked = heatmap[y - top:y + bottom, x - left:x + right]
    np.maximum(masked, gaussian, out=masked)


def baseline_draw_umich_gaussian(heatmap: np.ndarray, center: Sequence[int], radius: int) -> None:
    """CenterNet's disc: sigma = (2r + 1) / 6 over a (2r+1)^2 window."""
    sigma = (2 * radius + 1) / 6
    inv = 1.0 / (sigma * sigma)
    baseline_draw_gaussian(heatmap, center, radius, radius, inv, 0.0, inv)


def baseline_draw_rotated_gaussian(heatmap: np.ndarray, center: Sequence[int], w: float, h: float,
                                   theta: float, alpha: float = 0.54) -> None:
    """TTFNet's per-axis sigmas along the box axes, rotated by ``theta``; window = the
    axis-aligned bound of the rotated half-extents (``RotatedEllipticalGaussian``'s rule)."""
    half_w, half_h = math.floor(w * alpha / 2), math.floor(h * alpha / 2)
    iu, iv = (6.0 / (2 * half_w + 1)) ** 2, (6.0 / (2 * half_h + 1)) ** 2
    cos, sin = math.cos(theta), math.sin(theta)
    a = iu * cos * cos + iv * sin * sin
    b = (iu - iv) * cos * sin
    c = iu * sin * sin + iv * cos * cos
    rx = round(half_w * abs(cos) + half_h * abs(sin))
    ry = round(half_w * abs(sin) + half_h * abs(cos))
    baseline_draw_gaussian(heatmap, center, rx, ry, a, b, c)


def baseline_encode(images: Sequence[ImageGT], num_classes: int, out_size: Tuple[int, int],
                    stride: int, max_objs: int, kernel: str) -> Dict[str, np.ndarray]:
    """Rotated-box targets of a batch, object by object (batch arrays allocated once)."""
    H, W = out_size
    B = len(images)
    hm = np.zeros((B, num_classes, H, W), dtype=np.float32)
    size = np.zeros((B, max_objs, 2), dtype=np.float32)
    angle = np.zeros((B, max_objs, 2), dtype=np.float32)
    reg = np.zeros((B, max_objs, 2), dtype=np.float32)
    ind = np.zeros((B, max_objs), dtype=np.int64)
    mask = np.zeros((B, max_objs), dtype=np.uint8)
    for bi, img in enumerate(images):
        for k in range(min(len(img.labels), max_objs)):
            quad = img.polygons[k] / np.float32(stride)
            cls_id = int(img.labels[k])
            cx, cy, w, h, theta = baseline_min_area_rect(quad)
            if not (0 <= cx < W and 0 <= cy < H and w > 0 and h > 0):
                continue  # the center is off the grid: no peak, no targets
            ct_int = (int(math.floor(cx)), int(math.floor(cy)))
            if kernel == 'cornernet':
                radius = max(0, int(baseline_gaussian_radius((math.ceil(h), math.ceil(w)))))
                baseline_draw_umich_gaussian(hm[bi, cls_id], ct_int, radius)
            else:
                baseline_draw_rotated_gaussian(hm[bi, cls_id], ct_int, w, h, theta)
            size[bi, k] = w, h
            angle[bi, k] = math.cos(2 * theta), math.sin(2 * theta)
            reg[bi, k] = cx - ct_int[0], cy - ct_int[1]
            ind[bi, k] = ct_int[1] * W + ct_int[0]
            mask[bi, k] = 1
    return {'hm': hm, 'size': size, 'angle': angle, 'reg': reg, 'ind': ind, 'mask': mask}


def check_encoding(images: Sequence[ImageGT], heat: torch.Tensor, targets: Dict[str, torch.Tensor],
                   centers: Centers, grid: Grid, base: Dict[str, np.ndarray]) -> Tuple[float, float]:
    """Assert both encodings agree; returns (max abs heatmap diff, max abs target diff)."""
    heat = as_dense(heat)
    counts = [len(img.labels) for img in images]
    flat = {key: np.concatenate([base[key][b, :n] for b, n in enumerate(counts)])
            for key in ('size', 'angle', 'reg', 'ind', 'mask')}
    valid = centers.valid.numpy()
    assert np.array_equal(flat['mask'].astype(bool), valid), 'valid masks differ'
    assert np.array_equal(targets['weight'].numpy(), valid.astype(np.float32)), 'weights differ'
    assert np.array_equal(flat['ind'][valid], centers.cell_index(grid).numpy()[valid]), 'peak cells differ'
    target_diff = 0.0
    for ours, theirs in (('size', 'size'), ('angle', 'angle'), ('offset', 'reg')):
        d = float(np.abs(targets[ours].numpy()[valid] - flat[theirs][valid]).max(initial=0.0))
        assert d <= TARGET_TOL, f'{ours} targets differ by {d}'
        target_diff = max(target_diff, d)
    diff = float((heat - torch.from_numpy(base['hm'])).abs().max())
    assert diff <= HEATMAP_TOL, f'heatmaps differ by {diff}'
    return diff, target_diff


# ---------------------------------------------------------------------------------------------
# DOTA evaluation data
# ---------------------------------------------------------------------------------------------


def make_eval_data(num_images: int, dets_per_image: int, gts_per_image: int, num_classes: int,
                   seed: int, image_size: float = 1024.0):
    """GT ``{image: (polys, labels, difficult)}`` and detections ``{image: {class: (K, 9)}}``.

    Per image: ~``gts_per_image`` GT quads (10-100 px, 5% difficult); detections are 0-4
    jittered copies of each GT (center shifted by up to ~20% of the size, sizes scaled by
    0.8-1.2, angle by +-10 deg: IoUs spread around 0.5, duplicates included; 10% with a wrong
    class), scored higher on average, then random quads of random classes up to
    ``dets_per_image``.
    """
    rng = np.random.default_rng(seed)
    gts, dets = {}, {}
    for i in range(num_images):
        name = f'P{i:04d}'
        n_gt = int(rng.integers(max(1, int(gts_per_image * 0.8)), int(gts_per_image * 1.2) + 1))
        rb = random_rboxes(rng, n_gt, (image_size, image_size), 10.0, 100.0)
        labels = rng.integers(0, num_classes, n_gt)
        gts[name] = (jittered_quads(rng, rb), labels, rng.uniform(size=n_gt) < 0.05)
        copies = rng.integers(0, 5, n_gt)
        src = np.repeat(np.arange(n_gt), copies)[:dets_per_image]
        jit = rb[src].copy()
        jit[:, 0:2] += rng.normal(0, 0.1, (len(src), 2)) * jit[:, 2:3]
        jit[:, 2:4] *= rng.uniform(0.8, 1.2, (len(src), 2))
        jit[:, 4] += np.radians(rng.uniform(-10, 10, len(src)))
        jit_labels = np.where(rng.uniform(size=len(src)) < 0.1, rng.integers(0, num_classes, len(src)), labels[src])
        n_rand = dets_per_image - len(src)
        rand = random_rboxes(rng, n_rand, (image_size, image_size), 10.0, 100.0)
        polys = np.concatenate([rbox_to_poly_np(jit), rbox_to_poly_np(rand)])
        scores = np.concatenate([rng.uniform(0.2, 1.0, len(src)), rng.uniform(0.0, 0.6, n_rand)])
        det_labels = np.concatenate([jit_labels, rng.integers(0, num_classes, n_rand)])
        rows = np.concatenate([polys, scores[:, None]], axis=1)
        dets[name] = {int(c): rows[det_labels == c] for c in np.unique(det_labels)}
    return dets, gts


def check_eval(fast: DotaEvalResult, ref: DotaEvalResult) -> float:
    """Assert both evaluations agree; returns the max abs AP difference."""
    for name in ('num_gts', 'num_difficult', 'num_dets'):
        assert np.array_equal(getattr(fast, name), getattr(ref, name)), f'{name} differ'
    assert np.array_equal(np.isnan(fast.ap), np.isnan(ref.ap)), 'classes with AP differ'
    diff = float(np.nanmax(np.abs(fast.ap - ref.ap), initial=0.0))
    assert diff <= AP_TOL, f'APs differ by {diff}'
    for name in ('recall', 'precision'):
        a, b = getattr(fast, name), getattr(ref, name)
        assert np.allclose(a, b, atol=AP_TOL, rtol=0, equal_nan=True), f'final {name} differ'
    for a, b in zip(fast.precisions, ref.precisions):
        assert np.allclose(a, b, atol=AP_TOL, rtol=0), 'precision curves differ'
    return diff


# ---------------------------------------------------------------------------------------------
# timing and report
# ---------------------------------------------------------------------------------------------


def bench_encode(num_objects: int, kernel_name: str, args: argparse.Namespace, threads: int) -> Row:
    stride = args.stride
    grid = Grid(batch_size=args.batch, shape=(args.out_size, args.out_size), stride=stride,
                input_shape=(args.out_size * stride, args.out_size * stride))
    images = make_images(args.batch, num_objects, args.out_size * stride, args.classes,
                         args.min_size, args.max_size, seed=args.seed + num_objects)
    gt = to_instances(images)
    head = target_head(RotatedBoxTask(), KERNELS[kernel_name](), args.classes)

    heat, targets, centers = centerx_encode(head, gt, grid)
    base = baseline_encode(images, args.classes, grid.shape, stride, num_objects, kernel_name)
    diff, target_diff = check_encoding(images, heat, targets, centers, grid, base)

    t_ours, t_base = median_times([
        lambda: centerx_encode(head, gt, grid),
        lambda: baseline_encode(images, args.classes, grid.shape, stride, num_objects, kernel_name),
    ], args.repeats, args.warmup)
    return Row(f'encode {num_objects} obj/img {kernel_name}, B={args.batch} [{threads} thr] (img/s)',
               args.batch / t_ours, args.batch / t_base, t_base / t_ours, diff,
               f'targets {target_diff:.1e}, {int(centers.valid.sum())}/{len(centers.valid)} valid')


def bench_eval(args: argparse.Namespace) -> Row:
    dets, gts = make_eval_data(args.eval_images, args.eval_dets, args.eval_gts, args.classes, args.seed)
    num_dets = sum(len(a) for per in dets.values() for a in per.values())
    fast = eval_dota(dets, gts, args.classes)
    ref = eval_dota_reference(dets, gts, args.classes)
    diff = check_eval(fast, ref)
    t_ours, t_base = median_times([lambda: eval_dota(dets, gts, args.classes),
                                   lambda: eval_dota_reference(dets, gts, args.classes)],
                                  args.eval_repeats, args.eval_warmup)
    num_gts = int(fast.num_gts.sum() + fast.num_difficult.sum())
    return Row(f'DOTA eval {num_dets:,} dets, {num_gts:,} GT, {args.eval_images} img (ms/call)',
               t_ours * 1e3, t_base * 1e3, t_base / t_ours, diff, f'mAP {fast.map:.4f}')


def run(args: argparse.Namespace) -> List[Row]:
    default_threads = torch.get_num_threads()
    thread_counts = args.threads or sorted({1, default_threads})
    rows: List[Row] = []
    try:
        for threads in thread_counts:
            torch.set_num_threads(threads)
            for n in args.objects:
                for kernel_name in args.kernels:
                    rows.append(bench_encode(n, kernel_name, args, threads))
    finally:
        torch.set_num_threads(default_threads)
    rows.append(bench_eval(args))
    return rows


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark centerx rotated GT encoding and DOTA evaluation '
                                     'against per-object baselines')
    parser.add_argument('--objects', type=int, nargs='+', default=[500],
                        help='objects per image (one encode row per kernel each)')
    parser.add_argument('--kernels', nargs='+', choices=sorted(KERNELS), default=['rotated', 'cornernet'])
    parser.add_argument('--repeats', type=int, default=7, help='timed calls per encode measurement (median)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed calls before timing')
    parser.add_argument('--batch', type=int, default=8, help='images per encoded batch')
    parser.add_argument('--out-size', type=int, default=128, help='output grid side (input = side * stride)')
    parser.add_argument('--stride', type=int, default=4)
    parser.add_argument('--classes', type=int, default=15, help='classes (DOTA v1.0 has 15)')
    parser.add_argument('--min-size', type=float, default=4.0, help='smallest long side, input pixels')
    parser.add_argument('--max-size', type=float, default=120.0, help='largest long side, input pixels')
    parser.add_argument('--threads', type=int, nargs='+', default=None,
                        help='torch thread counts to measure (default: 1 and torch\'s default)')
    parser.add_argument('--eval-images', type=int, default=20)
    parser.add_argument('--eval-dets', type=int, default=500, help='detections per image')
    parser.add_argument('--eval-gts', type=int, default=50, help='ground truths per image (+-20%%)')
    parser.add_argument('--eval-repeats', type=int, default=3)
    parser.add_argument('--eval-warmup', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--quick', action='store_true', help='tiny sizes for a smoke test (a second or two)')
    args = parser.parse_args(argv)
    if args.quick:
        args.objects = sorted({min(n, 20) for n in args.objects})
        args.repeats, args.warmup = 1, 0
        args.batch, args.out_size, args.classes = 2, 32, 4
        args.max_size = min(args.max_size, 40.0)
        args.threads = args.threads or [1]
        args.eval_images, args.eval_dets, args.eval_gts = 3, 40, 8
        args.eval_repeats, args.eval_warmup = 1, 0
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[Row]:
    args = parse_args(argv)
    t0 = time.perf_counter()
    print(f'centerx rotated benchmark: torch {torch.__version__}, numpy {np.__version__}, '
          f'opencv {cv2.__version__}, default torch threads {torch.get_num_threads()}; '
          f'input {args.out_size * args.stride}px, stride {args.stride} -> {args.out_size}x{args.out_size} '
          f'grid, {args.classes} classes, long sides {args.min_size:g}-{args.max_size:g}px (log-uniform), '
          f'seed {args.seed}; encode: median of {args.repeats} interleaved calls after {args.warmup} '
          f'warm-up; eval: median of {args.eval_repeats} after {args.eval_warmup}')
    print('baseline = per-object Python loop (cv2.minAreaRect + numpy Gaussian; DOTA eval: '
          'dota_eval_reference, one shapely IoU at a time); ratio = baseline time / centerx time\n')
    rows = run(args)
    print_table(rows)
    print(f'\nchecks: heatmaps max abs diff <= {HEATMAP_TOL:g}, valid masks and peak cells identical, '
          f'size/angle/offset targets within {TARGET_TOL:g} (cv2 float32 vs torch float32 fits); '
          f'DOTA APs, final recalls/precisions and precision curves within {AP_TOL:g}, counts identical. '
          f'Total time {time.perf_counter() - t0:.1f} s')
    return rows


if __name__ == '__main__':
    main()
