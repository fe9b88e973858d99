"""centerx.apis: init_detector / inference_detector on tiny models with random weights, for every
built-in task (2D boxes, rotated boxes and keypoints on the multitask config; 3D boxes)."""
from __future__ import annotations

import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from centerx.apis import inference_detector, init_detector, predictions_to_json, inference_pipeline_of
from centerx.registry import DATASETS
from centerx.structures import DetSample
from centerx_tasks.box3d.camera_meta import CameraMeta

REPO = Path(__file__).resolve().parents[2]
MULTITASK = REPO / 'tests' / 'configs' / 'multitask_tiny.py'
BOX3D = REPO / 'tests' / 'configs' / 'box3d_tiny.py'


class NotAWeight:
    """An object a safe (weights-only) checkpoint load must refuse."""


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = init_detector(MULTITASK)
    path = tmp_path_factory.mktemp('ckpt') / 'iter_1.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'iter': 1}}, path)
    return path


@pytest.fixture(scope='module')
def model(checkpoint):
    return init_detector(MULTITASK, str(checkpoint))


@pytest.fixture
def image(tmp_path) -> Path:
    path = tmp_path / 'photo.png'
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8))
    return path


def test_checkpoint_weights_are_loaded(model, checkpoint):
    saved = torch.load(checkpoint, weights_only=True)['state_dict']
    for key, value in model.state_dict().items():
        assert torch.equal(value, saved[key]), key
    assert not model.training and model.cfg.filename.endswith('multitask_tiny.py')


def test_every_head_predicts_in_original_image_pixels(model, image):
    sample = inference_detector(model, str(image))
    assert isinstance(sample, DetSample) and sample.meta.ori_shape == (50, 70)
    assert set(sample.preds) == {'shapes', 'vehicles', 'person'}
    assert {'bboxes', 'scores', 'labels'} <= set(sample.preds['shapes'].keys())
    assert {'polygons', 'rboxes'} <= set(sample.preds['vehicles'].keys())
    assert sample.preds['person'].keypoints.shape[1:] == (17, 3)
    # labels index the model's classes: each head only its own
    assert set(sample.preds['vehicles'].labels.tolist()) <= {5, 6, 7, 8}
    # mapped back by the image's warp: the same network input decoded without the warp (identity
    # affine) gives the boxes that the warp maps the returned ones to
    packed = model._inference_pipelines[0]({'img_path': str(image), 'img_id': 0})
    packed['data_samples'].meta.affine = np.eye(3)
    packed['data_samples'].meta.ori_shape = (64, 64)
    with torch.no_grad():
        in_input = model.test_step({'inputs': [packed['inputs']], 'data_samples': [packed['data_samples']]})[0]
    boxes = sample.preds['shapes'].bboxes.double()
    inside = (boxes[:, 0] > 0) & (boxes[:, 1] > 0) & (boxes[:, 2] < 70) & (boxes[:, 3] < 50)  # not clipped
    assert inside.sum() > 10
    corners = boxes.view(-1, 2)
    warped = corners @ torch.as_tensor(sample.meta.affine[:2, :2]).T + torch.as_tensor(sample.meta.affine[:2, 2])
    assert not np.allclose(sample.meta.affine, np.eye(3))
    assert torch.allclose(warped.view(-1, 4).float()[inside], in_input.preds['shapes'].bboxes[inside], atol=1e-3)


def test_same_result_as_the_test_loop_of_the_dataset(model, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    dataset = DATASETS.build(model.cfg.test_dataloader.dataset)
    item = dataset[0]
    with torch.no_grad():
        expected = model.test_step({'inputs': [item['inputs']], 'data_samples': [item['data_samples']]})[0]
    got = inference_detector(model, item['data_samples'].meta.img_path)
    for head, pred in expected.preds.items():
        for key in pred.keys():
            assert torch.allclose(got.preds[head].get(key), pred.get(key)), (head, key)


def test_arrays_paths_and_batches_agree(model, image):
    array = cv2.imread(str(image))
    one = inference_detector(model, str(image))
    both = inference_detector(model, [array, str(image)], batch_size=2)
    assert isinstance(both, list) and len(both) == 2
    assert both[0].meta.img_path == '<array 0>' and both[1].meta.img_path == str(image)
    for sample in both:
        for head, pred in one.preds.items():
            assert torch.allclose(sample.preds[head].bboxes if 'bboxes' in pred else sample.preds[head].rboxes,
                                  pred.bboxes if 'bboxes' in pred else pred.rboxes, atol=1e-5)


def test_cfg_options_reach_the_model(checkpoint, image):
    model = init_detector(MULTITASK, str(checkpoint), cfg_options={'model.test_cfg.topk': 3})
    sample = inference_detector(model, str(image))
    assert all(len(p) <= 3 for p in sample.preds.values())
    model = init_detector(MULTITASK, str(checkpoint), cfg_options=['model.test_cfg.topk=2'])
    assert all(len(p) <= 2 for p in inference_detector(model, str(image)).preds.values())


def test_predictions_to_json_keeps_every_field_above_the_threshold(model, image):
    sample = inference_detector(model, str(image))
    record = predictions_to_json(sample, model.classes, score_thr=0.1)
    assert (record['height'], record['width']) == (50, 70)
    shapes = record['heads']['shapes']
    assert len(shapes) == int((sample.preds['shapes'].scores > 0.1).sum())
    assert all(d['score'] > 0.1 for d in shapes)
    assert [d['score'] for d in shapes] == sorted((d['score'] for d in shapes), reverse=True)
    person = record['heads']['person']
    assert all(len(d['keypoints']) == 17 and len(d['bboxes']) == 4 and d['class'] == 'person' for d in person)


def test_bad_inputs_are_named(model, image):
    with pytest.raises(ValueError, match='image 1.*uint8'):
        inference_detector(model, [cv2.imread(str(image)), np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match=r'image 0.*\(H, W, 3\).*\(8, 8\)'):
        inference_detector(model, np.zeros((8, 8), np.uint8))
    with pytest.raises(FileNotFoundError, match='nothere.png'):
        inference_detector(model, str(image.parent / 'nothere.png'))
    with pytest.raises(ValueError, match='1 task_metas entries for 2 images'):
        inference_detector(model, [str(image), str(image)], task_metas=[()])


def test_a_checkpoint_of_another_model_is_refused_naming_the_keys(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'backbone.nope.weight': torch.zeros(1)}}, path)
    with pytest.raises(KeyError, match=r'other\.pth.*missing keys.*unexpected keys.*backbone\.nope'):
        init_detector(MULTITASK, str(path))


def test_an_unsafe_checkpoint_is_refused(tmp_path, checkpoint):
    path = tmp_path / 'unsafe.pth'
    state = torch.load(checkpoint, weights_only=True)
    state['meta']['payload'] = NotAWeight()
    torch.save(state, path)
    with pytest.raises(pickle.UnpicklingError, match='unsafe.pth'):
        init_detector(MULTITASK, str(path))


def test_test_pipeline_drops_annotation_loading(model):
    cfg = model.cfg.copy()
    cfg.test_dataloader.dataset.pipeline = [dict(type='LoadImage'), dict(type='LoadAnnotations'),
                                            dict(type='PackDetInputs')]
    assert [t['type'] for t in inference_pipeline_of(cfg)] == ['LoadImage', 'PackDetInputs']


def test_box3d_needs_the_camera_and_says_so():
    torch.manual_seed(0)
    model = init_detector(BOX3D)
    img = np.random.default_rng(1).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    with pytest.raises(LookupError, match=r'<array 0>.*CameraMeta.*task_metas='):
        inference_detector(model, img)
    K = np.array([[80.0, 0.0, 48.0], [0.0, 80.0, 32.0], [0.0, 0.0, 1.0]])
    sample = inference_detector(model, img, task_metas=[CameraMeta(cam2img=K)])
    boxes = sample.preds['objects'].boxes3d
    assert boxes.shape[1] == 7 and len(boxes) > 0 and torch.isfinite(boxes).all()
    # decoded depths are in front of the camera
    assert (boxes[:, 2] > 0).all()
