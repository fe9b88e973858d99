"""tools/plot_curves.py and centerx.engine.scalars on handcrafted mmengine scalars.json files."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from centerx.engine.scalars import find_scalars, read_scalars

PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('plot_curves')


def train_line(it: int, loss: float) -> dict:
    return {'lr': 1e-3 * it, 'data_time': 0.01, 'loss': loss, 'loss_heatmap': 0.75 * loss,
            'loss_box2d_size': 0.25 * loss, 'time': 0.2, 'iter': it, 'memory': 10, 'step': it}


def val_line(step: int, ap: float) -> dict:
    return {'coco/bbox_mAP': ap, 'coco/bbox_mAP_l': -1.0, 'data_time': 0.003, 'time': 0.01, 'step': step}


def write_run(work_dir: Path, stamp: str, records: list, tail: str = '') -> Path:
    path = work_dir / stamp / 'vis_data' / 'scalars.json'
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records) + tail)
    return path


@pytest.fixture
def work_dir(tmp_path) -> Path:
    """Two runs in one work dir: an older one, and the newest with two validations (the second
    logged mmengine's default way, at epoch 0) and a half-written last line."""
    wd = tmp_path / 'box2d_run'
    write_run(wd, '20240101_000000', [train_line(1, 9.0)])
    write_run(wd, '20240102_000000',
              [train_line(10, 4.0), train_line(20, 2.0), val_line(20, 0.125), train_line(30, 1.0), val_line(0, 0.5)],
              tail='{"lr": 0.1, "lo')
    return wd


def test_read_scalars_parses_train_and_val_lines(work_dir):
    series = read_scalars(str(work_dir))  # the newest run of the work dir
    assert series['loss'] == [(10, 4.0), (20, 2.0), (30, 1.0)]
    assert series['loss_heatmap'] == [(10, 3.0), (20, 1.5), (30, 0.75)]
    assert series['lr'] == [(10, 0.01), (20, 0.02), (30, 0.03)]
    # step 20 kept; step 0 (logged by epoch) placed after the training line before it
    assert series['coco/bbox_mAP'] == [(20, 0.125), (30, 0.5)]
    assert series['val/time'] == [(20, 0.01), (30, 0.01)] and series['time'] == [(10, 0.2), (20, 0.2), (30, 0.2)]
    assert 'iter' not in series and 'step' not in series


def test_find_scalars_accepts_file_log_dir_and_work_dir(work_dir, tmp_path):
    newest = work_dir / '20240102_000000' / 'vis_data' / 'scalars.json'
    assert find_scalars(str(work_dir)) == str(newest)
    assert find_scalars(str(work_dir / '20240102_000000')) == str(newest)
    assert find_scalars(str(newest)) == str(newest)
    with pytest.raises(FileNotFoundError, match='no scalars.json'):
        find_scalars(str(tmp_path / 'empty'))


def test_a_broken_line_inside_the_file_is_an_error(tmp_path):
    path = write_run(tmp_path, 'run', [train_line(1, 2.0)], tail='not json\n' + json.dumps(train_line(2, 1.0)) + '\n')
    with pytest.raises(ValueError, match=r'scalars.json:2: not a json line'):
        read_scalars(str(path))


def test_plot_two_runs_writes_a_png(tool, work_dir, tmp_path, capsys):
    other = tmp_path / 'other'
    write_run(other, '20240103_000000', [train_line(5, 3.0), train_line(15, 1.5), val_line(15, 0.25)])
    out = tmp_path / 'curves.png'
    assert tool.main([str(work_dir), str(other), '--labels', 'a', 'b', '--out', str(out)]) == str(out)
    assert out.read_bytes()[:8] == PNG_MAGIC and out.stat().st_size > 10_000
    printed = capsys.readouterr().out
    # default keys: the losses, then the metrics; the -1 metric has nothing to draw
    assert 'loss, loss_heatmap, loss_box2d_size, coco/bbox_mAP)' in printed


def test_default_keys_and_labels(tool, work_dir):
    runs = [read_scalars(str(work_dir))]
    assert tool.default_keys(runs) == ['loss', 'loss_heatmap', 'loss_box2d_size', 'coco/bbox_mAP', 'coco/bbox_mAP_l']
    assert tool.run_label(str(work_dir)) == 'box2d_run'
    assert tool.run_label(str(work_dir / '20240102_000000' / 'vis_data' / 'scalars.json')) == 'box2d_run'


def test_chosen_keys_and_nothing_to_plot(tool, work_dir, tmp_path, capsys):
    out = tmp_path / 'lr.png'
    tool.main([str(work_dir), '--keys', 'lr', 'nope', '--out', str(out)])
    assert out.read_bytes()[:8] == PNG_MAGIC
    assert 'not in any run: nope' in capsys.readouterr().err
    with pytest.raises(SystemExit, match='nothing to plot'):
        tool.main([str(work_dir), '--keys', 'nope', '--out', str(tmp_path / 'none.png')])
    with pytest.raises(SystemExit, match='2 labels for 1 work dirs'):
        tool.main([str(work_dir), '--labels', 'a', 'b'])
