"""Benchmark keypoint target building against a per-object loop; time 3D-box target building.

``python tools/benchmark_keypoints.py [--objects 10 100 500] [--batch 16] [--keypoints 17]
[--classes 1] [--out-size 128] [--repeats 7] [--threads 1] [--quick]``

1. Keypoints (CenterNet ``multi_pose``): persons with random boxes and ``K`` keypoints (uniform
   over the box widened by 10 %, visibility 0 / 1 / 2 with probabilities 0.2 / 0.3 / 0.5).

   - centerx: a ``CenterHead`` with ``Box2DTask`` (the center task) and ``KeypointTask``: the
     head's ``place_centers`` and ``render``, both tasks' ``encode`` and the keypoint task's
     ``render_heatmap`` (what its loss draws), the code ``CenterHead.loss`` runs.
   - baseline: the same targets person by person, keypoint by keypoint, in Python/numpy: the
     person heatmap, ``wh`` / ``reg`` / ``ind``, the keypoint offsets from the center cell
     (``kps``, ``kps_mask``), the keypoint heatmaps (``draw_umich_gaussian`` with the person's
     radius) and the sub-cell keypoint offsets (``hp_offset``).

   Checked: both heatmaps within 1e-6, keypoint offsets, masks and sub-cell offsets identical.

2. 3D boxes: ``Box3DTask`` targets (projected centers, depth, dims, rotation) through a
   ``CenterHead`` with the task's example cameras; centerx only (no loop baseline yet).
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

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from benchmark_common import (as_dense, Row, baseline_gaussian_radius, head_targets, median_times,  # noqa: E402
                              report, target_head, torch_threads)
from benchmark_encode import baseline_draw_umich_gaussian  # noqa: E402

from centerx.heatmap import CornerNetGaussian  # noqa: E402
from centerx.models import CenterHead  # noqa: E402
from centerx.structures import ImageMeta  # noqa: E402
from centerx.task import Centers, Grid, concat_instances  # noqa: E402
from centerx_tasks.box2d.task import Box2DTask  # noqa: E402
from centerx_tasks.box3d.task import Box3DTask  # noqa: E402
from centerx_tasks.keypoints.task import KeypointTask  # noqa: E402

HEATMAP_TOL = 1e-6


@dataclass
class PersonsGT:
    """One image: (N, 4) float32 xyxy boxes, (N, K, 3) float32 keypoints (x, y, v), (N,) int64 labels."""

    bboxes: np.ndarray
    keypoints: np.ndarray
    labels: np.ndarray


def make_images(num_images: int, num_objects: int, input_size: int, num_keypoints: int, num_classes: int,
                seed: int) -> List[PersonsGT]:
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(num_images):
        wh = np.exp(rng.uniform(np.log(4.0), np.log(160.0), size=(num_objects, 2)))
        ctr = rng.uniform(0, input_size, size=(num_objects, 2))
        boxes = np.concatenate([ctr - wh / 2, ctr + wh / 2], axis=1)
        u = rng.uniform(-0.55, 0.55, size=(num_objects, num_keypoints, 2))
        xy = ctr[:, None] + u * wh[:, None]
        vis = rng.choice([0.0, 1.0, 2.0], p=[0.2, 0.3, 0.5], size=(num_objects, num_keypoints, 1))
        images.append(PersonsGT(boxes.astype(np.float32), np.concatenate([xy, vis], 2).astype(np.float32),
                                rng.integers(0, num_classes, size=num_objects).astype(np.int64)))
    return images


def to_instances(images: Sequence[PersonsGT]) -> InstanceData:
    gts = []
    for img in images:
        gt = InstanceData()
        gt.bboxes, gt.keypoints = torch.from_numpy(img.bboxes), torch.from_numpy(img.keypoints)
        gt.labels = torch.from_numpy(img.labels)
        gts.append(gt)
    return concat_instances(gts)


def keypoint_head(num_keypoints: int, num_classes: int) -> CenterHead:
    return target_head(Box2DTask(), CornerNetGaussian(0.7), num_classes,
                       more_tasks=[KeypointTask(num_keypoints=num_keypoints)])


def centerx_encode(head: CenterHead, gt: InstanceData, grid: Grid
                   ) -> Tuple[torch.Tensor, torch.Tensor, Dict[str, torch.Tensor], Centers]:
    """Person heatmap, keypoint heatmaps, keypoint targets and centers, as the training step builds them."""
    heat, targets, centers = head_targets(head, gt, grid)
    kp_heat = head.tasks['keypoints'].render_heatmap(targets['keypoints'], centers, grid)
    return heat, kp_heat, targets['keypoints'], centers


def baseline_encode(images: Sequence[PersonsGT], num_classes: int, out_size: Tuple[int, int], stride: int,
                    max_objs: int) -> Dict[str, np.ndarray]:
    """CenterNet ``multi_pose``-style targets of a batch, person by person (batch arrays allocated
    once; boxes clipped to the grid extent as centerx does)."""
    H, W = out_size
    B, K = len(images), images[0].keypoints.shape[1]
    hm = np.zeros((B, num_classes, H, W), np.float32)
    hm_hp = np.zeros((B, K, H, W), np.float32)
    kps = np.zeros((B, max_objs, 2 * K), np.float32)
    kps_mask = np.zeros((B, max_objs, 2 * K), np.uint8)
    hp_offset = np.zeros((B, max_objs, K, 2), np.float32)
    hp_mask = np.zeros((B, max_objs, K), np.uint8)
    reg_mask = np.zeros((B, max_objs), np.uint8)
    for b, img in enumerate(images):
        for k in range(min(len(img.labels), max_objs)):
            bbox = img.bboxes[k] / np.float32(stride)
            bbox[[0, 2]] = np.clip(bbox[[0, 2]], 0, W)
            bbox[[1, 3]] = np.clip(bbox[[1, 3]], 0, H)
            h, w = bbox[3] - bbox[1], bbox[2] - bbox[0]
            if not (h > 0 and w > 0):
                continue
            radius = max(0, int(baseline_gaussian_radius((math.ceil(h), math.ceil(w)))))
            ct = np.array([(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2], dtype=np.float32)
            ct_int = ct.astype(np.int32)
            baseline_draw_umich_gaussian(hm[b, int(img.labels[k])], ct_int, radius)
            reg_mask[b, k] = 1
            for j in range(K):
                pt = img.keypoints[k, j, :2] / np.float32(stride)
                if img.keypoints[k, j, 2] > 0 and 0 <= pt[0] < W and 0 <= pt[1] < H:
                    kps[b, k, 2 * j:2 * j + 2] = pt - ct_int.astype(np.float32)
                    kps_mask[b, k, 2 * j:2 * j + 2] = 1
                    pt_int = np.floor(pt).astype(np.int32)
                    hp_offset[b, k, j] = pt - pt_int.astype(np.float32)
                    hp_mask[b, k, j] = 1
                    baseline_draw_umich_gaussian(hm_hp[b, j], pt_int, radius)
    return dict(hm=hm, hm_hp=hm_hp, kps=kps, kps_mask=kps_mask, hp_offset=hp_offset, hp_mask=hp_mask,
                reg_mask=reg_mask)


def check_encoding(images: Sequence[PersonsGT], heat, kp_heat: torch.Tensor,
                   targets: Dict[str, torch.Tensor], centers: Centers, base: Dict[str, np.ndarray]) -> float:
    """Assert both encodings agree; returns the max abs heatmap difference (person and keypoints)."""
    heat = as_dense(heat)
    counts = [len(img.labels) for img in images]
    flat = {key: np.concatenate([base[key][b, :n] for b, n in enumerate(counts)])
            for key in ('kps', 'kps_mask', 'hp_offset', 'hp_mask', 'reg_mask')}
    assert np.array_equal(flat['reg_mask'].astype(bool), centers.valid.numpy()), 'valid masks differ'
    assert np.array_equal(flat['hp_mask'].astype(np.float32), targets['kp_weight'].numpy()), 'keypoint masks differ'
    assert np.array_equal(flat['kps_mask'].astype(np.float32), targets['kps_weight'].numpy()), 'kps masks differ'
    assert np.array_equal(flat['kps'], targets['kps'].numpy()), 'keypoint offsets from the center differ'
    assert np.array_equal(flat['hp_offset'], targets['kp_offset'].numpy()), 'sub-cell keypoint offsets differ'
    diff = max(float((heat - torch.from_numpy(base['hm'])).abs().max()),
               float((kp_heat - torch.from_numpy(base['hm_hp'])).abs().max()))
    assert diff <= HEATMAP_TOL, f'heatmaps differ by {diff}'
    return diff


def _grid(args: argparse.Namespace, metas: Sequence[ImageMeta] = ()) -> Grid:
    side = args.out_size * args.stride
    return Grid(batch_size=args.batch, shape=(args.out_size, args.out_size), stride=args.stride,
                input_shape=(side, side), metas=list(metas))


def bench_encode(num_objects: int, args: argparse.Namespace, threads: int) -> Row:
    grid = _grid(args)
    images = make_images(args.batch, num_objects, args.out_size * args.stride, args.keypoints, args.classes,
                         seed=args.seed + num_objects)
    gt = to_instances(images)
    head = keypoint_head(args.keypoints, args.classes)
    heat, kp_heat, targets, centers = centerx_encode(head, gt, grid)
    base = baseline_encode(images, args.classes, grid.shape, args.stride, num_objects)
    diff = check_encoding(images, heat, kp_heat, targets, centers, base)
    t_ours, t_base = median_times([
        lambda: centerx_encode(head, gt, grid),
        lambda: baseline_encode(images, args.classes, grid.shape, args.stride, num_objects),
    ], args.repeats, args.warmup)
    labeled = int(targets['kp_weight'].sum())
    return Row(f'encode keypoints K={args.keypoints}, {num_objects} obj/img, B={args.batch} [{threads} thr] (img/s)',
               args.batch / t_ours, args.batch / t_base, t_base / t_ours, diff,
               f'heatmaps equal to {diff:.0e}; {labeled} keypoint targets identical')


def bench_encode_3d(num_objects: int, args: argparse.Namespace, threads: int) -> Row:
    """``Box3DTask`` targets through a head (centerx only: ``theirs`` and ``ratio`` are NaN)."""
    task = Box3DTask()
    side = args.out_size * args.stride
    metas = [ImageMeta(img_id=i, img_path='', ori_shape=(side, side), img_shape=(side, side), pad_shape=(side, side),
                       **task.example_meta((side, side))) for i in range(args.batch)]
    grid = _grid(args, metas)
    classes = ('car', 'truck', 'pedestrian')
    head = target_head(task, CornerNetGaussian(0.7), len(classes), classes=classes)
    gen = torch.Generator().manual_seed(args.seed + num_objects)
    gts = []
    for _ in range(args.batch):
        gt = InstanceData(**task.example_gt(num_objects, (side, side), gen))
        gt.labels = torch.randint(0, len(classes), (num_objects,), generator=gen)
        gts.append(gt)
    gt = concat_instances(gts)
    _, targets, centers = head_targets(head, gt, grid)
    t_ours = median_times([lambda: head_targets(head, gt, grid)], args.repeats, args.warmup)[0]
    return Row(f'encode 3D boxes, {num_objects} obj/img, B={args.batch} [{threads} thr] (img/s)',
               args.batch / t_ours, float('nan'), float('nan'), 0.0,
               f'no loop baseline yet; {int(centers.valid.sum())}/{len(centers.valid)} objects with a peak')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Keypoint target building vs a per-object loop; 3D targets')
    parser.add_argument('--objects', type=int, nargs='+', default=[10, 100, 500])
    parser.add_argument('--repeats', type=int, default=7)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--keypoints', type=int, default=17)
    parser.add_argument('--classes', type=int, default=1)
    parser.add_argument('--out-size', type=int, default=128)
    parser.add_argument('--stride', type=int, default=4)
    parser.add_argument('--threads', type=int, nargs='+', default=[1])
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--quick', action='store_true', help='tiny sizes for a smoke test')
    args = parser.parse_args(argv)
    if args.quick:
        args.objects = sorted({min(n, 20) for n in args.objects})
        args.repeats, args.warmup, args.batch, args.out_size = 1, 0, 2, 32
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[Row]:
    args = parse_args(argv)
    t0 = time.perf_counter()
    rows = []
    for threads in args.threads:
        with torch_threads(threads):
            for n in args.objects:
                rows.append(bench_encode(n, args, threads))
                rows.append(bench_encode_3d(n, args, threads))
    report('keypoint / 3D target building; baseline = per-object loop; ratio = baseline time / centerx time', rows, t0)
    return rows


if __name__ == '__main__':
    main()
