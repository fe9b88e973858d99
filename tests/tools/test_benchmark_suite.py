"""Smoke tests of tools/benchmark.py and the benchmark scripts it runs (keypoints, heads, COCO,
memory) at tiny sizes: their checks hold and their figures are real."""
from __future__ import annotations

import numpy as np
import pytest
import torch


@pytest.fixture(scope='module')
def bk(load_tool):
    return load_tool('benchmark_keypoints')


def test_keypoint_loop_matches_centerx_at_the_border(bk):
    images = bk.make_images(3, 25, 64, 5, 2, seed=2)
    images[0].bboxes[0] = [-20, -20, -1, 5]        # off the image: no peak, no keypoint targets
    images[1].keypoints[0, :, :2] = [[70.0, 10.0]]  # keypoints off the grid: not labeled
    images[2].keypoints[1, :, 2] = 0                # unlabeled keypoints
    grid = bk.Grid(batch_size=3, shape=(16, 16), stride=4, input_shape=(64, 64))
    head = bk.keypoint_head(5, 2)
    heat, kp_heat, targets, centers = bk.centerx_encode(head, bk.to_instances(images), grid)
    base = bk.baseline_encode(images, 2, grid.shape, 4, 25)
    assert bk.check_encoding(images, heat, kp_heat, targets, centers, base) <= 1e-6
    assert not bool(centers.valid[0]) and targets['kp_weight'][25].sum() == 0
    assert targets['kp_weight'].sum() > 50  # most keypoints are labeled


def test_keypoint_quick_run(bk):
    rows = bk.main(['--quick'])
    assert [r.name.split()[1] for r in rows] == ['keypoints', '3D', 'keypoints', '3D']
    assert all(r.ours > 0 for r in rows) and rows[0].ratio > 0 and np.isnan(rows[1].ratio)


def test_coco_backends_agree_in_the_benchmark(load_tool):
    bc = load_tool('benchmark_coco')
    pytest.importorskip('faster_coco_eval')
    row = bc.bench_coco(bc.parse_args(['--images', '6', '--repeats', '1', '--warmup', '0']))
    assert row.diff <= 1e-6 and row.ours > 0 and row.theirs > 0
    gt, results = bc.make_data(4, 5, 20, 3, seed=1)
    assert any(a['iscrowd'] for a in bc.make_data(40, 10, 5, 3, seed=0)[0]['annotations'])
    assert len(results) == 4 * 20 and {r['image_id'] for r in results} == {1, 2, 3, 4}


def test_peak_memory_measures_what_a_call_allocates(load_tool):
    bm = load_tool('benchmark_memory')
    big = bm.peak_memory_mb(lambda: torch.ones(64, 2 ** 20 // 4 * 1))  # 64 MB, touched
    small = bm.peak_memory_mb(lambda: None)
    assert 56 <= big <= 90 and small < 8


def test_heads_fused_row_checks_equal_outputs(load_tool):
    bh = load_tool('benchmark_heads')
    cfg = bh.model_cfg(bh.MANY_HEADS, fuse=False, base=bh.FULL_WIDTH[0][1], head_conv=8)
    assert cfg['backbone']['base_channels'] == 64 and {h['head_conv'] for h in cfg['heads']} == {8}
    assert bh.model_cfg(bh.MANY_HEADS, fuse=True)['fuse_branches'] is True
    row = bh.fused_vs_separate('demo', bh.model_cfg(bh.MANY_HEADS), bh.model_cfg(bh.MANY_HEADS, fuse=True),
                               torch.randn(1, 3, 64, 64), repeats=1, warmup=0)
    assert row.diff <= 1e-5 and row.ours > 0 and row.theirs > 0


def test_benchmark_table_and_markdown_markers(load_tool, tmp_path):
    b = load_tool('benchmark')
    doc = tmp_path / 'benchmarks.md'
    doc.write_text('# Benchmarks\n\nintro\n')
    b.write_markdown('first', str(doc))
    b.write_markdown('| a |\n| --- |', str(doc))
    text = doc.read_text()
    assert text.count(b.BEGIN) == 1 and text.count(b.END) == 1 and 'first' not in text
    assert text.startswith('# Benchmarks\n\nintro\n') and '| a |' in text
    lines = b.main(['--quick', '--only', 'memory'])
    assert [ln.section for ln in lines] == ['memory', 'memory']
    assert all('targets identical' in ln.check for ln in lines)
    assert '| section | measurement |' in b.table(lines, markdown=True)
    with pytest.raises(SystemExit):  # a partial run must not replace the whole table
        b.parse_args(['--only', 'memory', '--markdown'])
    assert b.command_line(b.parse_args(['--quick', '--only', 'memory', '--threads', '2'])) == \
        'python tools/benchmark.py --quick --only memory --threads 2'
