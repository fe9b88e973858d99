"""Write an :class:`~centerx.export.graph.ExportGraph` to ONNX and run it with onnxruntime.

``onnx`` and ``onnxruntime`` come with the ``export`` extra (``pip install -e ".[export]"``); they
are imported when used, so the rest of centerx does not need them.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from .graph import ExportGraph
from .symbolics import exact_symbolics

#: the ONNX opset the exporter writes unless told otherwise
DEFAULT_OPSET = 17


@dataclass
class ExportedModel:
    """What :func:`export_onnx` wrote.

    Attributes:
        path: the .onnx file.
        input_names: the inputs the written graph takes, in order: those of
            :attr:`ExportGraph.input_names` that some output depends on.
        output_names: graph outputs ``<head>.<field>``, in order.
        graph: the traced module (run it for PyTorch's side of a comparison).
    """

    path: str
    input_names: List[str]
    output_names: List[str]
    graph: ExportGraph


def _require(module: str):
    try:
        return __import__(module)
    except ImportError as err:
        raise ImportError(f'ONNX export needs the {module!r} package: pip install -e ".[export]" '
                          '(onnx and onnxruntime)') from err


def export_onnx(model: nn.Module, path: str, input_shape: Tuple[int, int], topk: Optional[int] = None,
                batch_size: int = 1, dynamic_batch: bool = False, normalize: bool = True,
                opset: int = DEFAULT_OPSET) -> ExportedModel:
    """Trace ``model`` with its peak extraction and decoding and write it to ``path``.

    Uses the TorchScript exporter (``dynamo=False``: max-pool, TopK and gathers export without
    the ``onnxscript`` package) with centerx's exact ``atan2`` (:mod:`centerx.export.symbolics`),
    checks the written model with ``onnx.checker`` and stores :func:`graph_metadata` in it.

    Args:
        model: a built ``CenterNet``.
        path: where to write the .onnx file.
        input_shape: (H, W) of the network input.
        topk: detections per head and image (default: the model's ``test_cfg.topk``).
        batch_size: batch of the traced example (the graph's batch when not ``dynamic_batch``).
        dynamic_batch: make the batch dimension of every input and output dynamic.
        normalize: see :class:`ExportGraph`.
        opset: ONNX opset version.

    Returns:
        :class:`ExportedModel`.
    """
    onnx = _require('onnx')
    graph = ExportGraph(model, input_shape, topk=topk, batch_size=batch_size, normalize=normalize)
    output_names = graph.output_names()
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {name: {0: 'batch'} for name in [*graph.input_names, *output_names]}
    with torch.no_grad(), warnings.catch_warnings(), exact_symbolics(opset):
        # shapes (B, H, W, K) become constants of the graph on purpose: a static graph
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        # flips are negative-step slices, which the exporter keeps as ops instead of folding them
        warnings.filterwarnings('ignore', message='Constant folding - Only steps=1')
        # dynamo=False is chosen on purpose (see the docstring)
        warnings.filterwarnings('ignore', message='You are using the legacy TorchScript-based ONNX export')
        warnings.filterwarnings('ignore', message='The feature will be removed', category=DeprecationWarning)
        torch.onnx.export(graph, graph.example_inputs(), path, input_names=graph.input_names,
                          output_names=output_names, opset_version=opset, dynamic_axes=dynamic_axes,
                          dynamo=False)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    for key, value in graph_metadata(graph, output_names).items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, path)
    return ExportedModel(path=str(path), input_names=[i.name for i in proto.graph.input],
                         output_names=output_names, graph=graph)


def graph_metadata(graph: ExportGraph, output_names: Sequence[str]) -> Dict[str, str]:
    """What a deployment needs to know, stored in the ONNX file's ``metadata_props`` (json values):
    ``centerx.input_shape`` [H, W], ``centerx.topk``, ``centerx.score_thr`` (the model's threshold,
    to apply to ``<head>.scores``), ``centerx.classes`` (dataset labels -> names),
    ``centerx.normalized_in_graph``, ``centerx.outputs``."""
    model = graph.model
    return {
        'centerx.input_shape': json.dumps(list(graph.input_shape)),
        'centerx.topk': json.dumps(graph.topk),
        'centerx.score_thr': json.dumps(float(model.test_cfg.get('score_thr', 0.0))),
        'centerx.classes': json.dumps(list(model.classes)),
        'centerx.normalized_in_graph': json.dumps(graph.normalize),
        'centerx.outputs': json.dumps(list(output_names)),
    }


def run_onnxruntime(path: str, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """Run an exported model on CPU: ``{input name: array}`` -> ``{output name: array}``.

    ``feeds`` may hold inputs the graph does not take (a model without box clipping takes no
    ``ori_shapes``: the exporter drops inputs no output depends on); they are left out.

    Raises:
        KeyError: ``feeds`` lacks an input the graph takes.
    """
    ort = _require('onnxruntime')
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])
    wanted = [i.name for i in session.get_inputs()]
    missing = [name for name in wanted if name not in feeds]
    if missing:
        raise KeyError(f'{path}: the graph takes inputs {wanted}; missing {missing}')
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {k: np.ascontiguousarray(feeds[k]) for k in wanted})))


def feeds_of(input_names: Sequence[str], inputs: Sequence[Tensor]) -> Dict[str, np.ndarray]:
    """``{name: numpy array}`` of graph inputs given as tensors in ``input_names`` order."""
    if len(input_names) != len(inputs):
        raise ValueError(f'{len(inputs)} tensors for the {len(input_names)} inputs {list(input_names)}')
    return {name: t.detach().cpu().numpy() for name, t in zip(input_names, inputs)}


def max_differences(exported: ExportedModel, inputs: Sequence[Tensor]) -> Dict[str, float]:
    """Largest difference per output between onnxruntime and the PyTorch graph on ``inputs``: absolute
    for detections whose values are all up to 1 in magnitude, else relative to the detection's largest
    value (``|a - b| / max(1, max |a_row|)``): float32 carries about 7 digits, so a 3D box 100 m away
    agrees to ~1e-5 m, and a polygon vertex near 0 of a 2000-px box computed as ``cx - w / 2`` to
    ~1e-4 px); integer outputs: the number of differing entries.

    Only the detections at heatmap peaks are compared: when an image has fewer than K local maxima
    the rest of its K rows hold score 0 in an order TopK leaves open, so the rows where PyTorch's
    ``<head>.scores`` is 0 are left out (the count of peaks must agree: ``<head>.num_peaks``).
    """
    with torch.no_grad():
        ref = dict(zip(exported.output_names, (t.detach().cpu().numpy() for t in exported.graph(*inputs))))
    got = run_onnxruntime(exported.path, feeds_of(exported.graph.input_names, inputs))
    diffs = {}
    for head in dict.fromkeys(name.rsplit('.', 1)[0] for name in exported.output_names):
        peaks_ref, peaks_got = ref[f'{head}.scores'] > 0, got[f'{head}.scores'] > 0
        diffs[f'{head}.num_peaks'] = float(np.abs(peaks_ref.sum(1) - peaks_got.sum(1)).sum())
    for name, a in ref.items():
        b = got[name]
        if a.shape != b.shape:
            raise ValueError(f'output {name}: PyTorch gives shape {a.shape}, onnxruntime {b.shape}')
        keep = ref[f"{name.rsplit('.', 1)[0]}.scores"] > 0  # (B, K)
        a, b = a[keep], b[keep]
        if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
            diffs[name] = float((a != b).sum())
        else:
            a, b = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
            scale = np.maximum(1.0, np.abs(a).max(axis=1, keepdims=True)) if a.size else 1.0
            diffs[name] = float((np.abs(a - b) / scale).max()) if a.size else 0.0
    return diffs
