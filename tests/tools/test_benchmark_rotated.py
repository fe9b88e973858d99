"""Smoke test of tools/benchmark_rotated.py at a tiny size."""
import numpy as np
import pytest
import torch


@pytest.fixture(scope='module')
def br(load_tool):
    """The benchmark module, loaded once (importing torch / centerx / shapely dominates a cold start)."""
    return load_tool('benchmark_rotated')


def test_quick_run_agrees_with_baselines(br, capsys):
    threads = torch.get_num_threads()
    rows = br.main(['--quick'])
    assert torch.get_num_threads() == threads
    assert [r.name.split()[0] for r in rows] == ['encode', 'encode', 'DOTA']
    assert 'rotated' in rows[0].name and 'cornernet' in rows[1].name
    for row in rows:
        assert row.ours > 0 and row.theirs > 0 and row.ratio > 0
    assert rows[0].diff <= 1e-5 and rows[1].diff <= 1e-5 and rows[2].diff <= 1e-12
    assert 'max abs diff' in capsys.readouterr().out


@pytest.mark.parametrize('kernel', ['rotated', 'cornernet'])
def test_baseline_matches_centerx_at_the_border(br, kernel):
    """Centers just inside / outside the grid, boxes leaving it, all angles."""
    images = br.make_images(2, 30, 64, 3, 2.0, 60.0, seed=3)
    s = np.float32(4)
    images[0].polygons[0] = br.rbox_to_poly_np(np.array([-0.5, 20.0, 30.0, 8.0, 0.4])).astype(np.float32)  # off
    images[0].polygons[1] = br.rbox_to_poly_np(np.array([63.5, 63.5, 40.0, 6.0, -1.2])).astype(np.float32)  # corner
    images[1].polygons[0] = br.rbox_to_poly_np(np.array([20.0, 64.5, 12.0, 5.0, 1.5])).astype(np.float32)  # off
    images[1].polygons[1] = br.rbox_to_poly_np(np.array([0.5, 0.5, 50.0, 9.0, -1.5707])).astype(np.float32)
    grid = br.Grid(batch_size=2, shape=(16, 16), stride=int(s), input_shape=(64, 64))
    head = br.target_head(br.RotatedBoxTask(), br.KERNELS[kernel](), 3)
    heat, targets, centers = br.centerx_encode(head, br.to_instances(images), grid)
    base = br.baseline_encode(images, 3, grid.shape, 4, 30, kernel)
    diff, target_diff = br.check_encoding(images, heat, targets, centers, grid, base)
    assert diff <= 1e-5 and target_diff <= 1e-3
    assert centers.valid.tolist()[:2] == [False, True] and centers.valid.tolist()[30:32] == [False, True]


def test_eval_reference_agrees_on_small_random_data(br):
    dets, gts = br.make_eval_data(4, 60, 10, 5, seed=7)
    fast = br.eval_dota(dets, gts, 5)
    ref = br.eval_dota_reference(dets, gts, 5)
    assert br.check_eval(fast, ref) <= 1e-12
    assert 0.0 < fast.map < 1.0  # realistic: neither trivial nor empty
