"""tools/export_onnx.py end to end: a tiny three-head config and a checkpoint in, a checked ONNX file with
named outputs and centerx metadata out; bad checkpoints and missing input sizes named."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from centerx.engine.launch import load_config  # noqa: E402
from centerx.registry import MODELS  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / 'configs' / 'multitask_tiny.py'


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('export_onnx')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = MODELS.build(load_config(str(CONFIG)).model)
    path = tmp_path_factory.mktemp('ckpt') / 'iter_1.pth'
    torch.save({'meta': {}, 'state_dict': model.state_dict()}, path)
    return path


def test_exports_every_head_with_named_outputs(tool, checkpoint, tmp_path, capsys):
    out = tmp_path / 'model.onnx'
    report = tool.main([str(CONFIG), str(checkpoint), '--out', str(out), '--topk', '5'])
    printed = capsys.readouterr().out
    assert 'wrote' in printed and 'onnxruntime vs PyTorch' in printed
    heads = ('shapes', 'vehicles', 'person')  # the three heads of configs/multitask_synthetic.py
    assert report['outputs'] == ['shapes.scores', 'shapes.labels', 'shapes.bboxes', 'vehicles.scores',
                                 'vehicles.labels', 'vehicles.polygons', 'vehicles.rboxes', 'person.scores',
                                 'person.labels', 'person.bboxes', 'person.keypoints']
    assert report['input_size'] == [64, 64]  # from the test pipeline's CenterAffine
    assert all(value <= tool.CHECK_TOLERANCE for value in report['max_differences'].values())
    assert all(report['max_differences'][f'{h}.labels'] == 0 for h in heads)
    proto = onnx.load(str(out))
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    assert meta['centerx.topk'] == 5 and meta['centerx.input_shape'] == [64, 64]
    assert meta['centerx.outputs'] == report['outputs'] and meta['centerx.normalized_in_graph'] is True
    assert [o.name for o in proto.graph.output] == report['outputs']
    ranks = {o.name: len(o.type.tensor_type.shape.dim) for o in proto.graph.output}
    assert ranks['person.keypoints'] == 4 and ranks['vehicles.polygons'] == 3 and ranks['shapes.scores'] == 2


def test_checkpoint_of_another_model_is_refused(tool, tmp_path):
    wrong = tmp_path / 'wrong.pth'
    torch.save({'state_dict': {'backbone.unknown': torch.zeros(1)}}, wrong)
    with pytest.raises(SystemExit, match='does not fit the model'):
        tool.main([str(CONFIG), str(wrong), '--out', str(tmp_path / 'm.onnx')])


def test_input_size_from_flag_or_a_clear_error(tool, checkpoint, tmp_path):
    no_resize = tmp_path / 'no_resize.py'
    no_resize.write_text(f"_base_ = [{str(CONFIG)!r}]\ntest_dataloader = None\nval_dataloader = None\n"
                         "val_cfg = None\ntest_cfg = None\nval_evaluator = None\ntest_evaluator = None\n")
    with pytest.raises(SystemExit, match='pass --input-size H W'):
        tool.main([str(no_resize), str(checkpoint), '--out', str(tmp_path / 'm.onnx')])
    report = tool.main([str(no_resize), str(checkpoint), '--out', str(tmp_path / 'm.onnx'), '--input-size', '32', '64',
                        '--no-check'])
    assert report['input_size'] == [32, 64] and 'max_differences' not in report
