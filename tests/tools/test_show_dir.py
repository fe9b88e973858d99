"""``tools/test.py --show-dir`` on a test config holding one source of a multi-source model: the
source is evaluated, only its head is drawn, blank pictures are explained, git ignores the folder."""
from __future__ import annotations

import re
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[2]
MULTITASK_TINY = REPO / 'tests' / 'configs' / 'multitask_tiny.py'

#: the tiny multi-task model, tested on its shapes source alone
ONE_SOURCE = f'''_base_ = [{str(MULTITASK_TINY)!r}]
shape_classes = ('circle', 'square', 'triangle', 'cross', 'star')
shapes_synthetic = dict(root='data/synthetic_shapes/', num_train=0, num_val=4, image_size=(64, 64), seed=0,
                        classes=shape_classes, max_objects=3, class_hues=True)
test_dataloader = dict(batch_size=4, dataset=dict(sources=dict(_delete_=True, shapes=dict(
    type='CocoDetDataset', data_root='data/synthetic_shapes/', ann_file='annotations/val.json',
    data_prefix=dict(img='val/'), metainfo=dict(classes=shape_classes), test_mode=True,
    generate_if_missing=shapes_synthetic))))
test_evaluator = dict(_delete_=True, type='PerSourceMetric', metrics=dict(shapes=dict(type='CocoBboxMetric')))
'''


def test_one_source_of_a_multi_source_model_is_evaluated_and_drawn(load_tool, tmp_path, monkeypatch, capsys) -> None:
    from centerx.engine.launch import load_config
    from centerx.registry import MODELS
    monkeypatch.chdir(tmp_path)
    config = tmp_path / 'shapes_only.py'
    config.write_text(ONE_SOURCE)
    model = MODELS.build(load_config(str(config)).model)  # untrained: every score near sigmoid(-2.19) = 0.1
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, tmp_path / 'untrained.pth')
    metrics = load_tool('test').main([str(config), 'untrained.pth', '--work-dir', 'W', '--show-dir', 'shown'])
    assert 'shapes/coco/bbox_mAP' in metrics
    out = capsys.readouterr().out
    assert re.search(r"heads \['vehicles', 'person'\] have no ground truth in this dataset", out), out[-3000:]
    assert re.search(r'--show-dir: 4 pictures in shown; 0 predictions drawn \(score > --show-score-thr 0.3\), '
                     r"\d+ under it; heads \['person', 'vehicles'\] not drawn", out), out[-3000:]
    hint = re.search(r'--show-dir: 4 of 4 pictures show no prediction \(their best score was (0\.\d+)\); lower the '
                     r'threshold, e.g. --show-score-thr (0\.\d+)', out)
    assert hint and 0 < float(hint.group(2)) < float(hint.group(1)) < 0.3, out[-3000:]
    assert len(list((tmp_path / 'shown').rglob('*.jpg'))) == 4
    assert (tmp_path / 'shown' / '.gitignore').read_text().splitlines()[-1] == '*'
    assert 'Loads checkpoint by' not in out
    assert 'Loads checkpoint by' in next((tmp_path / 'W').glob('*/*.log')).read_text()
