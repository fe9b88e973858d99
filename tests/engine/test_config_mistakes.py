"""A new user's config mistakes are refused when the config is read or the model and data are
built, with a message that says what is known; a changed ``max_iters`` keeps the schedule's shape."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from mmengine.runner import Runner  # noqa: F401  (registers mmengine's schedulers)

import centerx_tasks  # noqa: F401
from centerx.data.transforms import LoadImage
from centerx.engine.launch import load_config
from centerx.models import CenterNet
from centerx.registry import DATASETS, MODELS

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / 'tests' / 'configs' / 'box2d_tiny.py')
DEMO = str(REPO / 'configs' / 'rotated_synthetic.py')


def test_a_typo_in_test_cfg_is_refused_with_the_known_keys() -> None:
    cfg = load_config(TINY, ['model.test_cfg.topkk=50'])
    with pytest.raises(ValueError, match=r"model.test_cfg: unknown key 'topkk'; known keys: flip, pool_size, "
                                         r"scales, score_thr, topk, tta_merge"):
        MODELS.build(cfg.model)
    assert MODELS.build(load_config(TINY, ['model.test_cfg.topk=50']).model).test_cfg['topk'] == 50


def test_a_typo_in_a_head_is_refused_with_the_known_keys() -> None:
    cfg = load_config(TINY, ['model.heads.0.head_convv=8'])
    with pytest.raises(ValueError, match=r"model.heads\[0\] \('objects'\): unknown key 'head_convv'; known keys: "
                                         r".*head_conv.*tasks"):
        MODELS.build(cfg.model)


def test_a_typo_in_filter_cfg_is_refused(tmp_path) -> None:
    ann = dict(images=[dict(id=1, file_name='a.png', height=8, width=8)], annotations=[],
               categories=[dict(id=1, name='circle')])
    (tmp_path / 'a.json').write_text(json.dumps(ann))
    with pytest.raises(ValueError, match=r"CocoDetDataset filter_cfg: unknown key 'filter_empty'"):
        DATASETS.build(dict(type='CocoDetDataset', ann_file=str(tmp_path / 'a.json'),
                            metainfo=dict(classes=('circle',)), filter_cfg=dict(filter_empty=True)))


def lr_curve(cfg, iters: int) -> list:
    """The learning rate at iterations 0 .. iters - 1 of the config's schedule."""
    from mmengine.registry import PARAM_SCHEDULERS
    optimizer = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=cfg.optim_wrapper.optimizer.lr)
    schedulers = [PARAM_SCHEDULERS.build(dict(s, optimizer=optimizer)) for s in cfg.param_scheduler]
    out = []
    for _ in range(iters):
        out.append(optimizer.param_groups[0]['lr'])
        for s in schedulers:
            s.step()
    return out


def test_the_schedule_follows_a_changed_max_iters() -> None:
    cfg = load_config(DEMO, ['train_cfg.max_iters=100'])
    assert [(s.type, s.begin, s.end) for s in cfg.param_scheduler] == [('LinearLR', 0, 12),
                                                                       ('CosineAnnealingLR', 12, 100)]
    lr = lr_curve(cfg, 100)
    assert max(lr) == pytest.approx(2e-3, rel=1e-3) and lr.index(max(lr)) in (11, 12)
    assert lr[-1] < 2e-5  # decayed to eta_min 1e-5 at the end, not 9.5e-4
    default = load_config(DEMO)
    assert [(s.begin, s.end) for s in default.param_scheduler] == [(0, 100), (100, 800)]


def test_a_longer_run_keeps_its_warm_up_and_decays_to_its_end() -> None:
    cfg = load_config(DEMO, ['train_cfg.max_iters=1600'])
    assert [(s.begin, s.end) for s in cfg.param_scheduler] == [(0, 100), (100, 1600)]
    tiny = load_config(TINY, ['train_cfg.max_iters=1000'])  # a warm-up of 5 not tied to the length
    assert [(s.begin, s.end) for s in tiny.param_scheduler] == [(0, 5)]


def test_a_schedule_set_on_the_command_line_is_kept() -> None:
    cfg = load_config(DEMO, ['train_cfg.max_iters=100', 'param_scheduler.1.end=400'])
    assert [(s.begin, s.end) for s in cfg.param_scheduler] == [(0, 100), (100, 400)]


def three_images_one_on_disk(tmp_path: Path) -> dict:
    """A CocoDetDataset config of images 1-3 of which only 1.png exists (empty file) under imgs/."""
    ann = dict(images=[dict(id=i, file_name=f'{i}.png', height=8, width=8) for i in (1, 2, 3)], annotations=[],
               categories=[dict(id=1, name='circle')])
    (tmp_path / 'a.json').write_text(json.dumps(ann))
    (tmp_path / 'imgs').mkdir()
    (tmp_path / 'imgs' / '1.png').write_bytes(b'')
    return dict(type='CocoDetDataset', ann_file=str(tmp_path / 'a.json'), metainfo=dict(classes=('circle',)),
                data_prefix=dict(img=str(tmp_path / 'imgs')))


def test_a_wrong_image_folder_fails_at_build_naming_the_first_file_and_the_count(tmp_path) -> None:
    cfg = dict(three_images_one_on_disk(tmp_path), test_mode=True)
    with pytest.raises(FileNotFoundError, match=r'2 of 3 image files do not exist, the first: .*imgs/2\.png'):
        DATASETS.build(dict(cfg, pipeline=[LoadImage()]))
    with pytest.raises(FileNotFoundError, match='2 of 3'):
        DATASETS.build(dict(cfg, pipeline=[LoadImage()], serialize_data=False))
    assert len(DATASETS.build(cfg)) == 3  # no image loading, no check (annotation-only use)


def test_missing_image_files_under_the_skip_policy_are_a_logged_count_unless_all_are_missing(tmp_path, monkeypatch) -> None:
    from centerx.data import base_dataset
    messages = []
    monkeypatch.setattr(base_dataset, 'log', lambda message, level=None: messages.append(message))
    cfg = dict(three_images_one_on_disk(tmp_path), pipeline=[LoadImage()], on_invalid='skip')
    dataset = DATASETS.build(cfg)
    assert len(dataset) == 3  # nothing dropped at build: each missing file is skipped, counted, when drawn
    assert any('2 of 3 image files do not exist' in m for m in messages)
    (tmp_path / 'imgs' / '1.png').unlink()
    with pytest.raises(FileNotFoundError, match='3 of 3 image files do not exist'):
        DATASETS.build(cfg)  # a wrong folder stays an error under any policy
    with pytest.raises(FileNotFoundError, match='3 of 3'):
        DATASETS.build(dict(cfg, test_mode=True))


def test_decode_outputs_of_some_heads_only() -> None:
    model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 8, 8)), neck=dict(type='DeconvNeck', out_channels=8),
                      heads=[dict(name='a', tasks=[dict(type='Box2DTask')], head_conv=8),
                             dict(name='b', tasks=[dict(type='Box2DTask')], head_conv=8)],
                      classes=('x',), test_cfg=dict(topk=5)).eval()
    from centerx.structures import DetSample, ImageMeta
    from centerx.task import Grid
    samples = [DetSample(meta=ImageMeta(img_id=0, img_path='', ori_shape=(32, 32), img_shape=(32, 32), pad_shape=(32, 32)))]
    with torch.no_grad():
        outputs = model(torch.zeros(1, 3, 32, 32))
    grid = Grid(batch_size=1, shape=(8, 8), stride=4, input_shape=(32, 32), metas=[samples[0].meta])
    ctx = CenterNet.decode_context(grid, samples, torch.device('cpu'))
    decoded = model.decode_outputs({'b': outputs['b']}, ctx)
    assert list(decoded) == ['b'] and decoded['b']['bboxes'].shape == (1, 5, 4)
    with pytest.raises(KeyError, match=r"unknown heads \['c'\]; the model has heads \['a', 'b'\]"):
        model.decode_outputs({'c': outputs['b']}, ctx)
