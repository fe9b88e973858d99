"""Keypoints under a horizontal flip: the annotation kind swaps left and right, and
``KeypointTask.flip_output_maps`` mirrors the maps of a flipped input back.

What holds on perfect maps (flipped sample -> ``flip_output_maps`` vs. unflipped sample):

- ``kp_heatmap``: equal everywhere (spatial mirror + pair channels swapped).
- ``kps``: equal at every person's peak cell, the only cells a decoder reads; its x channels
  map to ``1 - x`` (a cell's corner mirrors onto the *next* cell's corner), so the zeros a
  perfect map holds elsewhere come back as 1 there. Plain negation would be one cell off.
- ``kp_offset`` is not returned (sub-cell offsets are taken from the original image alone,
  as the base class asks); its mirror ``1 - x`` equals the unflipped map at every labeled
  keypoint's cell, as long as no keypoint lies exactly on a cell boundary.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import centerx_tasks.box2d.task  # noqa: F401  (registers Box2DTask)
import centerx_tasks.keypoints.task  # noqa: F401  (registers KeypointTask and the 'keypoints' kind)
from centerx.data.transforms import PackDetInputs, RandomFlip
from centerx.models import CenterNet
from centerx.structures import ImageMeta
from centerx.task import Grid, concat_instances
from centerx_tasks.box2d.task import Box2DTask
from centerx_tasks.keypoints.task import KeypointTask

NAMES = ['nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
         'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
         'right_knee', 'left_ankle', 'right_ankle']
PAIRS = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]
METAINFO = dict(keypoint_names=NAMES, flip_pairs=PAIRS)
H, W, STRIDE = 64, 96, 4
GRID = Grid(batch_size=1, shape=(H // STRIDE, W // STRIDE), stride=STRIDE, input_shape=(H, W))


def persons():
    """Two persons (non-integer grid centers) whose labeled keypoints all lie in distinct cells,
    off cell boundaries; a few are unlabeled."""
    rng = np.random.default_rng(0)
    boxes = np.array([[5.0, 3.0, 44.0, 61.0], [41.0, 7.0, 90.0, 62.0]], np.float32)
    kps = np.zeros((2, 17, 3), np.float32)
    used = set()
    for p, (x1, y1, x2, y2) in enumerate(boxes):
        cells = [(cx, cy) for cx in range(int(np.ceil(x1 / STRIDE)), int(x2 // STRIDE))
                 for cy in range(int(np.ceil(y1 / STRIDE)), int(y2 // STRIDE)) if (cx, cy) not in used]
        for j, c in enumerate(rng.choice(len(cells), 17, replace=False)):
            used.add(cells[c])
            frac = rng.uniform(0.1, 0.9, 2)
            kps[p, j] = [(cells[c][0] + frac[0]) * STRIDE, (cells[c][1] + frac[1]) * STRIDE, 1 + (j % 2)]
    kps[0, [0, 12], 2] = 0
    kps[1, 4, 2] = 0
    return boxes, kps


def results():
    boxes, kps = persons()
    return dict(img=np.zeros((H, W, 3), np.uint8),
                meta=ImageMeta(img_id=1, img_path='', ori_shape=(H, W), img_shape=(H, W), pad_shape=(H, W)),
                instances=dict(bboxes=boxes, labels=np.zeros(2, np.int64), ignore=np.zeros(2, bool),
                               keypoints=kps),
                metainfo=METAINFO)


def test_flip_relabels_left_and_right() -> None:
    original = results()
    kps = original['instances']['keypoints'].copy()
    flipped = RandomFlip(prob=1.0)(copy.deepcopy(original))['instances']['keypoints']
    lw, rw = NAMES.index('left_wrist'), NAMES.index('right_wrist')
    for p in range(2):
        np.testing.assert_allclose(flipped[p, lw], [W - kps[p, rw, 0], kps[p, rw, 1], kps[p, rw, 2]])
        np.testing.assert_allclose(flipped[p, rw], [W - kps[p, lw, 0], kps[p, lw, 1], kps[p, lw, 2]])
        np.testing.assert_allclose(flipped[p, 0], [W - kps[p, 0, 0], kps[p, 0, 1], kps[p, 0, 2]])  # nose stays


def perfect(task: KeypointTask, sample):
    gt = concat_instances([sample.gt])
    centers = Box2DTask().centers(gt, GRID)
    targets = task.encode(gt, centers, GRID)
    return task.perfect_maps(targets, centers, GRID), centers, targets


def test_flip_output_maps_restores_perfect_maps() -> None:
    task = KeypointTask(num_keypoints=17, flip_pairs=PAIRS)
    plain = PackDetInputs()(results())['data_samples']
    mirrored = PackDetInputs()(RandomFlip(prob=1.0)(results()))['data_samples']
    maps, centers, targets = perfect(task, plain)
    maps_f, centers_f, _ = perfect(task, mirrored)
    assert centers.valid.all() and centers_f.valid.all()
    # the peak cells mirror: c -> W - 1 - c
    assert (centers_f.xy_int[:, 0] == GRID.shape[1] - 1 - centers.xy_int[:, 0]).all()
    back = task.flip_output_maps(maps_f)
    assert set(back) == {'kp_heatmap', 'kps'}
    assert targets['kp_weight'].sum() == 31
    # kp_heatmap: equal everywhere
    torch.testing.assert_close(back['kp_heatmap'], maps['kp_heatmap'], atol=1e-5, rtol=0)
    assert torch.equal(torch.sigmoid(back['kp_heatmap']) > 0.5, torch.sigmoid(maps['kp_heatmap']) > 0.5)
    # kps: equal at the person cells for every labeled keypoint; y everywhere; x is 1 - 0 = 1
    # off the person cells (and for unlabeled keypoints, whose target 0 is a don't-care)
    cy, cx = centers.xy_int[:, 1], centers.xy_int[:, 0]
    labeled = targets['kps_weight'].T > 0  # (2K, persons)
    torch.testing.assert_close(back['kps'][0][:, cy, cx][labeled], maps['kps'][0][:, cy, cx][labeled],
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(back['kps'][:, 1::2], maps['kps'][:, 1::2])
    off_person = torch.ones(GRID.shape, dtype=torch.bool)
    off_person[cy, cx] = False
    assert (back['kps'][0, 0::2][:, off_person] == 1).all()
    # plain negation of x would be exactly one cell off
    negated = -maps_f['kps'].flip(-1).view(1, 17, 2, *GRID.shape)[:, task_perm()][:, :, 0]
    lab_x = labeled[0::2]
    torch.testing.assert_close(negated[0][:, cy, cx][lab_x] + 1, maps['kps'][0, 0::2][:, cy, cx][lab_x],
                               atol=1e-5, rtol=0)
    # kp_offset: mirrored as 1 - x (no channel swap: it is shared by all joints), equal at keypoint cells
    off_back = maps_f['kp_offset'].flip(-1)
    off_back = torch.cat([1 - off_back[:, :1], off_back[:, 1:]], dim=1)
    sel = targets['kp_weight'].reshape(-1) > 0
    cells = targets['kp_cells'].reshape(-1, 2)[sel]
    torch.testing.assert_close(off_back[0][:, cells[:, 1], cells[:, 0]],
                               maps['kp_offset'][0][:, cells[:, 1], cells[:, 0]], atol=1e-5, rtol=0)


def task_perm():
    from centerx_tasks.keypoints.annotation_kind import flip_permutation
    return flip_permutation(17, PAIRS)


def test_flip_output_maps_is_an_involution_on_heatmaps_and_kps() -> None:
    task = KeypointTask(num_keypoints=17, flip_pairs=PAIRS)
    g = torch.Generator().manual_seed(0)
    maps = {'kps': torch.randn(2, 34, 5, 7, generator=g), 'kp_heatmap': torch.randn(2, 17, 5, 7, generator=g),
            'kp_offset': torch.rand(2, 2, 5, 7, generator=g)}
    twice = task.flip_output_maps({**task.flip_output_maps(maps), 'kp_offset': maps['kp_offset']})
    torch.testing.assert_close(twice['kps'], maps['kps'])
    torch.testing.assert_close(twice['kp_heatmap'], maps['kp_heatmap'])
    # no pairs declared: channels stay, maps still mirror
    plain = KeypointTask(num_keypoints=3, flip_pairs=[])
    heat = torch.randn(1, 3, 4, 6, generator=g)
    out = plain.flip_output_maps({'kps': torch.zeros(1, 6, 4, 6), 'kp_heatmap': heat})
    torch.testing.assert_close(out['kp_heatmap'], heat.flip(-1))


def test_flip_tta_on_perfect_maps_decodes_the_same_keypoints() -> None:
    if not hasattr(CenterNet, 'merge_flipped'):
        pytest.skip('CenterNet.merge_flipped (flip test-time augmentation) is not available')
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                      neck=dict(type='DeconvNeck', out_channels=(8, 8, 8)),
                      heads=[dict(name='person', classes=['person'], head_conv=8,
                                  tasks=[dict(type='Box2DTask'),
                                         dict(type='KeypointTask', num_keypoints=17, flip_pairs=PAIRS)])],
                      classes=('person',)).eval()
    head = model.heads['person']

    def outputs(sample):
        gt = concat_instances([sample.gt], model.label_map('person'))
        centers = head.place_centers(gt, GRID)
        heat, _ = head.render(centers, GRID)
        out = {'heatmap': torch.logit(heat.clamp(1e-6, 1 - 1e-6))}
        for name, task in head.tasks.items():
            out[name] = task.perfect_maps(task.encode(gt, centers, GRID), centers, GRID)
        return {'person': out}

    plain = PackDetInputs()(results())['data_samples']
    mirrored = PackDetInputs()(RandomFlip(prob=1.0)(results()))['data_samples']
    out, out_f = outputs(plain), outputs(mirrored)
    ctx = CenterNet.decode_context(GRID, [plain], torch.device('cpu'))
    ref = model.decode_outputs(out, ctx)['person']
    got = model.decode_outputs(model.merge_flipped(out, out_f), ctx)['person']
    keep = ref['scores'] > 0.5
    assert keep.sum() == 2
    boxes, kps = persons()
    lab = kps[:, :, 2] > 0
    order = [int(np.abs(ref['bboxes'][keep].numpy() - b).max(axis=1).argmin()) for b in boxes]
    # labeled keypoints decode the same with and without flip TTA (unlabeled ones regress a
    # don't-care 0 that mirrors to 1, so their average moves by half a cell)
    torch.testing.assert_close(got['keypoints'][keep][order][lab], ref['keypoints'][keep][order][lab],
                               atol=1e-4, rtol=0)
    decoded = got['keypoints'][keep][order][..., :2].numpy()
    assert np.abs(decoded[lab] - kps[lab][:, :2]).max() < 1e-3
