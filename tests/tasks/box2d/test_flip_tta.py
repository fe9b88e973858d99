"""Flip test-time augmentation: maps predicted on the mirrored image, mirrored back by each
task's ``flip_output_maps``, line up with the maps of the original image."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import centerx_tasks  # noqa: F401  (registers the built-in tasks)
from centerx.decode import extract_peaks
from centerx.data.transforms import CenterAffine, LoadImage, PackDetInputs, RandomFlip
from centerx.models import CenterNet
from centerx.task import concat_instances
from centerx_tasks.box2d.coco_dataset import CocoDetDataset
from centerx_tasks.box2d.synthetic import ensure_synthetic_coco


def perfect(model: CenterNet, item, head_name: str = 'objects'):
    data = model.data_preprocessor(dict(inputs=[item['inputs']], data_samples=[item['data_samples']]))
    with torch.no_grad():
        feat = model.extract_feat(data['inputs'])
    grid = model._grid(data['inputs'], feat, data['data_samples'])
    gt = concat_instances([s.gt for s in data['data_samples']], model.label_map(head_name))
    out, _ = model.heads[head_name].perfect_outputs(gt, grid)
    return {head_name: out}, data, grid


@pytest.fixture(scope='module')
def dataset_pair(tmp_path_factory):
    paths = ensure_synthetic_coco(str(tmp_path_factory.mktemp('flip_tta') / 's'), num_train=0, num_val=4,
                                  image_size=(256, 256), seed=3)
    common = dict(ann_file=paths['val_ann_file'], data_prefix=dict(img=paths['val_img_dir'] + '/'), test_mode=True)
    plain = CocoDetDataset(pipeline=[LoadImage(), CenterAffine((256, 256)), PackDetInputs()], **common)
    mirrored = CocoDetDataset(pipeline=[LoadImage(), RandomFlip(prob=1.0), CenterAffine((256, 256)), PackDetInputs()],
                              **common)
    return plain, mirrored


def test_flip_tta_on_perfect_maps_decodes_the_same_boxes(dataset_pair):
    """Exact for every object whose center is not on a cell boundary in x: a center at an integer
    grid x (the cell edge) lands in the neighbouring cell after the mirror, so its two peaks
    disagree by one cell (as in CenterNet's flip test). Those objects are counted, not hidden."""
    plain, mirrored = dataset_pair
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                      neck=dict(type='DeconvNeck', out_channels=8),
                      heads=[dict(name='objects', tasks=[dict(type='Box2DTask')], head_conv=8)],
                      classes=plain.metainfo['classes']).eval()
    checked = on_edge = 0
    for i in range(len(plain)):
        out, data, grid = perfect(model, plain[i])
        out_f, data_f, _ = perfect(model, mirrored[i])
        assert torch.equal(data_f['inputs'], data['inputs'].flip(-1))  # the mirrored input is exactly the flip
        merged = model.merge_flipped(out, out_f)
        head = model.heads['objects']
        centers = head.place_centers(concat_instances([s.gt for s in data['data_samples']],
                                                      model.label_map('objects')), grid)
        edge = centers.valid & (centers.xy[:, 0] == torch.floor(centers.xy[:, 0]))
        on_edge += int(edge.sum())
        # every cell where the averaged heatmap differs is next to an on-edge object's peak
        diff = (torch.sigmoid(merged['objects']['heatmap']) - torch.sigmoid(out['objects']['heatmap'])).abs() > 2e-6
        for _, c, y, x in torch.nonzero(diff).tolist():
            near = edge & (centers.labels == c) & ((centers.xy_int[:, 0] - x).abs() <= 1) & (centers.xy_int[:, 1] == y)
            assert bool(near.any()), (i, c, y, x)
        inner = centers.valid & ~edge
        torch.testing.assert_close(centers.gather(merged['objects']['box2d']['size'], grid)[inner],
                                   centers.gather(out['objects']['box2d']['size'], grid)[inner])
        ctx = CenterNet.decode_context(grid, data['data_samples'], data['inputs'].device)
        ref = model.decode_outputs(out, ctx)['objects']
        got = model.decode_outputs(merged, ctx)['objects']
        for box, score in zip(ref['bboxes'][0][ref['scores'][0] > 0.5], ref['scores'][0][ref['scores'][0] > 0.5]):
            close = (got['bboxes'][0] - box).abs().max(dim=1).values < 1e-3
            if bool(close.any()):
                assert abs(float(got['scores'][0][close].max()) - float(score)) < 1e-5
                checked += 1
    assert checked > 5
    print(f'flip TTA: {checked} boxes identical, {on_edge} objects centered on a cell edge')
    assert checked + on_edge >= sum(len(plain.get_data_info(i)['instances']['bboxes']) for i in range(len(plain)))


def test_flip_tta_runs_in_predict_and_averages_the_two_passes(dataset_pair):
    plain, _ = dataset_pair
    torch.manual_seed(0)
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                      neck=dict(type='DeconvNeck', out_channels=8),
                      heads=[dict(name='objects', tasks=[dict(type='Box2DTask')], head_conv=8)],
                      classes=plain.metainfo['classes'], test_cfg=dict(flip=True, topk=10)).eval()
    data = model.data_preprocessor(dict(inputs=[plain[0]['inputs']], data_samples=[plain[0]['data_samples']]))
    with torch.no_grad():
        samples = model.predict(data['inputs'], data['data_samples'])
        plain_out = model._forward(data['inputs'])['objects']
        flip_out = model._forward(data['inputs'].flip(-1))['objects']
    expected = (torch.sigmoid(plain_out['heatmap']) + torch.sigmoid(flip_out['heatmap'].flip(-1))) / 2
    top = extract_peaks(expected, k=10).scores[0]
    np.testing.assert_allclose(samples[0].preds['objects'].scores.numpy(), top.numpy(), atol=1e-5)


def test_rotated_flip_negates_the_double_angle_sine():
    from centerx_tasks.rotated.task import RotatedBoxTask
    maps = {'size': torch.rand(1, 2, 4, 6), 'angle': torch.rand(1, 2, 4, 6), 'offset': torch.rand(1, 2, 4, 6)}
    back = RotatedBoxTask().flip_output_maps(maps)
    assert set(back) == {'size', 'angle'}
    torch.testing.assert_close(back['angle'][:, 0], maps['angle'][:, 0].flip(-1))
    torch.testing.assert_close(back['angle'][:, 1], -maps['angle'][:, 1].flip(-1))
