"""Export: a trained CenterNet with peak extraction and every task's decoding as one ONNX graph.

See docs/export.md. :class:`ExportGraph` is the traceable module; :func:`export_onnx` writes it;
:func:`prepare_image` prepares an image on the host the way the test pipeline does.
"""
from .graph import FIXED_INPUTS, ExportGraph, example_image_meta
from .host import inverse_resize_affine, prepare_image
from .to_onnx import DEFAULT_OPSET, ExportedModel, export_onnx, feeds_of, max_differences, run_onnxruntime

__all__ = ['DEFAULT_OPSET', 'ExportGraph', 'ExportedModel', 'FIXED_INPUTS', 'example_image_meta', 'export_onnx',
           'feeds_of', 'prepare_image', 'inverse_resize_affine', 'max_differences', 'run_onnxruntime']
