"""Smoke test of tools/benchmark_encode.py at a tiny size."""
import pytest
import torch


@pytest.fixture(scope='module')
def be(load_tool):
    return load_tool('benchmark_encode')


def test_quick_run_agrees_with_baselines(be, capsys):
    threads = torch.get_num_threads()
    rows = be.main(['--quick'])
    assert torch.get_num_threads() == threads
    assert [r.name.split()[0] for r in rows] == ['encode', 'encode', 'decode']
    for row in rows:
        assert row.ours > 0 and row.theirs > 0 and row.ratio > 0
    assert rows[0].diff <= 1e-6 and rows[-1].diff == 0
    assert 'max abs diff' in capsys.readouterr().out


def test_baseline_matches_centerx_with_border_boxes(be):
    images = be.make_images(3, 40, 64, 5, 1.0, 80.0, seed=1)
    images[0].bboxes[0] = [-10, -10, 0, 5]   # no visible area: no peak, no targets
    images[1].bboxes[0] = [60, 60, 90, 90]   # partly outside: clipped
    grid = be.Grid(batch_size=3, shape=(16, 16), stride=4, input_shape=(64, 64))
    head = be.target_head(be.Box2DTask(), be.CornerNetGaussian(0.7), 5)
    heat, targets, centers = be.centerx_encode(head, be.to_instances(images), grid)
    base = be.baseline_encode(images, 5, grid.shape, 4, 40)
    assert be.check_encoding(images, heat, targets, centers, grid, base) <= 1e-6
    assert not bool(centers.valid[0]) and bool(centers.valid[40])
