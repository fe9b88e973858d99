"""tools/browse_dataset.py end to end: the multitask tiny config (three heads, keypoint heatmaps),
the 3D tiny config (cuboids drawn with the network input's camera) and the tutorial's plugin
(drawn through its own drawer)."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
GAP = 2


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('browse_dataset')


def test_multitask_pictures_have_a_panel_per_head_and_the_keypoint_heatmaps(tool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    written = tool.main([str(REPO / 'tests' / 'configs' / 'multitask_tiny.py'), '--num', '3', '--out-dir', 'pics'])
    assert [Path(p).name for p in written][:1] == ['00000_000001.png'] and len(written) == 3
    # ground truth | shapes | vehicles | person | person/keypoints.kp_heatmap, 64 pixels each
    for path in written:
        picture = cv2.imread(path)
        assert picture.shape == (64, 5 * 64 + 4 * GAP, 3)
    # the first sample of the multi-source set is a shapes image: its heatmap panel has hot cells
    # (red above what the dimmed image alone reaches: 0.3 * 255) where the other heads' have none
    picture = cv2.imread(written[0]).astype(int)
    panels = [picture[:, i * (64 + GAP):i * (64 + GAP) + 64] for i in range(5)]
    hot = [int((p[16:, :, 2] > 150).sum()) for p in panels]  # below the title
    assert hot[1] > 0 and hot[2] == hot[3] == hot[4] == 0, hot


def test_val_split_start_and_num(tool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = str(REPO / 'tests' / 'configs' / 'box3d_tiny.py')
    written = tool.main([config, '--split', 'val', '--start', '1', '--num', '5', '--out-dir', 'pics'])
    picture = cv2.imread(written[0])
    assert [Path(p).name[:6] for p in written] == ['00001_']  # the val set has 2 samples
    assert picture.shape == (64, 2 * 96 + GAP, 3)  # ground truth | objects
    assert picture[:, :96].astype(int).sum() != picture[:, 96 + GAP:].astype(int).sum()
    with pytest.raises(SystemExit, match='has 2 samples'):
        tool.main([config, '--split', 'val', '--start', '2'])


def test_a_plugin_task_is_drawn_through_its_drawer(tool, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(REPO / 'docs' / 'examples' / 'circles'))
    config = str(REPO / 'docs' / 'examples' / 'circles' / 'circles_synthetic.py')
    small = ['train_dataloader.dataset.generate_if_missing.num_train=2',
             'train_dataloader.dataset.generate_if_missing.num_val=1',
             'model.backbone.base_channels=8', 'model.neck.out_channels=[16,16,16]']
    written = tool.main([config, '--num', '1', '--out-dir', 'pics', '--cfg-options', *small])
    picture = cv2.imread(written[0])
    assert picture.shape == (128, 2 * 128 + GAP, 3)
    import centerx_circles  # noqa: F401  (imported by the config's custom_imports)
    assert 'centerx_circles' in sys.modules
    drawn, heat = picture[:, :128].astype(int), picture[:, 128 + GAP:].astype(int)
    assert (heat[16:, :, 2] > 150).any()  # a hot disc center
    assert np.abs(drawn - heat).mean() > 5
