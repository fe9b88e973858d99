"""The keypoint round trip: persons -> pipeline -> targets -> perfect maps -> decode -> OKS AP 1.0.

A 'person' head carries ``Box2DTask`` then ``KeypointTask``. The center heatmap logits are
the logit of the rendered center heatmap, ``kp_heatmap`` the logit of the rendered keypoint
heatmaps, the other maps the tasks' ``perfect_maps``. Everything between the annotations
and the metric (warping, flip pairs, encoding, rendering, peak extraction, snapping,
mapping back through ``meta.affine``) must then be lossless: labeled keypoints decode to
within 1e-3 px, and pycocotools' keypoint evaluation gives OKS AP 1.0.

Test persons are drawn so that no two labeled keypoints of an image share a grid cell
(they would share one ``kp_offset``) and no two persons share a center cell (they would
share one peak), the two documented limits of the round trip. Nearby persons (centers one
and two cells apart, same joints in adjacent cells) are included on purpose.
"""
from __future__ import annotations

import contextlib
import io
from typing import Dict, List, Tuple

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

import centerx_tasks.box2d.task  # noqa: F401  (registers Box2DTask)
import centerx_tasks.keypoints.task  # noqa: F401  (registers KeypointTask and the 'keypoints' kind)
from centerx.data.transforms import CenterAffine, PackDetInputs, RandomFlip
from centerx.models import CenterNet
from centerx.structures import ImageMeta
from centerx.decode import extract_peaks
from centerx.task import DecodeContext, Grid, concat_instances

STRIDE = 4
COCO_NAMES = ['nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder', 'right_shoulder',
              'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
              'right_knee', 'left_ankle', 'right_ankle']
COCO_PAIRS = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]
COCO_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8], [7, 9],
                 [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]
COCO_SIGMAS = [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]
FIVE = dict(keypoint_names=['head', 'left_hand', 'right_hand', 'left_foot', 'right_foot'],
            flip_pairs=[[1, 2], [3, 4]], skeleton=[[1, 2], [1, 3], [1, 4], [1, 5]],
            sigmas=[0.5, 0.6, 0.6, 0.8, 0.8])
SEVENTEEN = dict(keypoint_names=COCO_NAMES, flip_pairs=COCO_PAIRS, skeleton=COCO_SKELETON,
                 sigmas=[s / 10 for s in COCO_SIGMAS])


def build_model(metainfo: dict, **task_kwargs) -> CenterNet:
    torch.manual_seed(0)
    kp = dict(type='KeypointTask', num_keypoints=len(metainfo['keypoint_names']),
              flip_pairs=metainfo['flip_pairs'], **task_kwargs)
    return CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                     neck=dict(type='DeconvNeck', out_channels=(8, 8, 8)),
                     heads=[dict(name='person', classes=['person'], head_conv=8,
                                 tasks=[dict(type='Box2DTask'), kp])],
                     classes=('person',)).eval()


# ---------------------------------------------------------------- persons
def nearby_persons(k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Three overlapping persons whose centers are one and two cells apart (stride 4: x = 81, 85,
    93 px), the first two with their same joints in adjacent cells, the third without keypoints
    (as COCO has them: it only counts for its box); and a fourth, far off, without labeled
    keypoints either."""
    boxes = np.array([[61.0, 50.0, 101.0, 150.0], [65.0, 52.0, 105.0, 148.0], [73.0, 48.0, 113.0, 152.0],
                      [181.0, 21.0, 231.0, 83.0]], np.float32)
    kps = np.zeros((4, k, 3), np.float32)
    for j in range(k):
        row = 54.5 + 5.5 * j  # a joint per row band, at least one cell apart
        kps[0, j] = [66.6 + 8.3 * (j % 3), row, 2]
        kps[1, j] = [70.9 + 8.3 * (j % 3), row + 0.7, 1 + j % 2]  # the neighbour's cell: one to the right
    return boxes, kps


def random_persons(rng: np.random.Generator, k: int, shape: Tuple[int, int], n: int,
                   used: set) -> Tuple[np.ndarray, np.ndarray]:
    """n persons with keypoints inside their boxes, in cells (of the unscaled stride-4 grid) that
    no other labeled keypoint of the image uses; ~15 % of the keypoints are unlabeled (v = 0)."""
    h, w = shape
    boxes, kps, centers = [], [], set()
    while len(boxes) < n:
        bw, bh = rng.uniform(44, 110), rng.uniform(60, 140)
        x1, y1 = rng.uniform(0, w - bw), rng.uniform(0, h - bh)
        center = (int((x1 + bw / 2) // STRIDE), int((y1 + bh / 2) // STRIDE))
        if center in centers:
            continue
        cells = [(cx, cy) for cx in range(int(np.ceil(x1 / STRIDE)), int((x1 + bw) // STRIDE))
                 for cy in range(int(np.ceil(y1 / STRIDE)), int((y1 + bh) // STRIDE)) if (cx, cy) not in used]
        labeled = rng.random(k) > 0.15
        if len(cells) < labeled.sum():
            continue
        pick = rng.choice(len(cells), size=int(labeled.sum()), replace=False)
        person = np.zeros((k, 3), np.float32)
        for j, c in zip(np.flatnonzero(labeled), pick):
            cx, cy = cells[c]
            used.add((cx, cy))
            frac = rng.uniform(0.1, 0.9, 2)
            person[j] = [(cx + frac[0]) * STRIDE, (cy + frac[1]) * STRIDE, rng.integers(1, 3)]
        centers.add(center)
        boxes.append([x1, y1, x1 + bw, y1 + bh])
        kps.append(person)
    return np.asarray(boxes, np.float32), np.asarray(kps, np.float32)


def make_images(metainfo: dict, shape: Tuple[int, int], num: int, seed: int) -> List[dict]:
    """``num`` images: the first holds the nearby persons, the others 2-4 random persons."""
    rng = np.random.default_rng(seed)
    k = len(metainfo['keypoint_names'])
    images = []
    for i in range(num):
        if i == 0:
            boxes, kps = nearby_persons(k)
        else:
            boxes, kps = random_persons(rng, k, shape, int(rng.integers(2, 5)), set())
        images.append(dict(img_id=i + 1, shape=shape, bboxes=boxes, keypoints=kps))
    return images


def sample_dict(image: dict, metainfo: dict) -> dict:
    h, w = image['shape']
    n = len(image['bboxes'])
    return dict(img=np.zeros((h, w, 3), np.uint8),
                meta=ImageMeta(img_id=image['img_id'], img_path='', ori_shape=(h, w), img_shape=(h, w),
                               pad_shape=(h, w)),
                instances=dict(bboxes=image['bboxes'].copy(), labels=np.zeros(n, np.int64),
                               ignore=np.zeros(n, bool), keypoints=image['keypoints'].copy()),
                metainfo=metainfo)


# ---------------------------------------------------------------- perfect outputs
def perfect_outputs(model: CenterNet, samples, grid) -> Dict[str, Dict]:
    head = model.heads['person']
    gt = concat_instances([s.gt for s in samples], model.label_map('person'))
    centers = head.place_centers(gt, grid)
    assert centers.count_collisions(grid) == 0
    heat, _ = head.render(centers, grid)
    out = {'heatmap': torch.logit(heat.clamp(1e-6, 1 - 1e-6))}
    for name, task in head.tasks.items():
        out[name] = task.perfect_maps(task.encode(gt, centers, grid), centers, grid)
    return {'person': out}


def prepare(model: CenterNet, images: List[dict], metainfo: dict, pipeline):
    """Run the pipeline; returns the batch's samples and its output grid.

    The inputs are square multiples of 32, so the grid is the input over the stride; the
    network itself is not run (``test_perfect_maps_have_the_head_shapes_and_the_model_trains`` checks the shapes).
    """
    samples = [PackDetInputs()(p_apply(pipeline, sample_dict(im, metainfo)))['data_samples'] for im in images]
    h, w = samples[0].meta.img_shape
    assert h % 32 == 0 and w % 32 == 0 and all(s.meta.img_shape == (h, w) for s in samples)
    grid = Grid(batch_size=len(samples), shape=(h // STRIDE, w // STRIDE), stride=STRIDE, input_shape=(h, w),
                metas=[s.meta for s in samples])
    return samples, grid


def decode_images(model: CenterNet, images: List[dict], metainfo: dict, pipeline, perturb=None):
    """Run the pipeline, decode perfect outputs; returns per image (scores, bboxes, keypoints)."""
    samples, grid = prepare(model, images, metainfo, pipeline)
    outputs = perfect_outputs(model, samples, grid)
    if perturb is not None:
        perturb(outputs['person'])
    ctx = CenterNet.decode_context(grid, samples, torch.device('cpu'))
    fields = model.decode_outputs(outputs, ctx)['person']
    return [(fields['scores'][i], fields['bboxes'][i], fields['keypoints'][i]) for i in range(len(images))]


def test_perfect_maps_have_the_head_shapes_and_the_model_trains() -> None:
    model = build_model(FIVE)
    images = [dict(img_id=1, shape=(64, 96), bboxes=np.array([[10.0, 10.0, 50.0, 60.0]], np.float32),
                   keypoints=np.tile(np.array([[20.0, 30.0, 2]], np.float32), (1, 5, 1)))]
    item = PackDetInputs()(sample_dict(images[0], FIVE))
    data = model.data_preprocessor(dict(inputs=[item['inputs']], data_samples=[item['data_samples']]))
    with torch.no_grad():
        feat = model.extract_feat(data['inputs'])
        real = model.heads['person'](feat)
    grid = model._grid(data['inputs'], feat, data['data_samples'])
    outputs = perfect_outputs(model, data['data_samples'], grid)['person']
    assert outputs['heatmap'].shape == real['heatmap'].shape
    for task in ('box2d', 'keypoints'):
        assert set(outputs[task]) == set(real[task])
        for name, value in outputs[task].items():
            assert value.shape == real[task][name].shape
    # and the model trains with the head: named, finite losses with gradients
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert {'loss_keypoints_kps', 'loss_keypoints_kp_heatmap', 'loss_keypoints_kp_offset'} <= set(losses)
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    branch = model.heads['person'].branches['keypoints__kp_heatmap']
    assert branch[-1].weight.grad is not None and torch.isfinite(branch[-1].weight.grad).all()


def p_apply(pipeline, results):
    for t in pipeline:
        results = t(results)
    return results


def keypoint_errors(images: List[dict], decoded) -> Tuple[float, int, int]:
    """Max |decoded - GT| over labeled keypoints of GT persons matched by box; persons, keypoints."""
    worst, persons, points = 0.0, 0, 0
    for image, (scores, bboxes, kps) in zip(images, decoded):
        keep = scores > 0.5
        bboxes, kps = bboxes[keep].numpy(), kps[keep].numpy()
        assert keep.sum() == len(image['bboxes'])  # one confident detection per person, no extras
        for box, gt in zip(image['bboxes'], image['keypoints']):
            match = np.abs(bboxes - box).max(axis=1)
            assert match.min() < 1e-2
            pred = kps[int(match.argmin())]
            lab = gt[:, 2] > 0
            persons += 1
            points += int(lab.sum())
            if lab.any():
                worst = max(worst, float(np.abs(pred[lab, :2] - gt[lab, :2]).max()))
    return worst, persons, points


def oks_ap(images: List[dict], decoded, metainfo: dict) -> float:
    """OKS AP of pycocotools' keypoint evaluation (GT json built here)."""
    k = len(metainfo['keypoint_names'])
    gt = dict(images=[], annotations=[], categories=[dict(id=1, name='person', supercategory='person',
                                                          keypoints=metainfo['keypoint_names'],
                                                          skeleton=metainfo['skeleton'])])
    dets = []
    for image, (scores, _, kps) in zip(images, decoded):
        h, w = image['shape']
        gt['images'].append(dict(id=image['img_id'], width=w, height=h, file_name=f'{image["img_id"]}.png'))
        for box, person in zip(image['bboxes'], image['keypoints']):
            x1, y1, x2, y2 = (float(v) for v in box)
            flat = np.where(person[:, 2:] > 0, person, 0).reshape(-1)
            gt['annotations'].append(dict(id=len(gt['annotations']) + 1, image_id=image['img_id'], category_id=1,
                                          bbox=[x1, y1, x2 - x1, y2 - y1], area=(x2 - x1) * (y2 - y1),
                                          iscrowd=0, num_keypoints=int((person[:, 2] > 0).sum()),
                                          keypoints=[float(v) for v in flat]))
        keep = scores > 0.5
        for score, person in zip(scores[keep].tolist(), kps[keep].numpy()):
            dets.append(dict(image_id=image['img_id'], category_id=1, score=score,
                             keypoints=[float(v) for v in person.reshape(-1)]))
    assert len(dets) > 0 and k > 0
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        result = coco.loadRes(dets)
        ev = COCOeval(coco, result, iouType='keypoints')
        ev.params.kpt_oks_sigmas = np.asarray(metainfo['sigmas'], np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


PIPELINES = {
    'identity': (lambda: [CenterAffine(input_size=(256, 256))], (256, 256)),
    'letterbox': (lambda: [CenterAffine(input_size=(256, 256))], (192, 256)),  # 32 px bands above/below
    'flip_letterbox': (lambda: [RandomFlip(prob=1.0), CenterAffine(input_size=(256, 256))], (192, 256)),
}


@pytest.mark.parametrize('metainfo', [SEVENTEEN, FIVE], ids=['k17', 'k5'])
@pytest.mark.parametrize('pipeline', list(PIPELINES))
def test_roundtrip_exact_and_oks_ap_one(metainfo: dict, pipeline: str) -> None:
    make_pipeline, shape = PIPELINES[pipeline]
    images = make_images(metainfo, shape, num=5, seed=len(metainfo['keypoint_names']))
    model = build_model(metainfo)
    decoded = decode_images(model, images, metainfo, make_pipeline())
    worst, persons, points = keypoint_errors(images, decoded)
    ap = oks_ap(images, decoded, metainfo)
    print(f'{pipeline} K={len(metainfo["keypoint_names"])}: {persons} persons, {points} labeled keypoints, '
          f'max error {worst:.2e} px, OKS AP {ap:.4f}')
    assert persons >= 10 and points >= 4 * len(metainfo['keypoint_names'])
    assert worst < 1e-3
    assert ap == 1.0


def test_snapping_restores_imprecise_regression() -> None:
    """With kps perturbed by up to 0.4 cells, snapping to the heatmap peaks recovers the exact
    keypoints; without snapping (or with the peaks below hm_threshold) the error stays."""
    metainfo = FIVE
    images = make_images(metainfo, (256, 256), num=1, seed=0)  # the nearby persons

    def noisy(out):
        g = torch.Generator().manual_seed(0)
        kps = out['keypoints']['kps']
        kps += (torch.rand(kps.shape, generator=g) - 0.5) * 0.8 * (kps != 0)

    pipeline = [CenterAffine(input_size=(256, 256))]
    worst, _, _ = keypoint_errors(images, decode_images(build_model(metainfo), images, metainfo, pipeline, noisy))
    assert worst < 1e-3
    off = build_model(metainfo, snap_to_heatmap=False)
    worst_off, _, _ = keypoint_errors(images, decode_images(off, images, metainfo, pipeline, noisy))
    assert 0.3 < worst_off <= 0.4 * STRIDE + 1e-4

    def noisy_and_weak(out):
        noisy(out)
        out['keypoints']['kp_heatmap'].fill_(-3.0)  # sigmoid 0.047 < hm_threshold 0.1

    decoded = decode_images(build_model(metainfo), images, metainfo, pipeline, noisy_and_weak)
    worst_weak, _, _ = keypoint_errors(images, decoded)
    assert worst_weak > 0.3
    scores, _, kps = decoded[0]
    keep = scores > 0.5
    # regressed keypoints carry the person's score
    torch.testing.assert_close(kps[keep][..., 2], scores[keep][:, None].expand(-1, 5))


def test_snapping_falls_back_without_boxes() -> None:
    """Without a sibling's ``bboxes`` the extent of the regressed keypoints bounds the snap."""
    metainfo = FIVE
    images = make_images(metainfo, (256, 256), num=3, seed=1)
    model = build_model(metainfo)
    task = model.heads['person'].tasks['keypoints']
    samples, grid = prepare(model, images, metainfo, [CenterAffine(input_size=(256, 256))])
    out = perfect_outputs(model, samples, grid)['person']
    peaks = extract_peaks(torch.sigmoid(out['heatmap']), 100)
    ctx = CenterNet.decode_context(grid, samples, torch.device('cpu'))
    kps = task.decode(out['keypoints'], peaks, ctx)['keypoints']  # ctx.decoded is empty
    boxes = model.heads['person'].tasks['box2d'].decode(out['box2d'], peaks, ctx)['bboxes']
    decoded = [(peaks.scores[i], boxes[i], kps[i]) for i in range(len(images))]
    worst, _, _ = keypoint_errors(images, decoded)
    assert worst < 1e-3


def test_decode_is_traceable() -> None:
    """Decoding has no data-dependent Python branches: it traces, and the trace agrees."""
    metainfo = FIVE
    model = build_model(metainfo)
    task = model.heads['person'].tasks['keypoints']
    g = torch.Generator().manual_seed(0)
    maps = {name: torch.randn(2, c, 16, 16, generator=g) for name, c in task.maps.items()}
    heat = torch.randn(2, 1, 16, 16, generator=g)
    boxes = torch.rand(2, 20, 4, generator=g) * 64
    boxes = torch.cat([boxes[..., :2], boxes[..., :2] + 8], -1)
    inv = torch.eye(3).repeat(2, 1, 1)
    inv[1, 0] = torch.tensor([-1.0, 0.0, 64.0])  # the second image is mirrored


    def run(heat, kps, kp_heatmap, kp_offset, boxes, inv):
        grid = Grid(batch_size=2, shape=(16, 16), stride=4, input_shape=(64, 64))
        ctx = DecodeContext(grid=grid, inverse_affine=inv, decoded={'bboxes': boxes})
        peaks = extract_peaks(torch.sigmoid(heat), 20)
        return task.decode(dict(kps=kps, kp_heatmap=kp_heatmap, kp_offset=kp_offset), peaks, ctx)['keypoints']

    args = (heat, maps['kps'], maps['kp_heatmap'], maps['kp_offset'], boxes, inv)
    traced = torch.jit.trace(run, args, check_trace=False)
    eager = run(*args)
    assert eager.shape == (2, 20, 5, 3)
    torch.testing.assert_close(traced(*args), eager)
