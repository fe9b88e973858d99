"""What ``--show-dir`` reports: drawn and under-threshold counts, a threshold to try when pictures
are blank, and only the heads an image's source annotates."""
from __future__ import annotations

import torch
from mmengine.structures import InstanceData

from centerx.engine.show_stats import ShowStats, drawn_heads
from centerx.structures import DetSample, ImageMeta


class TwoHeads:
    """Stands in for the model: head ``boxes`` holds dataset labels 0, 1; head ``people`` label 2."""

    @staticmethod
    def head_to_dataset(name: str) -> torch.Tensor:
        return torch.tensor([0, 1] if name == 'boxes' else [2])


def sample(scores_boxes, scores_people, annotated=None) -> DetSample:
    meta = ImageMeta(img_id=0, img_path='a.png', ori_shape=(8, 8), img_shape=(8, 8), pad_shape=(8, 8))
    s = DetSample(meta=meta, annotated_labels=annotated)
    s.preds['boxes'] = InstanceData(scores=torch.tensor(scores_boxes))
    s.preds['people'] = InstanceData(scores=torch.tensor(scores_people))
    return s


def test_only_the_heads_of_the_source_are_drawn() -> None:
    assert drawn_heads(TwoHeads(), sample([0.5], [0.5])) == ['boxes', 'people']
    assert drawn_heads(TwoHeads(), sample([0.5], [0.5], annotated=(2,))) == ['people']
    assert drawn_heads(TwoHeads(), sample([0.5], [0.5], annotated=(1, 0))) == ['boxes']


def test_counts_and_the_threshold_to_try() -> None:
    stats = ShowStats(0.3)
    for s in (sample([0.5, 0.2], [0.9], annotated=(0,)), sample([0.1, 0.12], [0.8], annotated=(0,))):
        stats.add(s, drawn_heads(TwoHeads(), s))
    text = stats.summary('out')
    assert text.splitlines()[0] == ("--show-dir: 2 pictures in out; 1 predictions drawn (score > --show-score-thr 0.3), "
                                    "3 under it; heads ['people'] not drawn on images whose source does not annotate "
                                    "their classes")
    assert text.splitlines()[1] == ('--show-dir: 1 of 2 pictures show no prediction (their best score was 0.120); '
                                    'lower the threshold, e.g. --show-score-thr 0.06')
    empty = ShowStats(0.3)
    empty.add(sample([], []), ['boxes', 'people'])
    assert empty.summary('out').endswith('(no predictions at all); the model predicts nothing to draw')
