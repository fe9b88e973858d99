"""tools/ablate.py without training: every option is one config change that builds, the budget and
the smoke-run data reach the config, and the doc section is replaced between its markers."""
from __future__ import annotations

import pytest

import centerx_tasks  # noqa: F401
from centerx.registry import MODELS


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('ablate')


@pytest.mark.parametrize('demo', ['box2d_synthetic', 'rotated_synthetic'])
def test_every_option_changes_the_demo_config_and_builds(tool, demo, tmp_path):
    base = tool.demo_config(demo, 'baseline', 0, 40, str(tmp_path / 'w'))
    for option in tool.OPTIONS:
        cfg = tool.demo_config(demo, option, 2, 40, str(tmp_path / 'w'), quick_data=str(tmp_path / 'data'))
        assert cfg.train_cfg.max_iters == 40 and cfg.randomness.seed == 2
        assert cfg.param_scheduler[1].end == 40
        assert cfg.train_dataloader.dataset.generate_if_missing['num_train'] == 16
        assert cfg.train_dataloader.dataset.data_root.startswith(str(tmp_path / 'data'))
        if option != 'baseline':
            assert (cfg.model.to_dict() != base.model.to_dict()), f'{option} changes nothing'
        model = MODELS.build(cfg.model)
        head = model.heads['objects']
        assert (head.class_agnostic is not None) == (option == 'class_agnostic')
        assert (head.center_attention is not None) == (option == 'center_attention')
        assert (model.loss_balancing is not None) == (option in tool.BALANCING_OPTIONS)


def test_doc_section_is_replaced_between_markers(tool, tmp_path):
    doc = tmp_path / 'ablations.md'
    doc.write_text(f'# A\nintro\n{tool.BEGIN}\nold table\n{tool.END}\nafter\n')
    tool.write_doc(str(doc), 'new table')
    assert doc.read_text() == f'# A\nintro\n{tool.BEGIN}\nnew table\n{tool.END}\nafter\n'
    fresh = tmp_path / 'fresh.md'
    tool.write_doc(str(fresh), 'x')
    assert fresh.read_text().endswith(f'{tool.BEGIN}\nx\n{tool.END}\n')


def test_table_gives_mean_and_std_over_seeds(tool):
    rows = [dict(demo='box2d_synthetic', option='baseline', value=v, s_per_iter=s)
            for v, s in [(0.1, 1.0), (0.3, 3.0)]]
    text = tool.table(rows, ['box2d_synthetic'], ['baseline', 'dwa'])
    assert '| baseline | `the demo config as shipped` | 0.200 +- 0.141 | 2.000 +- 1.414 |' in text
    assert '| dwa |' in text and text.rstrip().endswith('| - | - |')


def test_side_by_side_runs_report_a_failed_run_by_its_log(tool, tmp_path):
    """--jobs: each run is a process of its own; one that fails stops the table with its log's
    path, and nothing is added to the results."""
    rows = []
    results = tmp_path / 'results.json'
    with pytest.raises(RuntimeError, match=r'1 ablation run\(s\) failed; see .*no_such_demo.*ablate\.log'):
        tool.run_side_by_side([('no_such_demo', 'baseline', 0, str(tmp_path / 'no_such_demo'), None)],
                              2, 4, str(results), rows, quick=False)
    assert rows == [] and not results.exists()
    assert 'no_such_demo' in (tmp_path / 'no_such_demo' / 'ablate.log').read_text()


def test_side_by_side_note_names_the_job_count(tool):
    assert tool.side_by_side_note([dict(side_by_side=1), {}]) == ''
    assert '14 side by side' in tool.side_by_side_note([dict(side_by_side=14), {}])


def test_side_by_side_runs_save_their_rows(tool, tmp_path):
    """--jobs 2 on the smoke data: both runs train in their own processes and their rows (metric,
    seconds per iteration, how many ran side by side) reach the results file."""
    rows = []
    results = tmp_path / 'results.json'
    data = str(tmp_path / 'data')
    pending = [('box2d_synthetic', option, 0, str(tmp_path / option), data) for option in ('baseline', 'dwa')]
    tool.run_side_by_side(pending, 2, 2, str(results), rows, quick=True)
    assert sorted(r['option'] for r in rows) == ['baseline', 'dwa']
    assert all(r['side_by_side'] == 2 and r['iters'] == 2 and r['quick'] and r['metric'] == 'coco/bbox_mAP'
               for r in rows)
    assert tool.load_results(str(results)) == rows


def test_side_by_side_with_nothing_pending_does_nothing(tool, tmp_path):
    rows = [dict(option='baseline')]
    tool.run_side_by_side([], 4, 800, str(tmp_path / 'results.json'), rows, quick=False)
    assert rows == [dict(option='baseline')] and not (tmp_path / 'results.json').exists()
