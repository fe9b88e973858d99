"""Smoke test of tools/benchmark_tta.py at a tiny size."""


def test_quick_run_times_every_setting_and_the_merge(load_tool, capsys):
    rows = load_tool('benchmark_tta').main(['--quick'])
    assert [name for name, _ in rows] == ['predict, none', 'predict, flip', 'predict, 5 scales',
                                          'predict, 5 scales + flip', 'merge of 500 candidates, soft-NMS',
                                          'merge of 500 candidates, NMS']
    assert all(t > 0 for _, t in rows)
    assert 'x no TTA' in capsys.readouterr().out
