"""Dump predictions to a pickle file (``tools/test.py --out``)."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

from mmengine.evaluator import BaseMetric
from mmengine.fileio import dump

from centerx.registry import METRICS


@METRICS.register_module()
class DumpDetResults(BaseMetric):
    """Write one plain dict per image: ``img_id``, ``img_path``, ``ori_shape`` and ``preds``
    (``{head: {field: numpy array}}`` in original-image coordinates), in dataset order."""

    def __init__(self, out_file_path: str, collect_device: str = 'cpu') -> None:
        super().__init__(collect_device=collect_device)
        if not out_file_path.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl or .pickle file, got {out_file_path}')
        self.out_file_path = out_file_path

    def process(self, data_batch: Any, data_samples: Sequence) -> None:
        for s in data_samples:
            self.results.append({
                'img_id': s.meta.img_id, 'img_path': s.meta.img_path, 'ori_shape': tuple(s.meta.ori_shape),
                'preds': {head: {k: v.cpu().numpy() for k, v in p.items()} for head, p in s.preds.items()},
            })

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        dump(results, self.out_file_path)
        return {}
