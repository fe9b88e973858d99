"""Smoke test of tools/benchmark_heatmap_loss.py at a tiny size."""
import pytest
import torch


@pytest.fixture(scope='module')
def bh(load_tool):
    return load_tool('benchmark_heatmap_loss')


def test_quick_run_agrees_with_the_centernet_baseline(bh, capsys):
    threads = torch.get_num_threads()
    rows, limits = bh.main(['--quick', '--classes', '3', '--objects', '0', '15'])
    assert torch.get_num_threads() == threads
    assert len(rows) == 2 and len(limits) == 1
    for row in rows:
        assert row.ours > 0 and row.theirs > 0 and row.diff <= bh.LOSS_TOL
        assert 'dense head path' in row.note
    assert limits[0].loss > 0 and limits[0].softplus > 0
    out = capsys.readouterr().out
    assert 'loss / softplus' in out and 'goal: loss alone within 3x' in out


def test_baseline_loss_is_the_centerx_loss_on_border_and_overlapping_boxes(bh):
    args = bh.parse_args(['--quick'])
    case = bh.make_case(30, 2, args)
    case.images[0].bboxes[:3] = [[-10, -10, 0, 5], [100, 100, 140, 140], [10, 10, 30, 30]]
    case.images[1].bboxes[:2] = [[10, 10, 30, 30], [11, 10, 31, 30]]
    assert bh.check_paths(bh.make_head(2, 'sparse'), case) <= bh.LOSS_TOL
    case.logits.data[0, 0, :4] = 12.0   # beyond the probability clamp
    assert bh.check_paths(bh.make_head(2, 'dense'), case) <= bh.LOSS_TOL


def test_peak_memory_reports_the_dense_target(bh):
    """In this process (the benchmark runs it in a fresh one per path, which costs an import).
    The (2, 256, 128, 128) target and loss temporaries (33.5 MB each) lie above glibc's largest
    mmap threshold, so they are fresh pages here too, whatever earlier tests left allocated."""
    args = bh.parse_args(['--batch', '2', '--out-size', '128', '--max-size', '60'])
    dense = bh.memory_child('baseline', 2, 256, args)
    assert dense['inputs_mb'] == pytest.approx(2 * 260 * 128 * 128 * 4 / 2 ** 20)
    assert dense['peak_mb'] > 33.0
