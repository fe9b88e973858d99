"""The TensorBoard switch: ``visualizer.tensorboard=True`` adds mmengine's TensorboardVisBackend next
to the scalars.json one, and the event file holds the logged scalars."""
from __future__ import annotations

from pathlib import Path

import pytest
from mmengine.visualization import LocalVisBackend, TensorboardVisBackend

from centerx.apis import load_model_config
from centerx.registry import VISUALIZERS

REPO = Path(__file__).resolve().parents[2]


def build(tmp_path: Path, options: list, name: str):
    cfg = load_model_config(REPO / 'tests' / 'configs' / 'box2d_tiny.py', options)
    return VISUALIZERS.build(dict(cfg.visualizer, name=name, save_dir=str(tmp_path)))


def test_off_by_default_scalars_json_only(tmp_path):
    vis = build(tmp_path, [], 'tb_off')
    assert [type(b) for b in vis._vis_backends.values()] == [LocalVisBackend]


def test_the_switch_writes_tensorboard_events_with_the_scalars(tmp_path):
    pytest.importorskip('tensorboard')
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    vis = build(tmp_path, ['visualizer.tensorboard=True'], 'tb_on')
    assert [type(b) for b in vis._vis_backends.values()] == [LocalVisBackend, TensorboardVisBackend]
    vis.add_scalars({'loss': 2.5, 'coco/bbox_mAP': 0.25}, step=3)
    vis.close()
    events = list(tmp_path.rglob('events.out.tfevents.*'))
    assert len(events) == 1 and (tmp_path / 'vis_data' / 'scalars.json').is_file()
    acc = EventAccumulator(str(events[0].parent))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars('loss')] == [(3, 2.5)]
    assert [(e.step, e.value) for e in acc.Scalars('coco/bbox_mAP')] == [(3, 0.25)]
