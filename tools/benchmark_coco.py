"""Benchmark COCO evaluation: pycocotools against faster-coco-eval, through the metrics' own code.

``python tools/benchmark_coco.py [--images 200] [--objects 20] [--dets 100] [--repeats 3] [--quick]``

Both backends run :func:`centerx.evaluation.coco_eval.run_cocoeval` (what ``CocoBboxMetric`` and
``CocoKeypointsMetric`` call: ``loadRes`` + ``evaluate`` + ``accumulate``) and ``summarize`` on the
same seeded data: random ground truth (80 categories, 5% crowd regions) and detections made of
jittered copies of it (IoUs around the thresholds, duplicates, scores rounded to 0.01 so that ties
occur) plus random boxes. Loading the ground truth is left out (the metrics cache it). The check:
every summary statistic and the whole precision array agree to 1e-6.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os.path as osp
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import numpy as np  # noqa: E402

from benchmark_common import Row, median_times, report  # noqa: E402

from centerx.evaluation.coco_backends import coco_api  # noqa: E402
from centerx.evaluation.coco_eval import run_cocoeval  # noqa: E402

AP_TOL = 1e-6


def make_data(num_images: int, objects: int, dets: int, num_classes: int, seed: int,
              size: float = 640.0) -> Tuple[Dict[str, Any], List[dict]]:
    """A COCO ground-truth dict and a results list (see the module doc)."""
    rng = np.random.default_rng(seed)
    images = [dict(id=i + 1, file_name=f'{i}.jpg', height=int(size), width=int(size)) for i in range(num_images)]
    anns, results = [], []
    for img in images:
        n = int(rng.integers(1, 2 * objects))
        wh = np.exp(rng.uniform(np.log(8), np.log(size / 3), (n, 2)))
        xy = rng.uniform(0, 1, (n, 2)) * (size - wh)
        cats = rng.integers(1, num_classes + 1, n)
        crowd = rng.uniform(size=n) < 0.05
        for box, cat, c in zip(np.concatenate([xy, wh], 1).tolist(), cats.tolist(), crowd.tolist()):
            anns.append(dict(id=len(anns) + 1, image_id=img['id'], category_id=cat, bbox=box,
                             area=box[2] * box[3], iscrowd=int(c)))
        src = rng.integers(0, n, min(dets, 2 * n))
        jit = np.concatenate([xy[src] + rng.normal(0, 0.1, (len(src), 2)) * wh[src],
                              wh[src] * rng.uniform(0.8, 1.2, (len(src), 2))], 1)
        rand_wh = np.exp(rng.uniform(np.log(8), np.log(size / 3), (dets - len(src), 2)))
        rand = np.concatenate([rng.uniform(0, 1, (len(rand_wh), 2)) * (size - rand_wh), rand_wh], 1)
        boxes = np.concatenate([jit, rand])
        scores = np.round(np.concatenate([rng.uniform(0.3, 1, len(src)), rng.uniform(0, 0.6, len(rand))]), 2)
        labels = np.concatenate([cats[src], rng.integers(1, num_classes + 1, len(rand))])
        results += [dict(image_id=img['id'], category_id=c, bbox=b, score=s)
                    for b, s, c in zip(boxes.tolist(), scores.tolist(), labels.tolist())]
    gt = dict(images=images, annotations=anns, categories=[dict(id=c, name=f'c{c}') for c in range(1, num_classes + 1)])
    return gt, results


def load_gt(backend: str, gt: Dict[str, Any]):
    coco_cls, _ = coco_api(backend)
    with contextlib.redirect_stdout(io.StringIO()):
        coco = coco_cls()
        coco.dataset = gt
        coco.createIndex()
    return coco


def evaluate(backend: str, coco, results: List[dict]) -> Tuple[np.ndarray, np.ndarray]:
    """(stats, precision) of one backend, as the metrics compute them."""
    ev = run_cocoeval(backend, coco, results, sorted(coco.getImgIds()), sorted(coco.getCatIds()))
    with contextlib.redirect_stdout(io.StringIO()):
        ev.summarize()
    return np.asarray(ev.stats, np.float64), np.asarray(ev.eval['precision'], np.float64)


def bench_coco(args: argparse.Namespace) -> Row:
    """faster-coco-eval (``ours``) vs pycocotools (``theirs``), ms per evaluation."""
    gt, results = make_data(args.images, args.objects, args.dets, args.classes, args.seed)
    ref_gt, fast_gt = load_gt('pycocotools', gt), load_gt('faster_coco_eval', gt)
    (s_ref, p_ref), (s_fast, p_fast) = evaluate('pycocotools', ref_gt, results), evaluate('faster_coco_eval', fast_gt, results)
    diff = max(float(np.abs(s_ref - s_fast).max()), float(np.abs(p_ref - p_fast).max()))
    assert diff <= AP_TOL, f'faster-coco-eval differs from pycocotools by {diff}'
    t_fast, t_ref = median_times([lambda: evaluate('faster_coco_eval', fast_gt, results),
                                  lambda: evaluate('pycocotools', ref_gt, results)], args.repeats, args.warmup)
    return Row(f'COCO box eval, {len(results):,} dets, {len(gt["annotations"]):,} GT, {args.images} img (ms)',
               t_fast * 1e3, t_ref * 1e3, t_ref / t_fast, diff, f'AP {s_ref[0]:.4f} equal (stats + precision)')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='COCO evaluation: faster-coco-eval vs pycocotools')
    parser.add_argument('--images', type=int, default=200)
    parser.add_argument('--objects', type=int, default=10, help='mean GT boxes per image')
    parser.add_argument('--dets', type=int, default=100, help='detections per image')
    parser.add_argument('--classes', type=int, default=80)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--quick', action='store_true', help='50 images')
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.repeats = min(args.images, 50), min(args.repeats, 2)
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[Row]:
    args = parse_args(argv)
    t0 = time.perf_counter()
    rows = [bench_coco(args)]
    report('COCO evaluation benchmark: centerx = faster-coco-eval, baseline = pycocotools (loadRes + evaluate '
           '+ accumulate + summarize); ratio = baseline time / faster-coco-eval time', rows, t0)
    return rows


if __name__ == '__main__':
    main()
