"""Multi-scale test-time augmentation pieces: NMS and soft-NMS on hand-checked cases, the
config checks, the scaled views, and the model switch (off: the plain pass; one scale 1.0:
the same predictions; every scale: a merged list)."""
from __future__ import annotations

import math
from typing import Dict, List

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

import centerx_tasks  # noqa: F401  (registers the built-in tasks)
from centerx.models import CenterNet
from centerx.structures import DetSample, ImageMeta
from centerx.task import Task
from centerx.tta import (PAPER_SCALES, box_iou, merge_by_overlap, nms, parse_merge, parse_scales, scaled_view,
                         soft_nms)

# two boxes of class 0 overlapping by IoU 0.6, a third box of class 0 apart, a fourth of class 1
# on top of the first
BOXES = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 2.5, 10.0, 12.5], [20.0, 20.0, 30.0, 30.0], [0.0, 0.0, 10.0, 10.0]])
SCORES = torch.tensor([0.9, 0.8, 0.7, 0.6])
LABELS = torch.tensor([0, 0, 0, 1])


def test_box_iou_by_hand():
    iou = box_iou(BOXES, BOXES)
    assert iou[0, 1] == pytest.approx(75 / 125)  # 10 x 7.5 shared, union 200 - 75
    assert iou[0, 2] == 0 and iou[0, 3] == 1 and torch.allclose(iou, iou.T)
    empty = torch.tensor([[5.0, 5.0, 5.0, 5.0]])
    assert box_iou(empty, empty)[0, 0] == 0  # no union: no overlap


def test_nms_is_class_wise_and_greedy():
    iou = box_iou(BOXES, BOXES)
    assert nms(iou, SCORES, LABELS, iou_thr=0.5).tolist() == [0, 2, 3]  # box 3 is another class
    assert nms(iou, SCORES, LABELS, iou_thr=0.7).tolist() == [0, 1, 2, 3]
    assert nms(iou, SCORES, torch.zeros(4, dtype=torch.long), iou_thr=0.5).tolist() == [0, 2]
    # a suppressed box suppresses nothing: 0 drops 1, so 2 (overlapping only 1) stays
    chain = torch.tensor([[1.0, 0.6, 0.0], [0.6, 1.0, 0.6], [0.0, 0.6, 1.0]])
    assert nms(chain, torch.tensor([0.9, 0.8, 0.7]), torch.zeros(3, dtype=torch.long), 0.5).tolist() == [0, 2]
    # NaN overlap suppresses (the DOTA devkit's rule)
    nan = torch.tensor([[1.0, float('nan')], [float('nan'), 1.0]])
    assert nms(nan, torch.tensor([0.5, 0.9]), torch.zeros(2, dtype=torch.long), 0.5).tolist() == [1]


def greedy_reference(iou: np.ndarray, scores: np.ndarray, labels: np.ndarray, thr: float) -> list:
    """Textbook greedy NMS, one candidate at a time."""
    kept: list = []
    for j in sorted(range(len(scores)), key=lambda i: -scores[i]):
        if all(labels[i] != labels[j] or iou[i, j] <= thr for i in kept):
            kept.append(j)
    return kept


def test_nms_matches_the_textbook_loop_on_crowded_boxes():
    gen = torch.Generator().manual_seed(2)
    lo = torch.rand(300, 2, generator=gen) * 60
    boxes = torch.cat([lo, lo + 10 + torch.rand(300, 2, generator=gen) * 30], dim=1)
    scores, labels = torch.rand(300, generator=gen), torch.randint(0, 3, (300,), generator=gen)
    iou = box_iou(boxes, boxes)
    for thr in (0.2, 0.5, 0.8):
        got = nms(iou, scores, labels, thr).tolist()
        assert got == greedy_reference(iou.numpy(), scores.numpy(), labels.numpy(), thr)
        assert 10 < len(got) < 300


def test_soft_nms_decays_by_overlap():
    iou = box_iou(BOXES, BOXES)
    keep, scores = soft_nms(iou, SCORES, LABELS, method='gaussian', sigma=0.5)
    assert keep.tolist() == [0, 2, 3, 1]
    torch.testing.assert_close(scores, torch.tensor([0.9, 0.7, 0.6, 0.8 * math.exp(-0.36 / 0.5)]))
    keep, scores = soft_nms(iou, SCORES, LABELS, method='linear', iou_thr=0.5)
    assert keep.tolist() == [0, 2, 3, 1]
    torch.testing.assert_close(scores[-1], torch.tensor(0.8 * 0.4))
    keep, _ = soft_nms(iou, SCORES, LABELS, method='linear', iou_thr=0.7)  # 0.6 <= thr: no decay
    assert keep.tolist() == [0, 1, 2, 3]
    keep, _ = soft_nms(iou, SCORES, LABELS, method='gaussian', sigma=0.5, min_score=0.65)
    assert keep.tolist() == [0, 2]  # 0.6 and the decayed 0.8 * 0.49 fall below min_score
    with pytest.raises(ValueError, match='method'):
        soft_nms(iou, SCORES, LABELS, method='hard')
    with pytest.raises(ValueError, match=r'overlap \(N, N\)'):
        nms(iou[:3], SCORES, LABELS, 0.5)


def test_merge_by_overlap_keeps_every_field_and_caps():
    dets = InstanceData(bboxes=BOXES, scores=SCORES, labels=LABELS, extra=torch.arange(4) * 10)
    out = merge_by_overlap(dets, box_iou(BOXES, BOXES), parse_merge(dict(type='nms', max_per_img=2), topk=100))
    assert out.extra.tolist() == [0, 20] and out.scores.tolist() == pytest.approx([0.9, 0.7])
    out = merge_by_overlap(dets, box_iou(BOXES, BOXES), parse_merge(None, topk=100))
    assert out.extra.tolist() == [0, 20, 30, 10] and float(out.scores[-1]) < 0.8
    empty = dets[torch.zeros(4, dtype=torch.bool)]
    for kind in ('nms', 'soft_nms'):
        out = merge_by_overlap(empty, box_iou(empty.bboxes, empty.bboxes), parse_merge(dict(type=kind), topk=100))
        assert len(out) == 0 and out.bboxes.shape == (0, 4)


def test_config_checks():
    assert parse_scales(None) is None and parse_scales([1, 0.5]) == (1.0, 0.5)
    for bad in [(), (0.5, 0.0), (1.0, 1.0), 'abc', (float('inf'),)]:
        with pytest.raises(ValueError, match='scales'):
            parse_scales(bad)
    cfg = parse_merge(None, topk=64)
    assert (cfg.type, cfg.method, cfg.sigma, cfg.max_per_img) == ('soft_nms', 'gaussian', 0.5, 64)
    for bad, word in [(dict(type='wbf'), 'type'), (dict(type='nms', sigma=0.5), 'unknown keys'),
                      (dict(method='hard'), 'method'), (dict(iou_thr=1.5), 'out of range')]:
        with pytest.raises(ValueError, match=word):
            parse_merge(bad, topk=100)


def meta(h: int, w: int) -> ImageMeta:
    m = ImageMeta(img_id=0, img_path='', ori_shape=(h * 2, w * 2), img_shape=(h, w), pad_shape=(h, w))
    m.affine = np.diag([0.5, 0.5, 1.0])
    return m


def test_scaled_view_resizes_and_records_the_scale():
    inputs = torch.zeros(1, 3, 64, 96)
    inputs[..., 16:32, 40:48] = 1.0  # a block at x 40-48, y 16-32
    pad = torch.full((3, 1, 1), -7.0)
    sample = DetSample(meta=meta(60, 96))
    same = scaled_view(inputs, [sample], 1.0, 32, pad)
    assert same.inputs is inputs and same.samples[0] is sample
    view = scaled_view(inputs, [sample], 0.75, 32, pad)
    assert view.inputs.shape == (1, 3, 64, 96)  # 48 x 72 padded up to multiples of 32
    assert (view.inputs[..., 48:, :] == -7).all() and (view.inputs[..., :, 72:] == -7).all()
    block = view.inputs[0, 0, :48, :72] > 0.5
    ys, xs = torch.nonzero(block, as_tuple=True)
    assert (int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1) == (30, 36, 12, 24)  # x 0.75
    m = view.samples[0].meta
    np.testing.assert_allclose(m.affine, np.diag([0.375, 0.375, 1.0]))
    assert m.img_shape == (45, 72) and m.pad_shape == (64, 96) and m.ori_shape == (120, 192)
    assert sample.meta.affine[0, 0] == 0.5  # the original meta is untouched


def tiny_model(**test_cfg) -> CenterNet:
    torch.manual_seed(0)
    return CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)), neck=dict(type='DeconvNeck', out_channels=8),
                     heads=[dict(name='h', tasks=[dict(type='Box2DTask'),
                                                  dict(type='KeypointTask', num_keypoints=3, flip_pairs=[[1, 2]])],
                                 head_conv=8)],
                     classes=('a', 'b'), test_cfg=dict(topk=20, **test_cfg)).eval()


def predict(model: CenterNet) -> List[Dict[str, torch.Tensor]]:
    inputs = torch.randn(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))
    samples = [DetSample(meta=ImageMeta(img_id=i, img_path='', ori_shape=(64, 96), img_shape=(64, 96),
                                        pad_shape=(64, 96))) for i in range(2)]
    with torch.no_grad():
        out = model.predict(inputs, samples)
    return [{k: s.preds['h'].get(k) for k in s.preds['h'].keys()} for s in out]


def test_one_scale_of_one_is_the_plain_pass():
    plain, single = predict(tiny_model(flip=True)), predict(tiny_model(flip=True, scales=(1.0,)))
    for a, b in zip(plain, single):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_paper_scales_with_flip_merge_in_predict():
    model = tiny_model(flip=True, scales=PAPER_SCALES, tta_merge=dict(type='nms', iou_thr=0.5))
    plain = predict(tiny_model(flip=True))
    for pred, ref in zip(predict(model), plain):
        n = len(pred['scores'])
        assert 0 < n <= 20 and pred['keypoints'].shape == (n, 3, 3)
        assert (pred['scores'][:-1] >= pred['scores'][1:]).all()
        iou = box_iou(pred['bboxes'], pred['bboxes'])
        same = pred['labels'][:, None] == pred['labels'][None, :]
        assert not ((iou > 0.5) & same & ~torch.eye(n, dtype=torch.bool)).any()  # NMS held
        assert not torch.equal(pred['scores'], ref['scores'][:n])  # the other scales took part


class PointTask(Task):
    """A plugin's center task that decodes only points: no bboxes, no overlap of its own."""

    maps = {'offset': 2}
    requires = provides = ('points',)

    def centers(self, gt, grid):
        raise AssertionError('not called by these tests')


def test_a_head_that_cannot_merge_fails_at_build_time():
    kwargs = dict(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)), neck=dict(type='DeconvNeck', out_channels=8),
                  classes=('a',))
    CenterNet(heads=[dict(name='p', tasks=[PointTask()], head_conv=8)], **kwargs)  # fine without scales
    with pytest.raises(ValueError, match=r"PointTask \('task'\) cannot merge .*implement tta_overlap"):
        CenterNet(heads=[dict(name='p', tasks=[PointTask()], head_conv=8)], test_cfg=dict(scales=(0.5, 1.0)), **kwargs)
    with pytest.raises(ValueError, match='tta_merge'):
        CenterNet(heads=[dict(name='p', tasks=[dict(type='Box2DTask')], head_conv=8)],
                  test_cfg=dict(scales=(0.5, 1.0), tta_merge=dict(type='nms', sigma=1.0)), **kwargs)
