"""The step every metric's ``process`` shares: one image's predictions of one field, as numpy.

A metric declares the prediction field it evaluates as a class attribute,
``prediction_field = 'bboxes'`` (``None`` for metrics that evaluate no field, such as
:class:`~centerx.evaluation.DumpDetResults`). The build-time checks
(:mod:`centerx.engine.consistency`) read it to refuse, before any iteration, a metric whose
field no head of the model provides; :func:`gather_predictions` refuses, per image, results
that lack it, so such a metric raises instead of reporting AP 0.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from centerx.utils import log, to_numpy

#: ``None`` in a shape: any size along that axis (but the same for every head of an image)
Shape = Tuple[Optional[int], ...]


class MissingPredictionsError(ValueError):
    """A metric got an image whose predictions hold no head with the metric's field."""


@dataclass(frozen=True)
class OptionalField:
    """A field a metric reads when a head predicts it, and fills in for heads that do not.

    Attributes:
        shape: shape of one detection's value, e.g. ``(2,)``; ``None`` entries match any size.
        dtype: numpy dtype of the gathered values.
        default: ``main field values (D, ...) -> (D, *shape)`` values for a head without it.
    """

    shape: Shape
    dtype: Any
    default: Callable[[np.ndarray], np.ndarray]


def prediction_field_of(metric: Any) -> Optional[str]:
    """The prediction field a metric declares (``prediction_field``), or None."""
    return getattr(metric, 'prediction_field', None)


def _array(value: Any, dtype: Any, shape: Shape, what: str) -> np.ndarray:
    """``value`` as a (D, *shape) array of ``dtype``; raise naming ``what`` when the shape differs."""
    arr = to_numpy(value).astype(dtype)
    if arr.size == 0 and None not in shape:  # an empty (0,) from a head that found nothing
        arr = arr.reshape((0, *shape))
    expected = '(D, ' + ', '.join('*' if s is None else str(s) for s in shape) + ')'
    if arr.ndim != 1 + len(shape) or any(s is not None and a != s for a, s in zip(arr.shape[1:], shape)):
        raise ValueError(f'{what} must be {expected}, got shape {tuple(arr.shape)}')
    return arr


def _concat(parts: List[np.ndarray], heads: Sequence[str], what: str) -> np.ndarray:
    trailing = {p.shape[1:] for p in parts}
    if len(trailing) > 1:
        raise ValueError(f'{what}: heads {list(heads)} predict different shapes '
                         f'{[tuple(p.shape[1:]) for p in parts]}')
    return np.concatenate(parts)


def gather_predictions(sample: Any, field: str, shape: Shape, num_classes: int, metric: str,
                       optional: Optional[Mapping[str, OptionalField]] = None) -> Dict[str, np.ndarray]:
    """One image's detections of every head that predicts ``field``, checked, as numpy.

    Args:
        sample: a :class:`~centerx.structures.DetSample` with ``preds`` (head -> InstanceData
            with ``scores`` (D,), ``labels`` (D,) and the decoded fields).
        field: the prediction field the metric evaluates, e.g. ``'bboxes'``.
        shape: shape of one detection's ``field`` value, e.g. ``(4,)``; ``None`` = any size.
        num_classes: labels must be in ``[0, num_classes)``.
        metric: the metric's name, for the messages.
        optional: further fields read where a head predicts them (see :class:`OptionalField`).

    Returns:
        ``{field: (D, *shape) float64, <optional>: (D, ...), 'scores': (D,) float64,
        'labels': (D,) int64}`` over the heads that predict ``field``, in head order.
        Detections with a non-finite value in a float field or score are dropped, with a
        warning that counts them.

    Raises:
        MissingPredictionsError: no head of the image predicts ``field`` (a model without
            a task that provides it, or results that lost it).
        ValueError: a head's fields disagree in length or shape, heads disagree in shape,
            or a label is not a class index.
    """
    optional = dict(optional or {})
    img_id = sample.meta.img_id
    heads = [name for name, pred in sample.preds.items() if field in pred]
    if not heads:
        found = {name: sorted(pred.keys()) for name, pred in sample.preds.items()}
        raise MissingPredictionsError(
            f'{metric}: image {img_id} has no predictions of {field!r} (predictions per head: {found}); the '
            f'metric evaluates {field!r}, so the model needs a task that provides it')
    columns: Dict[str, List[np.ndarray]] = {key: [] for key in (field, *optional, 'scores', 'labels')}
    for name in heads:
        pred = sample.preds[name]
        where = f'{metric}: image {img_id} head {name!r}'
        main = _array(pred.get(field), np.float64, shape, f'{where} {field}')
        columns[field].append(main)
        for key, spec in optional.items():
            value = pred.get(key) if key in pred else spec.default(main)
            columns[key].append(_array(value, spec.dtype, spec.shape, f'{where} {key}'))
        columns['scores'].append(to_numpy(pred.scores, np.float64).reshape(-1))
        columns['labels'].append(to_numpy(pred.labels).astype(np.int64).reshape(-1))
        lengths = {key: len(col[-1]) for key, col in columns.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f'{where}: fields disagree in length: '
                             + ', '.join(f'{n} {key}' for key, n in lengths.items()))
    out = {key: _concat(col, heads, f'{metric}: image {img_id} {key}') for key, col in columns.items()}
    labels = out['labels']
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(f'{metric}: image {img_id}: predicted label(s) {sorted(set(labels[bad].tolist()))} '
                         f'are not class indices of the {num_classes} classes')
    finite = np.ones(len(labels), bool)
    for key, values in out.items():
        if values.dtype.kind == 'f':
            finite &= np.isfinite(values).reshape(len(values), int(np.prod(values.shape[1:]))).all(axis=1)
    if not finite.all():
        log(f'{metric}: image {img_id}: dropped {int((~finite).sum())} detections with non-finite '
            + ', '.join(k for k, v in out.items() if v.dtype.kind == 'f'), logging.WARNING)
        out = {key: values[finite] for key, values in out.items()}
    return out
