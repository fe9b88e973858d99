"""Smoke test of tools/benchmark_train.py on the tiny config, for a few iterations."""
import os.path as osp

import pytest
import torch

TINY = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'box2d_tiny.py')


@pytest.fixture(scope='module')
def bt(load_tool):
    return load_tool('benchmark_train')


def test_quick_run_times_both_loops_and_counts_flops(bt, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the tiny config generates its data under ./data/tiny
    threads = torch.get_num_threads()
    results = bt.main([TINY, '--iters', '3', '--warmup', '1', '--round-iters', '2', '--markdown'])
    assert torch.get_num_threads() == threads
    (r,) = results
    assert len(r.centerx) == len(r.plain) == 3 and r.images == 12
    assert r.centerx_images_per_s > 0 and r.plain_images_per_s > 0 and r.ratio > 0
    assert 0.0 <= r.data_share <= 1.0
    assert r.first_losses[0] == pytest.approx(r.first_losses[1], rel=1e-5)  # same model, batch, loss
    top = [f for f in r.flops if f.level == 0]
    assert [f.name.split()[0] for f in top] == ['backbone', 'neck', 'head']
    assert sum(f.share for f in top) == pytest.approx(1.0)
    assert sum(f.flops for f in top) == r.flops_whole > 0
    branches = [f for f in r.flops if f.level == 1]
    assert sum(f.flops for f in branches) == top[-1].flops
    out = capsys.readouterr().out
    assert '| config | batch |' in out and '| component | GFLOP/batch | share |' in out


def test_plan_interleaves_rounds_with_refill(bt):
    plan = bt.Plan.make(iters=5, warmup=2, round_iters=2, refill=1)
    assert plan.kinds == ['warmup'] * 2 + ['refill', 'timed', 'timed'] * 2 + ['refill', 'timed']
    assert plan.block_ends == {1, 4, 7, 9}
    plan = bt.Plan.make(iters=3, warmup=0, round_iters=2, refill=2)  # no plain block to refill after
    assert plan.kinds == ['timed'] * 2 + ['refill'] * 2 + ['timed'] and plan.block_ends == {1, 4}
