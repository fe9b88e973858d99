"""Predictions of one image as plain JSON values (what ``tools/demo.py`` writes)."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence

from centerx.structures import DetSample


def predictions_to_json(sample: DetSample, classes: Sequence[str], score_thr: float = 0.0) -> Dict[str, Any]:
    """``{'image': path, 'height': H, 'width': W, 'heads': {head: [detection, ...]}}`` with the
    detections scoring above ``score_thr``, best first: each ``{'label': int, 'class': name,
    'score': float, <field>: nested lists}`` with every decoded field (original-image pixels)."""
    heads: Dict[str, List[Dict[str, Any]]] = {}
    for head, pred in sample.preds.items():
        keep = (pred.scores > score_thr).nonzero().flatten().cpu()
        keep = keep[pred.scores.cpu()[keep].argsort(descending=True)]
        fields = [k for k in pred.keys() if k not in ('scores', 'labels')]
        values = {k: pred.get(k).detach().cpu()[keep].tolist() for k in fields}
        dets = []
        for row, i in enumerate(keep.tolist()):
            label = int(pred.labels[i])
            det: Dict[str, Any] = {'label': label, 'class': classes[label] if 0 <= label < len(classes) else str(label),
                                   'score': float(pred.scores[i])}
            det.update({k: values[k][row] for k in fields})
            dets.append(det)
        heads[head] = dets
    h, w = sample.meta.ori_shape
    return {'image': sample.meta.img_path, 'height': int(h), 'width': int(w), 'heads': heads}
