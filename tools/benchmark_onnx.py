"""Latency of an exported model: onnxruntime against PyTorch on the same graph (network + peaks + decoding).

``python tools/benchmark_onnx.py CONFIG [CONFIG ...] [--checkpoint CKPT] [--threads 1] [--repeats 20]``

Each config's model (random weights unless ``--checkpoint``; latency does not depend on them) is
exported at its test input size, then :class:`~centerx.export.ExportGraph` in PyTorch (no_grad,
eval) and the ONNX file in onnxruntime (CPU) run the same batch in turn; the table gives the
median milliseconds per batch of each, their ratio, and the largest output difference
(:func:`~centerx.export.max_differences`). Results and the command are in docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
import tempfile
from typing import List, Optional, Sequence

import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import centerx_tasks  # noqa: E402,F401  (the built-in tasks register themselves, as a plugin does)
from benchmark_common import Row, median_times, print_table  # noqa: E402
from centerx.engine.checkpoint import load_checkpoint_file  # noqa: E402
from centerx.engine.launch import load_config  # noqa: E402
from centerx.export import export_onnx, feeds_of, max_differences  # noqa: E402
from centerx.registry import MODELS  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='onnxruntime vs PyTorch latency of exported centerx models')
    parser.add_argument('configs', nargs='+', help='config files')
    parser.add_argument('--checkpoint', help='weights for a single config (default: random weights)')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                        help="network input size (default: each config's test CenterAffine input_size)")
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--threads', type=int, default=1, help='intra-op threads of both runtimes (default 1)')
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--quick', action='store_true', help='3 repeats, 1 warm-up (smoke test)')
    args = parser.parse_args(argv)
    if args.checkpoint and len(args.configs) != 1:
        parser.error('--checkpoint goes with exactly one config')
    return args


def benchmark_config(config: str, args: argparse.Namespace, out_dir: str) -> Row:
    """Export one config's model and time both runtimes on one batch."""
    import onnxruntime as ort
    from export_onnx import pipeline_input_size

    cfg = load_config(config)
    size = tuple(args.input_size) if args.input_size else pipeline_input_size(cfg)
    if size is None:
        raise SystemExit(f'{config}: no CenterAffine input_size in the test pipeline; pass --input-size H W')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if args.checkpoint:
        state = load_checkpoint_file(args.checkpoint)
        model.load_state_dict(state.get('state_dict', state))
    path = osp.join(out_dir, osp.splitext(osp.basename(config))[0] + '.onnx')
    exported = export_onnx(model, path, size, batch_size=args.batch_size)
    inputs = exported.graph.example_inputs(seed=1)
    feeds = {k: v for k, v in feeds_of(exported.graph.input_names, inputs).items() if k in exported.input_names}
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])

    def run_torch() -> None:
        with torch.no_grad():
            exported.graph(*inputs)

    repeats, warmup = (3, 1) if args.quick else (args.repeats, args.warmup)
    t_ort, t_torch = median_times([lambda: session.run(None, feeds), run_torch], repeats, warmup)
    diff = max(max_differences(exported, inputs).values())
    name = f'{osp.basename(config)} {size[0]}x{size[1]} b{args.batch_size} ms'
    return Row(name=name, ours=t_ort * 1e3, theirs=t_torch * 1e3, ratio=t_torch / t_ort, diff=diff,
               note=f'{sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, top-{exported.graph.topk}')


def main(argv: Optional[Sequence[str]] = None) -> List[Row]:
    args = parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        with tempfile.TemporaryDirectory() as out_dir:
            rows = [benchmark_config(c, args, out_dir) for c in args.configs]
    finally:
        torch.set_num_threads(threads)
    print('centerx = onnxruntime, baseline = PyTorch (same graph); ratio = PyTorch / onnxruntime')
    print_table(rows)
    return rows


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    main()
