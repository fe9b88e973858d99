"""Every shipped config loads and builds its model, and names registered dataset and metric
types, so a typo in a config fails here rather than at the start of someone's training."""
from __future__ import annotations

from pathlib import Path

import mmengine
import pytest
import torch

from centerx.engine.launch import load_config
from centerx.registry import DATASETS, METRICS, MODELS, TRANSFORMS

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(p for p in (REPO / 'configs').glob('*.py'))


def _types(cfg_node) -> list:
    """``type`` names of a dataset / evaluator config, through wrappers: lists, and dicts of
    named sub-configs (MultiSourceDataset's ``sources``, PerSourceMetric's ``metrics``)."""
    if isinstance(cfg_node, (list, tuple)):
        return [t for node in cfg_node for t in _types(node)]
    if not isinstance(cfg_node, dict):
        return []
    if 'type' not in cfg_node:
        return [t for node in cfg_node.values() for t in _types(node)]
    out = [cfg_node['type']]
    for key in ('dataset', 'datasets', 'metrics', 'sources'):
        if key in cfg_node:
            out += _types(cfg_node[key])
    return out


def _pipeline_types(dataset_cfg) -> list:
    """Transform ``type`` names of every pipeline in a dataset config (and its sources)."""
    if isinstance(dataset_cfg, (list, tuple)):
        return [t for node in dataset_cfg for t in _pipeline_types(node)]
    if not isinstance(dataset_cfg, dict):
        return []
    out = [step['type'] for step in dataset_cfg.get('pipeline', [])]
    for key in ('dataset', 'datasets', 'sources'):
        node = dataset_cfg.get(key)
        if isinstance(node, dict) and 'type' not in node:
            node = list(node.values())
        out += _pipeline_types(node)
    return out


def test_configs_found() -> None:
    names = {p.stem for p in CONFIGS}
    assert {'rotated_synthetic', 'rotated_dota', 'box2d_synthetic', 'box3d_synthetic', 'pose_synthetic',
            'multitask_synthetic'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_builds_its_model(path: Path) -> None:
    cfg = load_config(str(path))
    mmengine.registry.init_default_scope('centerx')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert len(model.heads) >= 1 and all(len(head.tasks) >= 1 for head in model.heads.values())
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        names = _types(cfg[loader]['dataset'])
        assert names, f'{path.name}: {loader} names no dataset type'
        for name in names:
            assert DATASETS.get(name) is not None, f'{path.name}: {loader} dataset type {name!r} is not registered'
        steps = _pipeline_types(cfg[loader]['dataset'])
        assert steps, f'{path.name}: {loader} has no pipeline'
        for name in steps:
            assert TRANSFORMS.get(name) is not None, f'{path.name}: {loader} transform {name!r} is not registered'
    for key in ('val_evaluator', 'test_evaluator'):
        names = _types(cfg[key])
        assert names, f'{path.name}: {key} names no metric'
        for name in names:
            assert METRICS.get(name) is not None, f'{path.name}: {key} type {name!r} is not registered'
