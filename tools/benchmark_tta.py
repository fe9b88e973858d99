"""Benchmark the cost of test-time augmentation: the model's ``predict`` per image with no TTA,
flip, the paper's five scales, and both, and the merge alone (soft-NMS and NMS).

``python tools/benchmark_tta.py [CONFIG] [--size H W] [--repeats N] [--threads T] [--quick]``
(default config ``configs/box2d_synthetic.py``, its model with random weights at its input size;
the merge sees ``topk`` candidates per scale above ``score_thr``, as many as a model gives, so its
time does not depend on the weights). ``--quick``: a tiny model at 64 x 64, for the smoke test.

Timing: medians of interleaved calls (``benchmark_common.median_times``), batch 1, eval mode,
``torch.no_grad``.
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import List, Sequence, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

import centerx_tasks  # noqa: E402,F401  (registers the built-in tasks)
from benchmark_common import format_table, median_times  # noqa: E402
from centerx.models import CenterNet  # noqa: E402
from centerx.registry import MODELS  # noqa: E402
from centerx.structures import DetSample, ImageMeta  # noqa: E402
from centerx.tta import PAPER_SCALES, box_iou, merge_by_overlap, parse_merge  # noqa: E402

SETTINGS = [('none', dict()), ('flip', dict(flip=True)), ('5 scales', dict(scales=PAPER_SCALES)),
            ('5 scales + flip', dict(scales=PAPER_SCALES, flip=True))]


def build_model(config: str, quick: bool) -> Tuple[CenterNet, Tuple[int, int]]:
    """The config's model (random weights) and its input size (H, W); a tiny one with ``quick``."""
    if quick:
        model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                          neck=dict(type='DeconvNeck', out_channels=8),
                          heads=[dict(name='h', tasks=[dict(type='Box2DTask')], head_conv=8)], classes=('a', 'b'))
        return model.eval(), (64, 64)
    from centerx.engine.launch import load_config
    cfg = load_config(config, [])
    size = cfg.get('input_size', (512, 512))
    return MODELS.build(cfg.model).eval(), (int(size[1]), int(size[0]))


def time_predict(model: CenterNet, size: Tuple[int, int], repeats: int) -> List[float]:
    """Median seconds per image of ``predict`` under each of SETTINGS."""
    inputs = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0))
    base = dict(model.test_cfg)

    def run(extra: dict):
        def call():
            model.test_cfg = dict(base, **extra)
            sample = DetSample(meta=ImageMeta(img_id=0, img_path='', ori_shape=size, img_shape=size, pad_shape=size))
            with torch.no_grad():
                model.predict(inputs, [sample])
        return call

    try:
        return median_times([run(extra) for _, extra in SETTINGS], repeats, warmup=1)
    finally:
        model.test_cfg = base


def time_merge(num: int, repeats: int) -> List[float]:
    """Median seconds of the merge of ``num`` random candidates (80 classes), soft-NMS then NMS."""
    gen = torch.Generator().manual_seed(0)
    lo = torch.rand(num, 2, generator=gen) * 400
    boxes = torch.cat([lo, lo + 10 + torch.rand(num, 2, generator=gen) * 100], dim=1)
    dets = InstanceData(bboxes=boxes, scores=torch.rand(num, generator=gen),
                        labels=torch.randint(0, 80, (num,), generator=gen))
    fns = [lambda cfg=cfg: merge_by_overlap(dets, box_iou(dets.bboxes, dets.bboxes), cfg)
           for cfg in (parse_merge(None, 100), parse_merge(dict(type='nms'), 100))]
    return median_times(fns, repeats, warmup=1)


def main(argv: Sequence[str] = None) -> List[Tuple[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', nargs='?', default=osp.join(ROOT, 'configs', 'box2d_synthetic.py'))
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--quick', action='store_true')
    args = parser.parse_args(argv)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model, size = build_model(args.config, args.quick)
        repeats = 1 if args.quick else args.repeats
        rows = [(f'predict, {name}', t) for (name, _), t in zip(SETTINGS, time_predict(model, size, repeats))]
        num = 5 * model.test_cfg['topk']
        rows += [(f'merge of {num} candidates, {kind}', t)
                 for kind, t in zip(('soft-NMS', 'NMS'), time_merge(num, repeats))]
    finally:
        torch.set_num_threads(threads)
    plain = rows[0][1]
    cells = [[name, f'{t * 1e3:.1f}', f'{t / plain:.2f}' if name.startswith('predict') else '']
             for name, t in rows]
    print(f'{size[0]}x{size[1]} input, {torch.get_num_threads()} threads')
    print(format_table(['what', 'ms / image', 'x no TTA'], cells, ['<', '>', '>']))
    return rows


if __name__ == '__main__':
    main()
