"""The process step shared by the metrics: one image's predictions of one field, checked."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from centerx.evaluation import MissingPredictionsError, OptionalField, gather_predictions
from centerx.structures import DetSample, ImageMeta


def head(n: int, **fields) -> InstanceData:
    return InstanceData(scores=torch.linspace(1, 0.5, n), labels=torch.zeros(n, dtype=torch.long), **fields)


def image(**preds) -> DetSample:
    return DetSample(meta=ImageMeta(img_id=7, img_path='', ori_shape=(10, 10)), preds=preds)


VELOCITY = OptionalField(shape=(2,), dtype=np.float64, default=lambda v: np.full((len(v), 2), -5.0))


def test_heads_with_the_field_are_concatenated_and_optional_fields_filled():
    sample = image(a=head(2, boxes=torch.ones(2, 3), velocities=torch.zeros(2, 2)),
                   other=head(4, polygons=torch.zeros(4, 8)),
                   b=head(1, boxes=torch.full((1, 3), 2.0)))
    out = gather_predictions(sample, 'boxes', (3,), 1, 'M', optional=dict(velocities=VELOCITY))
    assert sorted(out) == ['boxes', 'labels', 'scores', 'velocities']
    np.testing.assert_array_equal(out['boxes'][:, 0], [1, 1, 2])
    np.testing.assert_array_equal(out['velocities'], [[0, 0], [0, 0], [-5, -5]])
    assert out['boxes'].dtype == np.float64 and out['labels'].dtype == np.int64


def test_missing_field_raises_with_the_fields_each_head_has():
    with pytest.raises(MissingPredictionsError, match=r"M: image 7 has no predictions of 'boxes' .*'other': "
                                                      r"\['labels', 'polygons', 'scores'\]"):
        gather_predictions(image(other=head(1, polygons=torch.zeros(1, 8))), 'boxes', (3,), 1, 'M')
    with pytest.raises(MissingPredictionsError):
        gather_predictions(image(), 'boxes', (3,), 1, 'M')


def test_empty_head_gives_empty_arrays():
    out = gather_predictions(image(a=head(0, boxes=torch.zeros(0))), 'boxes', (3,), 1, 'M')
    assert out['boxes'].shape == (0, 3) and out['scores'].shape == (0,)


def test_bad_inputs_name_the_image_head_and_field():
    with pytest.raises(ValueError, match=r"image 7 head 'a': fields disagree in length: 2 boxes, 3 scores"):
        gather_predictions(image(a=_mismatched()), 'boxes', (3,), 1, 'M')
    with pytest.raises(ValueError, match=r"image 7 head 'a' boxes must be \(D, 3\), got shape \(2, 4\)"):
        gather_predictions(image(a=head(2, boxes=torch.zeros(2, 4))), 'boxes', (3,), 1, 'M')
    with pytest.raises(ValueError, match=r'heads \[.a., .b.\] predict different shapes \[\(2, 3\), \(5, 3\)\]'):
        gather_predictions(image(a=head(1, kp=torch.zeros(1, 2, 3)), b=head(1, kp=torch.zeros(1, 5, 3))),
                           'kp', (None, 3), 1, 'M')
    with pytest.raises(ValueError, match=r'predicted label\(s\) \[2\] are not class indices of the 2 classes'):
        bad = head(1, boxes=torch.zeros(1, 3))
        bad.labels = torch.tensor([2])
        gather_predictions(image(a=bad), 'boxes', (3,), 2, 'M')


def _mismatched() -> InstanceData:
    """An InstanceData whose fields disagree (InstanceData itself refuses that on assignment)."""
    data = head(2, boxes=torch.zeros(2, 3))
    data._data_fields.discard('scores')
    object.__setattr__(data, 'scores', torch.zeros(3))
    data._data_fields.add('scores')
    return data


def test_non_finite_detections_are_dropped_and_counted(monkeypatch):
    messages = []
    monkeypatch.setattr('centerx.evaluation.predictions.log', lambda msg, level=0: messages.append(msg))
    boxes = torch.tensor([[0.0, 1, 2], [float('nan'), 1, 2], [0, 1, 2]])
    sample = image(a=head(3, boxes=boxes, velocities=torch.tensor([[0.0, 0], [0, 0], [float('inf'), 0]])))
    out = gather_predictions(sample, 'boxes', (3,), 1, 'M', optional=dict(velocities=VELOCITY))
    assert len(out['boxes']) == len(out['velocities']) == len(out['labels']) == 1
    assert messages == ['M: image 7: dropped 2 detections with non-finite boxes, velocities, scores']
