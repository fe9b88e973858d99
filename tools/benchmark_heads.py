"""Benchmark the cost of many heads: the multitask model's forward against the one-head model's, and
fused branches against separate ones.

``python tools/benchmark_heads.py [--batch 8] [--size 256] [--repeats 5] [--threads 1] [--quick]``

Models are built from the shipped configs as users build them (``MODELS.build(cfg.model)``, eval
mode, ``mode='tensor'`` forward under ``torch.no_grad``):

- one head: ``configs/box2d_synthetic.py`` (one head, one task: 3 branches);
- many heads: ``configs/multitask_synthetic.py`` (3 heads, 4 tasks: 13 branches);
- the same many-head model with ``fuse_branches=True`` (:mod:`centerx.models.fused_branches`);
- the many-head model on the full-width backbones (ResNet-18 + DeconvNeck, head_conv 64;
  DLA-34 + DLAUpNeck, head_conv 256; the heads of the multitask config), separate vs fused.

Each row checks what it compares: the fused outputs equal the separate ones (max abs diff), and the
forward-FLOP ratio of the two models (``torch.utils.flop_counter``) says what the time ratio would
be if time followed FLOPs. All times: median of interleaved calls after warm-up.
"""
from __future__ import annotations

import argparse
import copy
import os.path as osp
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402
from torch import Tensor, nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from benchmark_common import Row, median_times, report, torch_threads  # noqa: E402

import centerx_tasks  # noqa: E402,F401  (registers the built-in tasks)
from centerx.registry import MODELS  # noqa: E402

ONE_HEAD = 'configs/box2d_synthetic.py'
MANY_HEADS = 'configs/multitask_synthetic.py'
FORWARD_GOAL = 1.2  # many-head forward <= 1.2x the one-head forward (issue 13)
#: full-width backbones: (name, base model config, head_conv)
FULL_WIDTH = (('ResNet-18', 'configs/_base_/models/centernet_resnet18.py', 64),
              ('DLA-34', 'configs/_base_/models/centernet_dla34.py', 256))


def model_cfg(path: str, fuse: bool = False, base: Optional[str] = None,
              head_conv: Optional[int] = None) -> dict:
    """The ``model`` of a config; ``base`` swaps in the backbone, neck and preprocessor of another
    model config, ``head_conv`` sets every head's hidden width, ``fuse`` sets ``fuse_branches``."""
    cfg = copy.deepcopy(Config.fromfile(osp.join(ROOT, path)).model.to_dict())
    if base is not None:
        other = Config.fromfile(osp.join(ROOT, base)).model.to_dict()
        for key in ('backbone', 'neck', 'data_preprocessor'):
            cfg[key] = copy.deepcopy(other[key])
    if head_conv is not None:
        for head in cfg['heads']:
            head['head_conv'] = head_conv
    cfg['fuse_branches'] = fuse
    return cfg


def build(cfg: dict, state: Optional[Dict[str, Tensor]] = None) -> nn.Module:
    """The model of ``cfg`` in eval mode, seeded (and loaded from ``state`` when given)."""
    torch.manual_seed(0)
    model = MODELS.build(copy.deepcopy(cfg))
    if state is not None:
        model.load_state_dict(state)
    return model.eval()


def forward_fn(model: nn.Module, x: Tensor) -> Callable[[], Dict]:
    def run() -> Dict:
        with torch.no_grad():
            return model(x, mode='tensor')
    return run


def forward_flops(model: nn.Module, x: Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x, mode='tensor')
    return counter.get_total_flops()


def max_output_diff(a: Dict, b: Dict) -> float:
    """Max over every map of two ``mode='tensor'`` outputs (same structure) of the max abs
    difference relative to the map's largest magnitude (at least 1): float32 summation order
    moves large random-init outputs by a few ulps."""
    if isinstance(a, Tensor):
        return float((a - b).abs().max()) / max(1.0, float(a.abs().max()))
    if a.keys() != b.keys():
        raise AssertionError(f'outputs differ in keys: {sorted(a)} vs {sorted(b)}')
    return max(max_output_diff(a[k], b[k]) for k in a)


def fused_vs_separate(label: str, cfg_sep: dict, cfg_fused: dict, x: Tensor, repeats: int,
                      warmup: int, tol: float = 1e-5) -> Row:
    """Separate vs fused forward of the same weights; asserts equal outputs (``tol``)."""
    separate = build(cfg_sep)
    fused = build(cfg_fused, separate.state_dict())
    diff = max_output_diff(forward_fn(separate, x)(), forward_fn(fused, x)())
    assert diff <= tol, f'{label}: fused outputs differ from separate ones by {diff}'
    t_fused, t_sep = median_times([forward_fn(fused, x), forward_fn(separate, x)], repeats, warmup)
    return Row(f'{label}: fused vs separate branches (ms/forward)', t_fused * 1e3, t_sep * 1e3,
               t_sep / t_fused, diff, 'outputs equal (max relative diff)')


def run(args: argparse.Namespace) -> Tuple[List[Row], Dict[str, float]]:
    """The rows, and ``{'forward_ratio': many / one, 'flop_ratio': ...}`` for the summary."""
    rows: List[Row] = []
    with torch_threads(args.threads):
        x = torch.randn(args.batch, 3, args.size, args.size)
        one, many = build(model_cfg(ONE_HEAD)), build(model_cfg(MANY_HEADS))
        many_fused = build(model_cfg(MANY_HEADS, fuse=True), many.state_dict())
        diff = max_output_diff(forward_fn(many, x)(), forward_fn(many_fused, x)())
        assert diff <= 1e-5, f'fused multitask outputs differ by {diff} (relative)'
        t_many, t_fused, t_one = median_times([forward_fn(many, x), forward_fn(many_fused, x), forward_fn(one, x)],
                                              args.repeats, args.warmup)
        flops_many, flops_one = forward_flops(many, x), forward_flops(one, x)
        flop_ratio = flops_many / flops_one
        shape = f'B={args.batch}, {args.size}x{args.size}, {args.threads} thr'
        rows.append(Row(f'3 heads / 4 tasks vs 1 head forward, separate ({shape}) (ms)', t_many * 1e3, t_one * 1e3,
                        t_many / t_one, 0.0, f'goal <= {FORWARD_GOAL}x; FLOP ratio {flop_ratio:.2f}x'))
        rows.append(Row(f'3 heads / 4 tasks vs 1 head forward, fused ({shape}) (ms)', t_fused * 1e3, t_one * 1e3,
                        t_fused / t_one, diff, f'goal <= {FORWARD_GOAL}x; fused == separate to {diff:.1e} (relative)'))
        for label, base, head_conv in ([] if args.quick else FULL_WIDTH):
            rows.append(fused_vs_separate(f'{label} 3 heads ({shape})', model_cfg(MANY_HEADS, False, base, head_conv),
                                          model_cfg(MANY_HEADS, True, base, head_conv), x, min(args.repeats, 3),
                                          args.warmup))
    return rows, dict(forward_ratio=t_many / t_one, forward_ratio_fused=t_fused / t_one, flop_ratio=flop_ratio)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Benchmark the many-head forward against one head, '
                                     'and fused branches against separate ones')
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--size', type=int, default=256, help='input side (pixels)')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--quick', action='store_true', help='the demo-size rows only, fewer repeats')
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = min(args.repeats, 3)
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[Row]:
    args = parse_args(argv)
    t0 = time.perf_counter()
    rows, _ = run(args)
    report(f'centerx heads benchmark: torch {torch.__version__}, {args.threads} thread(s); eval forward, '
           f'median of {args.repeats} interleaved calls after {args.warmup} warm-up; ratio = centerx / baseline '
           'for the many-head rows (lower is better), separate / fused for the fused rows', rows, t0)
    return rows


if __name__ == '__main__':
    main()
