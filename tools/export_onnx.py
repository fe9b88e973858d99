"""Export a trained model to ONNX with peak extraction and decoding inside the graph.

``python tools/export_onnx.py CONFIG CHECKPOINT --out model.onnx [--input-size H W] [--topk K]``

The graph takes the letterboxed image (0-255, as the test pipeline loads it), the inverse of the
letterbox and the original image size (plus what a task needs, e.g. Box3DTask's intrinsics) and
returns ``<head>.scores``, ``<head>.labels`` and every decoded field ``<head>.<field>`` in
original-image pixels. See docs/export.md.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
from typing import Any, Iterator, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import centerx_tasks  # noqa: E402,F401  (the built-in tasks register themselves, as a plugin does)
from centerx.engine.checkpoint import load_checkpoint_file  # noqa: E402
from centerx.engine.launch import load_config  # noqa: E402
from centerx.export import DEFAULT_OPSET, export_onnx, max_differences  # noqa: E402
from centerx.registry import MODELS  # noqa: E402

#: largest onnxruntime-vs-PyTorch difference the check accepts on float outputs (absolute up to 1,
#: relative above: :func:`centerx.export.max_differences`)
CHECK_TOLERANCE = 1e-4


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export a centerx detector with its decoding to ONNX')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('H', 'W'),
                        help="network input height and width (default: the test pipeline's CenterAffine input_size)")
    parser.add_argument('--topk', type=int, help='detections per head and image (default: model.test_cfg.topk)')
    parser.add_argument('--batch-size', type=int, default=1, help='batch of the graph (default 1)')
    parser.add_argument('--dynamic-batch', action='store_true', help='make the batch dimension dynamic')
    parser.add_argument('--no-normalize', action='store_true',
                        help='leave mean/std normalization out of the graph (feed normalized images)')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET, help=f'ONNX opset (default {DEFAULT_OPSET})')
    parser.add_argument('--no-check', action='store_true',
                        help='skip running the written model with onnxruntime against PyTorch')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow full (unsafe) unpickling of the checkpoint; only for files you trust')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    return parser.parse_args(argv)


def _dicts(node: Any) -> Iterator[dict]:
    """Every dict nested in a config value."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _dicts(value)


def pipeline_input_size(cfg: Any) -> Optional[Tuple[int, int]]:
    """(H, W) of the test pipeline's ``CenterAffine`` (its ``input_size`` is (width, height)), or None."""
    for section in ('test_dataloader', 'val_dataloader'):
        for node in _dicts(cfg.get(section)):
            if node.get('type') == 'CenterAffine' and node.get('input_size') is not None:
                width, height = node['input_size']
                return int(height), int(width)
    return None


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options, trust_checkpoint=args.trust_checkpoint)
    input_size = tuple(args.input_size) if args.input_size else pipeline_input_size(cfg)
    if input_size is None:
        raise SystemExit(f'{args.config}: no CenterAffine input_size in the test pipeline; pass --input-size H W')
    model = MODELS.build(cfg.model)
    checkpoint = load_checkpoint_file(args.checkpoint, trust=args.trust_checkpoint or None)
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else checkpoint
    if not isinstance(state, dict):
        raise SystemExit(f'{args.checkpoint}: expected a state dict (or a dict with "state_dict"), '
                         f'got {type(state).__name__}')
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise SystemExit(f'{args.checkpoint} does not fit the model of {args.config}: missing keys '
                         f'{result.missing_keys[:5]}, unexpected keys {result.unexpected_keys[:5]}')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    exported = export_onnx(model, args.out, input_size, topk=args.topk, batch_size=args.batch_size,
                           dynamic_batch=args.dynamic_batch, normalize=not args.no_normalize, opset=args.opset)
    graph = exported.graph
    print(f'wrote {args.out}: input {input_size[0]}x{input_size[1]}, top-{graph.topk} per head, opset {args.opset}')
    shapes = {name: list(t.shape) for name, t in zip(graph.input_names, graph.example_inputs())}
    print('inputs:  ' + ', '.join(f'{n} {shapes[n]}' for n in exported.input_names))
    print('outputs: ' + ', '.join(exported.output_names))
    report = dict(out=args.out, input_size=list(input_size), topk=graph.topk, inputs=exported.input_names,
                  outputs=exported.output_names)
    if not args.no_check:
        diffs = max_differences(exported, graph.example_inputs(seed=1))
        worst: List[str] = [n for n, d in diffs.items() if d > CHECK_TOLERANCE]
        print('onnxruntime vs PyTorch, largest difference per output: '
              + json.dumps({n: float(f'{d:.3g}') for n, d in diffs.items()}))
        report['max_differences'] = diffs
        if worst:
            raise SystemExit(f'onnxruntime and PyTorch disagree beyond {CHECK_TOLERANCE} on {worst}')
    return report


if __name__ == '__main__':
    main()
