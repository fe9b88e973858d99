"""The tutorial's plugin (docs/examples/circles) works against centerx's public API as it is.

1. ``tools/train.py`` trains the plugin's config (loaded with ``custom_imports``) from a
   fresh working directory, evaluates it and writes a checkpoint.
2. In process: the plugin registers its task, kind, kernel, dataset and metric; the round
   trip dataset -> pipeline -> encode -> perfect maps -> decode gives the circles back and
   the metric AP 1.0; the ``circles`` annotation kind and ``flip_output_maps`` agree.
3. Nothing under ``centerx/`` or ``tasks/`` knows about the plugin.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from centerx.data.annotation_kinds import WarpContext, warp_instances
from centerx.data.geometry import center_scale_affine, hflip_matrix, warp_image
from centerx.data.transforms import CenterAffine, LoadImage, PackDetInputs, RandomFlip
from centerx.decode import Peaks
from centerx.models import CenterNet
from centerx.registry import ANNOTATION_KINDS, DATASETS, KERNELS, METRICS, TASKS
from centerx.structures import DetSample, ImageMeta
from centerx.task import DecodeContext, Grid, concat_instances

REPO = Path(__file__).resolve().parents[2]
PLUGIN_DIR = REPO / 'docs' / 'examples' / 'circles'
CONFIG = PLUGIN_DIR / 'circles_synthetic.py'
HEAD = 'discs'
CLASSES = ('red', 'green', 'blue')


@pytest.fixture(scope='module')
def plugin():
    """The plugin, imported the way ``custom_imports`` imports it (a top-level package on the path)."""
    if str(PLUGIN_DIR) not in sys.path:
        sys.path.insert(0, str(PLUGIN_DIR))
    import centerx_circles
    return centerx_circles


@pytest.fixture(scope='module')
def circles_data(plugin, tmp_path_factory) -> Dict[str, str]:
    from centerx_circles.synthetic import ensure_synthetic_circles
    root = tmp_path_factory.mktemp('circles') / 'data'
    return ensure_synthetic_circles(str(root), num_train=0, num_val=16, image_size=(128, 128), seed=0)


def build_model(kernel: dict | None = None, tasks: List[dict] | None = None, **test_cfg) -> CenterNet:
    torch.manual_seed(0)
    head = dict(name=HEAD, tasks=tasks or [dict(type='CircleTask')], head_conv=8,
                kernel=kernel or dict(type='DiscIoUGaussian'))
    return CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                     neck=dict(type='DeconvNeck', out_channels=8), heads=[head], classes=CLASSES,
                     test_cfg=dict(topk=50, **test_cfg)).eval()


def grid_of(inputs: torch.Tensor, samples: List[DetSample]) -> Grid:
    H, W = inputs.shape[-2:]
    return Grid(batch_size=inputs.shape[0], shape=(H // 4, W // 4), stride=4, input_shape=(H, W),
                metas=[s.meta for s in samples])


def perfect_outputs(model: CenterNet, samples: List[DetSample], grid: Grid):
    """Network outputs that hold exactly the targets: logit(rendered heatmap) and every task's perfect maps."""
    head = model.heads[HEAD]
    gt = concat_instances([s.gt for s in samples], model.label_map(HEAD))
    centers = head.place_centers(gt, grid)
    heat, _ = head.render(centers, grid)
    out = {'heatmap': torch.logit(heat.clamp(1e-6, 1 - 1e-6))}
    for name, task in head.tasks.items():
        out[name] = task.perfect_maps(task.encode(gt, centers, grid), centers, grid)
    return {HEAD: out}, centers


def batch(model: CenterNet, items) -> dict:
    return model.data_preprocessor(dict(inputs=[it['inputs'] for it in items],
                                        data_samples=[it['data_samples'] for it in items]))


# --------------------------------------------------------------------------- 1. training
@pytest.mark.slow
def test_train_tool_runs_the_plugin_config(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(PLUGIN_DIR), OMP_NUM_THREADS='1')  # tools/train.py adds the repo itself
    small = [f'{loader}.dataset.generate_if_missing.{key}={value}'
             for loader in ('train_dataloader', 'val_dataloader') for key, value in (('num_train', 8), ('num_val', 4))]
    workers = [f'{loader}.{key}={value}' for loader in ('train_dataloader', 'val_dataloader')
               for key, value in (('num_workers', 0), ('persistent_workers', False))]
    proc = subprocess.run(
        [sys.executable, str(REPO / 'tools' / 'train.py'), str(CONFIG), '--work-dir', 'W', '--cfg-options',
         'train_cfg.max_iters=6', 'train_cfg.val_interval=6', 'train_dataloader.batch_size=4',
         'default_hooks.logger.interval=1', *workers, *small],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-6000:]
    assert 'circles/mAP' in log
    assert 'loss_circle_radius' in log and 'loss_circle_offset' in log
    ckpt = torch.load(tmp_path / 'W' / 'iter_6.pth', map_location='cpu', weights_only=False)
    assert {'heads.discs.branches.circle__radius.2.weight', 'heads.discs.branches.circle__offset.2.weight'} <= set(
        ckpt['state_dict'])
    assert (tmp_path / 'data' / 'circles' / 'val.json').is_file()  # generated relative to the cwd


# --------------------------------------------------------------------------- 2. in process
def test_the_test_kit_passes_the_plugin(plugin):
    """The tutorial's three-line use of centerx.testing (every check, behind Box2DTask)."""
    from centerx.testing import check_task
    check_task('CircleTask', behind=('Box2DTask',), classes=CLASSES)


def test_plugin_registers_everything(plugin):
    assert TASKS.get('CircleTask') is plugin.CircleTask
    assert DATASETS.get('CircleDataset') is plugin.CircleDataset
    assert METRICS.get('CircleAPMetric') is plugin.CircleAPMetric
    assert ANNOTATION_KINDS.get('circles') is plugin.CircleKind
    assert KERNELS.get('DiscIoUGaussian') is plugin.DiscIoUGaussian
    task = TASKS.build(dict(type='CircleTask', loss_weights=dict(radius=0.2)))
    assert task.loss_weights == {'radius': 0.2, 'offset': 1.0}
    assert task.places_centers and task.maps == {'radius': 1, 'offset': 2}


def test_task_round_trip_through_an_affine(plugin):
    """encode -> perfect_maps -> decode at the true peaks, mapped to original pixels through a
    scale-2 + shift affine: the original circles come back to 1e-3 px."""
    task = plugin.CircleTask()
    inv = torch.tensor([[[2.0, 0.0, 5.0], [0.0, 2.0, -3.0], [0.0, 0.0, 1.0]]])  # input px -> original px
    original = torch.tensor([[21.37, 40.01, 9.5], [101.9, 60.25, 14.2], [68.0, 10.5, 12.0]])
    to_input = torch.linalg.inv(inv[0].double()).float()
    xy = original[:, :2] @ to_input[:2, :2].T + to_input[:2, 2]
    gt = InstanceData(circles=torch.cat([xy, original[:, 2:] / 2], 1), labels=torch.tensor([0, 2, 1]),
                      ignore=torch.zeros(3, dtype=torch.bool))
    gt = concat_instances([gt])
    grid = Grid(batch_size=1, shape=(16, 16), stride=4, input_shape=(64, 64))
    centers = task.centers(gt, grid)
    assert centers.valid.all() and centers.count_collisions(grid) == 0
    maps = task.perfect_maps(task.encode(gt, centers, grid), centers, grid)
    cell = centers.xy_int
    peaks = Peaks(scores=torch.ones(1, 3), labels=gt.labels[None], xs=cell[None, :, 0], ys=cell[None, :, 1],
                  index=(cell[:, 1] * 16 + cell[:, 0])[None])
    decoded = task.decode(maps, peaks, DecodeContext(grid=grid, inverse_affine=inv))['circles'][0]
    assert (decoded - original).abs().max() < 1e-3


def test_rows_without_circles_and_empty_batches(plugin):
    """Images of another task (no ``circles``) and empty batches give finite losses and gradients."""
    task = plugin.CircleTask()
    grid = Grid(batch_size=2, shape=(8, 8), stride=4, input_shape=(32, 32))
    a = InstanceData(bboxes=torch.tensor([[1.0, 1.0, 9.0, 9.0]]), labels=torch.tensor([0]),
                     ignore=torch.tensor([False]))
    b = InstanceData(circles=torch.tensor([[12.0, 14.0, 5.0]]), bboxes=torch.tensor([[7.0, 9.0, 17.0, 19.0]]),
                     labels=torch.tensor([1]), ignore=torch.tensor([False]))
    for gts in ([a, b], [InstanceData(), InstanceData()]):
        gt = concat_instances(gts)
        centers = task.centers(gt, grid)
        preds = {name: torch.randn(2, c, 8, 8, requires_grad=True) for name, c in task.maps.items()}
        losses = task.loss(preds, task.encode(gt, centers, grid), centers, grid)
        assert set(losses) == {'loss_radius', 'loss_offset'}
        total = sum(losses.values())
        total.backward()
        assert torch.isfinite(total) and all(torch.isfinite(p.grad).all() for p in preds.values())
    assert centers.valid.sum() == 0


@pytest.mark.parametrize('order', [('Box2DTask', 'CircleTask'), ('CircleTask', 'Box2DTask')])
def test_circle_next_to_a_box_task_on_one_head(plugin, order):
    """Either task places the peaks; the other encodes from those peak cells and decodes exactly."""
    import centerx_tasks.box2d  # noqa: F401  (registers Box2DTask)
    model = build_model(tasks=[dict(type=t) for t in order])
    assert model.heads[HEAD].center_task == {'Box2DTask': 'box2d', 'CircleTask': 'circle'}[order[0]]
    circles = torch.tensor([[20.3, 30.7, 8.0], [41.1, 12.9, 6.5]])
    # boxes whose centers are not the disc centers: one task's offset leaves the other's peak cell
    boxes = torch.cat([circles[:, :2] - circles[:, 2:] + 3.0, circles[:, :2] + circles[:, 2:]], 1)
    gt = InstanceData(circles=circles, bboxes=boxes, labels=torch.tensor([0, 1]),
                      ignore=torch.zeros(2, dtype=torch.bool))
    sample = DetSample(meta=ImageMeta(img_id=1, img_path='', ori_shape=(64, 64), img_shape=(64, 64),
                                      pad_shape=(64, 64)), gt=gt)
    inputs = torch.zeros(1, 3, 64, 64)
    grid = grid_of(inputs, [sample])
    outputs, centers = perfect_outputs(model, [sample], grid)
    decoded = model.decode_outputs(outputs, CenterNet.decode_context(grid, [sample], inputs.device))[HEAD]
    keep = decoded['scores'][0] > 0.5
    assert keep.sum() == 2
    for field, truth in (('circles', circles), ('bboxes', boxes)):
        for row in truth:
            assert (decoded[field][0][keep] - row).abs().max(dim=1).values.min() < 1e-3, (field, row)


def test_loss_names_on_a_shared_head_and_on_separate_heads(plugin):
    """The loss names docs/writing_a_task.md promises for the two ways of attaching the task."""
    import centerx_tasks.box2d  # noqa: F401
    circles = torch.tensor([[20.3, 30.7, 8.0], [41.1, 12.9, 6.5]])
    boxes = torch.cat([circles[:, :2] - circles[:, 2:], circles[:, :2] + circles[:, 2:]], 1)
    gt = InstanceData(circles=circles, bboxes=boxes,
                      labels=torch.tensor([0, 1]), ignore=torch.zeros(2, dtype=torch.bool))
    sample = DetSample(meta=ImageMeta(img_id=1, img_path='', ori_shape=(64, 64), img_shape=(64, 64),
                                      pad_shape=(64, 64)), gt=gt)
    common = dict(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                  neck=dict(type='DeconvNeck', out_channels=8), classes=CLASSES)
    shared = CenterNet(heads=[dict(name='discs', tasks=[dict(type='Box2DTask'), dict(type='CircleTask')])], **common)
    assert set(shared.loss(torch.zeros(1, 3, 64, 64), [sample])) == {
        'loss_heatmap', 'loss_box2d_size', 'loss_box2d_offset', 'loss_circle_radius', 'loss_circle_offset'}
    separate = CenterNet(heads=[dict(name='reds', classes=('red',), tasks=[dict(type='Box2DTask')]),
                                dict(name='others', classes=('green', 'blue'), tasks=[dict(type='CircleTask')])],
                         **common)
    assert set(separate.loss(torch.zeros(1, 3, 64, 64), [sample])) == {
        'loss_reds_heatmap', 'loss_reds_box2d_size', 'loss_reds_box2d_offset',
        'loss_others_heatmap', 'loss_others_circle_radius', 'loss_others_circle_offset'}


def test_disc_kernel(plugin):
    """DiscIoUGaussian: the window is the largest shift keeping IoU >= min_iou (the numbers in the docs)."""
    from centerx.heatmap import CornerNetGaussian, build_kernel
    from centerx_circles.kernel import equal_disc_iou
    kernel = build_kernel(dict(type='DiscIoUGaussian', min_iou=0.5))
    assert kernel.k == pytest.approx(0.5299, abs=1e-4) and equal_disc_iou(kernel.k) == pytest.approx(0.5)
    assert build_kernel(dict(type='DiscIoUGaussian', min_iou=0.7)).k == pytest.approx(0.2781, abs=1e-4)
    sizes = torch.tensor([[3.0, 3.0], [5.0, 5.0], [8.0, 8.0], [12.0, 12.0], [20.0, 20.0], [float('nan')] * 2])
    shape = kernel(sizes)
    assert shape.radius[:, 0].tolist() == [0, 1, 2, 3, 5, 0] and torch.equal(shape.radius[:, 0], shape.radius[:, 1])
    assert shape.radius[:5, 0].tolist() == CornerNetGaussian()(sizes[:5]).radius[:, 0].tolist()
    torch.testing.assert_close(shape.inv_cov[:, 0], 36.0 / (2 * shape.radius[:, 0].float() + 1) ** 2)


def run_round_trip(plugin, data: Dict[str, str], pipeline) -> tuple:
    ds = plugin.CircleDataset(ann_file=data['val_ann_file'], data_prefix=dict(img=data['val_img_dir'] + '/'),
                              test_mode=True, serialize_data=False, pipeline=pipeline)
    model = build_model()
    metric = plugin.CircleAPMetric()
    metric.dataset_meta = ds.metainfo
    collisions = worst = num_gt = 0
    for start in range(0, len(ds), 4):
        idx = list(range(start, min(start + 4, len(ds))))
        data_batch = batch(model, [ds[i] for i in idx])
        inputs, samples = data_batch['inputs'], data_batch['data_samples']
        grid = grid_of(inputs, samples)
        outputs, centers = perfect_outputs(model, samples, grid)
        if start == 0:  # the perfect maps have the shapes of the real maps
            with torch.no_grad():
                real = model.heads[HEAD](model.extract_feat(inputs))
            assert outputs[HEAD]['heatmap'].shape == real['heatmap'].shape
            for name, value in outputs[HEAD]['circle'].items():
                assert value.shape == real['circle'][name].shape
        collisions += centers.count_collisions(grid)
        model.attach_predictions(model.decode_outputs(outputs, CenterNet.decode_context(grid, samples, inputs.device)),
                                 samples)
        for i, sample in zip(idx, samples):
            truth = torch.as_tensor(ds.get_data_info(i)['instances']['circles'])
            pred = sample.preds[HEAD]
            confident = pred.circles[pred.scores > 0.5]
            assert len(confident) == len(truth)
            num_gt += len(truth)
            for circle in truth:
                worst = max(worst, float((confident - circle).abs().max(dim=1).values.min()))
        metric.process(None, samples)
    return metric.compute_metrics(metric.results), collisions, worst, num_gt


@pytest.mark.parametrize('pipeline', [
    [LoadImage(), CenterAffine(input_size=(128, 128)), PackDetInputs()],
    [LoadImage(), RandomFlip(prob=1.0), CenterAffine(input_size=(192, 224)), PackDetInputs()],
], ids=['identity', 'flipped-letterbox'])
def test_dataset_round_trip_gives_the_circles_back_and_ap_1(plugin, circles_data, pipeline):
    metrics, collisions, worst, num_gt = run_round_trip(plugin, circles_data, pipeline)
    assert num_gt >= 30 and collisions == 0
    assert worst < 1e-3, worst
    assert metrics['mAP'] == 1.0 and all(metrics[f'AP_{c}'] == 1.0 for c in CLASSES), metrics


def test_annotation_kind_follows_the_image(plugin):
    """The warped annotation matches the warped pixels (centroid and area), for a mirror and for a
    rotated, scaled crop; the mirror is exact: x -> W - x, radius kept."""
    h, w = 96, 128
    circles = np.array([[40.3, 50.6, 14.0], [80.2, 35.1, 9.5]], np.float32)  # both inside the crop below
    img = np.zeros((h, w, 3), np.uint8)
    px, py = np.arange(w) + 0.5, np.arange(h) + 0.5
    for k, (cx, cy, r) in enumerate(circles):  # disc k in channel k
        img[..., k][(px[None] - cx) ** 2 + (py[:, None] - cy) ** 2 <= r * r] = 255
    flip = hflip_matrix(w)
    out = warp_instances({'circles': circles}, flip, WarpContext(out_shape=(h, w), flip=True))['circles']
    np.testing.assert_allclose(out, np.stack([w - circles[:, 0], circles[:, 1], circles[:, 2]], 1), atol=1e-5)
    crop = center_scale_affine((64, 48), 80, (160, 160), rotation_deg=30)  # scale 2, rotated 30 degrees
    for matrix, shape, warped in ((flip, (h, w), img[:, ::-1]), (crop, (160, 160), warp_image(img, crop, (160, 160)))):
        moved = warp_instances({'circles': circles}, matrix, WarpContext(out_shape=shape))['circles']
        ys, xs = np.mgrid[0:shape[0], 0:shape[1]] + 0.5
        for k, (cx, cy, r) in enumerate(moved):
            mask = warped[..., k] >= 128
            assert abs(xs[mask].mean() - cx) < 0.3 and abs(ys[mask].mean() - cy) < 0.3, (k, cx, cy)
            assert abs(mask.sum() / (math.pi * r * r) - 1) < 0.05, (k, mask.sum(), r)


def test_flip_output_maps_agrees_with_the_annotation_kind(plugin, circles_data):
    """Perfect maps of a mirrored sample, mirrored back by flip_output_maps, hold the original
    sample's radii at its peaks, and flip TTA on perfect outputs decodes the same circles.
    (A center on a cell edge in x moves to the next cell under a mirror; such objects are counted.)"""
    model = build_model()
    task = model.heads[HEAD].tasks['circle']
    common = dict(ann_file=circles_data['val_ann_file'], data_prefix=dict(img=circles_data['val_img_dir'] + '/'),
                  test_mode=True, serialize_data=False)
    plain = plugin.CircleDataset(pipeline=[LoadImage(), CenterAffine((128, 128)), PackDetInputs()], **common)
    mirrored = plugin.CircleDataset(pipeline=[LoadImage(), RandomFlip(prob=1.0), CenterAffine((128, 128)),
                                              PackDetInputs()], **common)
    checked = on_edge = 0
    for i in range(4):
        a, b = batch(model, [plain[i]]), batch(model, [mirrored[i]])
        assert torch.equal(b['inputs'], a['inputs'].flip(-1))
        grid = grid_of(a['inputs'], a['data_samples'])
        out, centers = perfect_outputs(model, a['data_samples'], grid)
        out_f, _ = perfect_outputs(model, b['data_samples'], grid)
        back = task.flip_output_maps(out_f[HEAD]['circle'])
        assert set(back) == {'radius'}
        inner = centers.valid & (centers.xy[:, 0] != torch.floor(centers.xy[:, 0]))
        on_edge += int((centers.valid & ~inner).sum())
        torch.testing.assert_close(centers.gather(back['radius'], grid)[inner],
                                   centers.gather(out[HEAD]['circle']['radius'], grid)[inner])
        ctx = CenterNet.decode_context(grid, a['data_samples'], a['inputs'].device)
        ref = model.decode_outputs(out, ctx)[HEAD]
        got = model.decode_outputs(model.merge_flipped(out, out_f), ctx)[HEAD]
        for circle in ref['circles'][0][ref['scores'][0] > 0.5]:
            if float(circle[0]) / 4 == math.floor(float(circle[0]) / 4):  # on a cell edge (identity affine)
                continue
            assert (got['circles'][0] - circle).abs().max(dim=1).values.min() < 1e-3
            checked += 1
    assert checked > 5, (checked, on_edge)


def test_metric_iou_and_ap(plugin):
    from centerx_circles.metric import area_ap, match_image
    from centerx_circles.iou import disc_iou
    a = np.array([[0.0, 0.0, 2.0]])
    assert disc_iou(a, a)[0, 0] == pytest.approx(1.0)
    assert disc_iou(a, np.array([[5.0, 0.0, 2.0]]))[0, 0] == 0.0
    assert disc_iou(a, np.array([[0.5, 0.0, 1.0]]))[0, 0] == pytest.approx(0.25)  # contained
    # lens: compare with a fine pixel count
    b = np.array([[1.5, 0.7, 1.6]])
    ys, xs = np.mgrid[-3:4:0.005, -3:4:0.005]
    in_a, in_b = xs ** 2 + ys ** 2 <= 4, (xs - 1.5) ** 2 + (ys - 0.7) ** 2 <= 1.6 ** 2
    assert disc_iou(a, b)[0, 0] == pytest.approx((in_a & in_b).sum() / (in_a | in_b).sum(), abs=2e-3)
    # a confident false positive before the only true positive halves the AP; a duplicate is a FP;
    # a detection of an ignored disc counts for nothing
    gt, ignore = np.array([[10.0, 10.0, 5.0], [40.0, 40.0, 5.0]]), np.array([False, True])
    det = np.array([[30.0, 10.0, 5.0], [10.0, 10.0, 5.0], [10.2, 10.0, 5.0], [40.0, 40.0, 5.0]])
    scores = np.array([0.9, 0.8, 0.7, 0.95])
    tp, fp = match_image(det, scores, gt, ignore, 0.5)
    assert tp.tolist() == [False, True, False, False] and fp.tolist() == [True, False, True, False]
    assert area_ap(tp, fp, scores, num_gt=1) == pytest.approx(0.5)


def test_dataset_errors_name_the_file_and_the_record(plugin, tmp_path):
    path = tmp_path / 'bad.json'
    images = [dict(id=1, file_name='a.png', height=8, width=8, circles=[dict(cx=1, cy=1, r=1, **{'class': 'red'})]),
              dict(id=7, file_name='b.png', height=8, width=8, circles=[dict(cx=1, cy=1, r=-2, **{'class': 'red'})])]
    path.write_text(json.dumps(dict(format='centerx-circles', version=1, classes=['red'], images=images)))
    with pytest.raises(ValueError, match=r'bad\.json: images\[1\] \(id 7\): circles\[0\]: r must be > 0'):
        plugin.read_circle_file(str(path))
    images[1]['circles'][0].update(r=2, **{'class': 'purple'})
    path.write_text(json.dumps(dict(format='centerx-circles', version=1, classes=['red'], images=images)))
    with pytest.raises(ValueError, match=r"images\[1\] \(id 7\): circles\[0\]: class 'purple'"):
        plugin.CircleDataset(ann_file=str(path))


def test_generator_is_deterministic_and_marks_completion(plugin, tmp_path):
    from centerx_circles.synthetic import MARKER, ensure_synthetic_circles
    a = ensure_synthetic_circles(str(tmp_path / 'a'), num_train=3, num_val=1, image_size=(64, 64), seed=5)
    b = ensure_synthetic_circles(str(tmp_path / 'b'), num_train=3, num_val=1, image_size=(64, 64), seed=5)
    files = sorted(p.relative_to(a['root']) for p in Path(a['root']).rglob('*') if p.is_file())
    assert Path(a['root'], MARKER) in [Path(a['root'], f) for f in files] and len(files) == 7
    for f in files:
        assert (Path(a['root']) / f).read_bytes() == (Path(b['root']) / f).read_bytes(), f
    assert ensure_synthetic_circles(str(tmp_path / 'a'), num_train=3, num_val=1, image_size=(64, 64), seed=5) == a
    (tmp_path / 'c').mkdir()
    (tmp_path / 'c' / 'stray.txt').write_text('x')
    with pytest.raises(FileExistsError, match='no .complete marker'):
        ensure_synthetic_circles(str(tmp_path / 'c'), num_train=1, num_val=1)


# --------------------------------------------------------------------------- 3. core untouched
def test_the_core_does_not_know_the_plugin(plugin):
    """No file under centerx/ or tasks/ names the plugin or its classes, and every registered
    circle or disc thing (task, kind, kernel, dataset, metric) comes from the plugin.

    (A bare grep for "circle" is not the check: the core's annotation-kind docstring uses a
    ``circles`` kind as its example, the visualizer calls ``cv2.circle`` and the box2d synthetic
    data has a shape class "circle".)"""
    names = ('centerx_circles', 'CircleTask', 'CircleDataset', 'CircleAPMetric', 'DiscIoUGaussian')
    hits = []
    for folder in ('centerx', 'tasks'):
        for path in (REPO / folder).rglob('*'):
            if path.is_file() and '__pycache__' not in path.parts:
                text = path.read_text(errors='ignore')
                hits += [f'{path.relative_to(REPO)}: {n}' for n in names if n in text]
    assert not hits, hits
    import centerx_tasks  # noqa: F401  (every built-in plugin registered, next to this one)
    for registry in (TASKS, DATASETS, METRICS, KERNELS, ANNOTATION_KINDS):
        for name, cls in registry.module_dict.items():
            if 'circle' in name.lower() or 'disc' in name.lower():
                assert cls.__module__.startswith('centerx_circles.'), (registry.name, name, cls.__module__)
