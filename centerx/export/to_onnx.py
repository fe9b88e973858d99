"""Write an :class:`~centerx.export.graph.ExportGraph` to ONNX and run it with onnxruntime.

``onnx`` and ``onnxruntime`` come with the ``export`` extra (``pip install -e ".[export]"``); they
are imported when used, so the rest of centerx does not need them.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor, nn

from .graph import ExportGraph

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
    the ``onnxscript`` package) and checks the written model with ``onnx.checker``.

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
    with torch.no_grad(), warnings.catch_warnings():
        # shapes (B, H, W, K) become constants of the graph on purpose: a static graph
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        torch.onnx.export(graph, graph.example_inputs(), path, input_names=graph.input_names,
                          output_names=output_names, opset_version=opset, dynamic_axes=dynamic_axes,
                          dynamo=False)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    return ExportedModel(path=str(path), input_names=[i.name for i in proto.graph.input],
                         output_names=output_names, graph=graph)


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
    """Largest absolute difference per output between onnxruntime and the PyTorch graph on ``inputs``
    (integer outputs: the number of differing entries)."""
    with torch.no_grad():
        ref = exported.graph(*inputs)
    got = run_onnxruntime(exported.path, feeds_of(exported.graph.input_names, inputs))
    diffs = {}
    for name, value in zip(exported.output_names, ref):
        a, b = value.detach().cpu().numpy(), got[name]
        if a.shape != b.shape:
            raise ValueError(f'output {name}: PyTorch gives shape {a.shape}, onnxruntime {b.shape}')
        if np.issubdtype(a.dtype, np.integer) or a.dtype == np.bool_:
            diffs[name] = float((a != b).sum())
        else:
            diffs[name] = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if a.size else 0.0
    return diffs
