"""ONNX export of every registered task (the built-in ones and the tutorial's plugin) and of a model
mixing heads: onnxruntime on the exported graph against ``CenterNet.predict`` (the PyTorch path with
image metas) on the same letterboxed images.

The images are non-square originals letterboxed into 64x64, so the graph's ``inverse_affine`` input
is not the identity, and the Box3DTask camera reaches the graph as ``input_cam2img``. The tiny random
models have more than K local maxima per image and head (asserted), so the order of the top-K peaks is
fixed and labels must match exactly.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
import pytest
import torch

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

import centerx_tasks  # noqa: E402,F401  (registers the built-in tasks)
from centerx.export import (ExportGraph, example_image_meta, export_onnx, prepare_image,  # noqa: E402
                            inverse_resize_affine, run_onnxruntime)
from centerx.models import CenterNet  # noqa: E402
from centerx.registry import TASKS  # noqa: E402
from centerx.structures import DetSample  # noqa: E402
from centerx_tasks.box2d.task import Box2DTask  # noqa: E402

TUTORIAL = Path(__file__).resolve().parents[2] / 'docs' / 'examples' / 'circles'
if (TUTORIAL / 'centerx_circles').is_dir():
    sys.path.insert(0, str(TUTORIAL))
    import centerx_circles  # noqa: F401,E402  (the tutorial's plugin registers itself)

IMAGE = (64, 64)  # (H, W) of the network input
ORIGINALS = [(40, 72), (72, 56)]  # (h, w) of the two original images, letterboxed into IMAGE
CLASSES = ('car', 'pedestrian')  # names with statistics in every built-in task (Box3DTask's mean sizes)
TOPK = 8
TOLERANCE = 1e-4
TASK_TYPES = sorted(TASKS.module_dict)


def tiny_model(heads: Sequence[dict]) -> CenterNet:
    torch.manual_seed(0)
    return CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                     neck=dict(type='SkipUpNeck', out_channels=8),
                     heads=[dict(head, head_conv=8) for head in heads], classes=CLASSES, test_cfg=dict(topk=TOPK))


def one_task_model(task_type: str) -> CenterNet:
    tasks = [dict(type=task_type)]
    companion = TASKS.get(task_type).companion
    if companion is not None:
        tasks.insert(0, dict(type=companion))
    return tiny_model([dict(name='objects', tasks=tasks)])


def mixed_model() -> CenterNet:
    """Two heads over different class sets, each with several tasks (every built-in task and the plugin)."""
    vehicles = [dict(type='Box3DTask'), dict(type='RotatedBoxTask')]
    if TASKS.get('CircleTask') is not None:
        vehicles.append(dict(type='CircleTask'))
    return tiny_model([
        dict(name='people', classes=['pedestrian'],
             tasks=[dict(type='Box2DTask'), dict(type='KeypointTask', num_keypoints=5, flip_pairs=[[1, 2], [3, 4]])]),
        dict(name='vehicles', classes=['car'], tasks=vehicles),
    ])


def letterboxed_batch(model: CenterNet, seed: int = 0):
    """Random originals letterboxed into IMAGE: the samples ``predict`` takes and the graph's inputs."""
    tasks = [t for head in model.heads.values() for t in head.tasks.values()]
    rng = np.random.default_rng(seed)
    rows, samples = [], []
    for i, (h, w) in enumerate(ORIGINALS):
        task_metas = tuple(example_image_meta(tasks, (h, w)).task_metas.values())
        row, meta = prepare_image(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), IMAGE, task_metas)
        np.testing.assert_allclose(meta.inverse_affine, inverse_resize_affine((h, w), IMAGE), atol=1e-9)
        rows.append(row)
        samples.append(DetSample(meta=meta))
    return np.stack(rows), samples


def predict(model: CenterNet, images: np.ndarray, samples: List[DetSample]) -> List[DetSample]:
    """The PyTorch path: data preprocessor, then ``predict`` with the samples' metas."""
    model.eval()
    data = model.data_preprocessor({'inputs': [torch.from_numpy(img.astype(np.uint8)) for img in images],
                                    'data_samples': samples})
    with torch.no_grad():
        return model.predict(data['inputs'], data['data_samples'])


def onnx_outputs(model: CenterNet, path: Path, images: np.ndarray, samples: List[DetSample]) -> Dict[str, np.ndarray]:
    exported = export_onnx(model, str(path), IMAGE, batch_size=len(samples))
    graph = exported.graph
    metas = [s.meta for s in samples]
    feeds = {'images': images, 'inverse_affine': np.stack([m.inverse_affine for m in metas]).astype(np.float32),
             'ori_shapes': np.array([m.ori_shape for m in metas], dtype=np.int64)}
    feeds.update({k: t.numpy() for k, t in zip(graph.task_input_keys, graph.task_inputs(metas))})
    got = run_onnxruntime(exported.path, feeds)
    assert list(got) == exported.output_names
    return got


def assert_parity(model: CenterNet, tmp_path: Path) -> Dict[str, np.ndarray]:
    images, samples = letterboxed_batch(model)
    got = onnx_outputs(model, tmp_path / 'model.onnx', images, samples)
    expected_names = []
    for head in model.heads:
        for i, sample in enumerate(predict(model, images, samples)):
            pred = sample.preds[head]
            assert len(pred) == TOPK, f'{head}: fewer than {TOPK} peaks in image {i}; the top-K order is open'
            for field in pred.keys():
                ref, out = pred.get(field).numpy(), got[f'{head}.{field}'][i]
                assert out.shape == ref.shape, field
                if np.issubdtype(ref.dtype, np.integer):
                    np.testing.assert_array_equal(out, ref, err_msg=f'{head}.{field}')
                else:
                    np.testing.assert_allclose(out, ref, rtol=0, atol=TOLERANCE, err_msg=f'{head}.{field}')
        expected_names += [f'{head}.{field}' for field in sample.preds[head].keys()]
    assert sorted(got) == sorted(expected_names)
    return got


@pytest.mark.parametrize('task_type', TASK_TYPES)
def test_every_task_exports_and_matches_predict(task_type, tmp_path):
    """Every registered task: its decoded fields from onnxruntime equal ``predict``'s (letterbox and
    cameras included), and its peaks and labels are identical."""
    model = one_task_model(task_type)
    got = assert_parity(model, tmp_path)
    for field in TASKS.get(task_type).provides:
        assert f'objects.{field}' in got, f'{task_type} provides {field!r} but the graph has no such output'


def test_mixed_heads_export_and_match_predict(tmp_path):
    """Two heads with different class sets (dataset labels in the output) and five tasks in one graph."""
    model = mixed_model()
    got = assert_parity(model, tmp_path)
    assert set(np.unique(got['people.labels'])) == {CLASSES.index('pedestrian')}
    assert set(np.unique(got['vehicles.labels'])) == {CLASSES.index('car')}
    assert got['vehicles.boxes3d'].shape == (len(ORIGINALS), TOPK, 7)
    assert got['people.keypoints'].shape == (len(ORIGINALS), TOPK, 5, 3)


def test_export_leaves_the_model_alone_and_overrides_topk(tmp_path):
    model = one_task_model('Box2DTask')
    model.train()
    exported = export_onnx(model, str(tmp_path / 'm.onnx'), IMAGE, topk=3)
    assert model.training and model.test_cfg['topk'] == TOPK
    out = run_onnxruntime(exported.path, dict(zip(exported.graph.input_names, (
        t.numpy() for t in exported.graph.example_inputs()))))
    assert out['objects.bboxes'].shape == (1, 3, 4)


class UnexportableBoxes(Box2DTask):
    """A plugin-style task whose eager decode is not traceable (it filters detections by value) and
    whose ``export_decode`` is the static variant (all K rows)."""

    def decode(self, preds, peaks, ctx):
        if torch.jit.is_tracing():
            raise RuntimeError('decode is not exportable: export_decode should have run')
        fields = super().decode(preds, peaks, ctx)
        keep = peaks.scores[0] > float(peaks.scores[0].median())  # data-dependent: a varying count
        return {k: v[:, keep] for k, v in fields.items()}

    def export_decode(self, preds, peaks, ctx):
        return super().decode(preds, peaks, ctx)


def test_export_runs_export_decode(tmp_path):
    model = tiny_model([dict(name='objects', tasks=[UnexportableBoxes()])])
    exported = export_onnx(model, str(tmp_path / 'm.onnx'), IMAGE)
    inputs = exported.graph.example_inputs(seed=2)
    out = run_onnxruntime(exported.path, dict(zip(exported.graph.input_names, (t.numpy() for t in inputs))))
    reference = Box2DTask()
    with torch.no_grad():
        decoded = exported.graph.decode(*inputs)['objects']
    assert out['objects.bboxes'].shape == (1, TOPK, 4)
    np.testing.assert_allclose(out['objects.bboxes'], decoded['bboxes'].numpy(), atol=TOLERANCE)
    assert type(reference).export_decode is Box2DTask.export_decode  # the default is decode itself


def test_dynamic_batch(tmp_path):
    """With ``dynamic_batch`` one graph serves batches of 1 and 3, each image as when alone."""
    model = one_task_model('Box2DTask')
    exported = export_onnx(model, str(tmp_path / 'm.onnx'), IMAGE, dynamic_batch=True)
    graph = ExportGraph(model, IMAGE, batch_size=3)
    inputs = dict(zip(graph.input_names, (t.numpy() for t in graph.example_inputs(seed=4))))
    batch = run_onnxruntime(exported.path, inputs)
    single = run_onnxruntime(exported.path, {k: v[2:] for k, v in inputs.items()})
    assert batch['objects.bboxes'].shape == (3, TOPK, 4)
    np.testing.assert_allclose(batch['objects.bboxes'][2:], single['objects.bboxes'], atol=TOLERANCE)
    np.testing.assert_array_equal(batch['objects.labels'][2:], single['objects.labels'])


def test_bad_export_arguments_name_the_problem():
    model = one_task_model('Box2DTask')
    with pytest.raises(ValueError, match='pad_size_divisor 32'):
        ExportGraph(model, (60, 64))
    with pytest.raises(ValueError, match='topk must be positive'):
        ExportGraph(model, IMAGE, topk=0)
