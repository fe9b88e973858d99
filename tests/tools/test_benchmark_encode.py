"""Smoke test of tools/benchmark_encode.py at a tiny size."""
import importlib.util
import os.path as osp
import sys

import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load():
    spec = importlib.util.spec_from_file_location('benchmark_encode', osp.join(ROOT, 'tools', 'benchmark_encode.py'))
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_quick_run_agrees_with_baselines(capsys):
    threads = torch.get_num_threads()
    rows = _load().main(['--quick'])
    assert torch.get_num_threads() == threads
    assert [r.name.split()[0] for r in rows] == ['encode', 'encode', 'decode']
    for row in rows:
        assert row.ours > 0 and row.theirs > 0 and row.ratio > 0
    assert rows[0].diff <= 1e-6 and rows[-1].diff == 0
    assert 'max abs diff' in capsys.readouterr().out


def test_baseline_matches_centerx_with_border_boxes():
    be = _load()
    images = be.make_images(3, 40, 64, 5, 1.0, 80.0, seed=1)
    images[0].bboxes[0] = [-10, -10, 0, 5]   # no visible area: no peak, no targets
    images[1].bboxes[0] = [60, 60, 90, 90]   # partly outside: clipped
    grid = be.Grid(batch_size=3, shape=(16, 16), stride=4, input_shape=(64, 64))
    heat, targets, centers = be.centerx_encode(be.Box2DTask(), be.CornerNetGaussian(0.7),
                                               be.to_instances(images), grid, 5)
    base = be.baseline_encode(images, 5, grid.shape, 4, 40)
    assert be.check_encoding(images, heat, targets, centers, grid, base) <= 1e-6
    assert not bool(centers.valid[0]) and bool(centers.valid[40])
