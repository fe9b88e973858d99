"""tools/demo.py end to end on a tiny multitask model (random weights, saved checkpoint): a folder
with same-named images in two subfolders, a single image, a video."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from centerx.apis import init_detector

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'tests' / 'configs' / 'multitask_tiny.py')


@pytest.fixture(scope='module')
def tool(load_tool):
    return load_tool('demo')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('ckpt') / 'model.pth'
    torch.save({'state_dict': init_detector(CONFIG).state_dict()}, path)
    return str(path)


def noise(seed: int, shape=(48, 72, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_a_folder_keeps_subfolders_apart(tool, checkpoint, tmp_path):
    for i, sub in enumerate(('left', 'right')):
        (tmp_path / 'in' / sub).mkdir(parents=True)
        cv2.imwrite(str(tmp_path / 'in' / sub / 'frame.png'), noise(i))
    out = tmp_path / 'out'
    written = tool.main([CONFIG, checkpoint, str(tmp_path / 'in'), '--out-dir', str(out), '--score-thr', '0.1',
                         '--batch-size', '2'])
    assert sorted(Path(p).relative_to(out).as_posix() for p in written) == [
        'left/frame.png.jpg', 'left/frame.png.json', 'right/frame.png.jpg', 'right/frame.png.json']
    records = [json.loads((out / sub / 'frame.png.json').read_text()) for sub in ('left', 'right')]
    assert records[0] != records[1]  # different images, different predictions: nothing overwritten
    for record in records:
        assert (record['height'], record['width']) == (48, 72)
        assert set(record['heads']) == {'shapes', 'vehicles', 'person'}
        dets = [d for head in record['heads'].values() for d in head]
        assert dets and all(d['score'] > 0.1 for d in dets)
    drawing = cv2.imread(str(out / 'left' / 'frame.png.jpg'))
    assert drawing.shape == (48, 72, 3)
    assert np.abs(drawing.astype(int) - noise(0).astype(int)).mean() > 3  # something was drawn


def test_a_single_image_and_a_score_threshold(tool, checkpoint, tmp_path):
    cv2.imwrite(str(tmp_path / 'one.jpg'), noise(3))
    out = tmp_path / 'out'
    tool.main([CONFIG, checkpoint, str(tmp_path / 'one.jpg'), '--out-dir', str(out), '--score-thr', '1.0'])
    assert (out / 'one.jpg').is_file()
    record = json.loads((out / 'one.jpg.json').read_text())
    assert all(dets == [] for dets in record['heads'].values())  # no score exceeds 1


def test_a_video_gives_an_annotated_video_and_one_record_per_frame(tool, checkpoint, tmp_path):
    video = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 5.0, (72, 48))
    for i in range(4):
        writer.write(noise(i))
    writer.release()
    out = tmp_path / 'out'
    written = tool.main([CONFIG, checkpoint, str(video), '--out-dir', str(out), '--score-thr', '0.1'])
    assert [Path(p).name for p in written] == ['clip.avi.mp4', 'clip.avi.json']
    frames = json.loads((out / 'clip.avi.json').read_text())
    assert [f['frame'] for f in frames] == [0, 1, 2, 3]
    capture = cv2.VideoCapture(str(out / 'clip.avi.mp4'))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    assert count == 4


def test_missing_input_and_bad_intrinsics_are_refused(tool, checkpoint, tmp_path):
    with pytest.raises(SystemExit, match='does not exist'):
        tool.main([CONFIG, checkpoint, str(tmp_path / 'nothing')])
    (tmp_path / 'empty').mkdir()
    with pytest.raises(SystemExit, match='no image'):
        tool.main([CONFIG, checkpoint, str(tmp_path / 'empty')])
    cv2.imwrite(str(tmp_path / 'one.png'), noise(1))
    with pytest.raises(SystemExit, match='--cam2img takes 4 values'):
        tool.main([CONFIG, checkpoint, str(tmp_path / 'one.png'), '--cam2img', '1', '2'])


def test_a_3d_model_takes_the_intrinsics_and_draws_cuboids(tool, tmp_path):
    config = str(REPO / 'tests' / 'configs' / 'box3d_tiny.py')
    torch.manual_seed(0)
    checkpoint = tmp_path / 'box3d.pth'
    torch.save({'state_dict': init_detector(config).state_dict()}, checkpoint)
    cv2.imwrite(str(tmp_path / 'road.png'), noise(5, (64, 96, 3)))
    args = [config, str(checkpoint), str(tmp_path / 'road.png'), '--out-dir', str(tmp_path / 'out'),
            '--score-thr', '0.0']
    with pytest.raises(LookupError, match='CameraMeta'):
        tool.main(args)
    tool.main(args + ['--cam2img', '80', '80', '48', '32'])
    record = json.loads((tmp_path / 'out' / 'road.png.json').read_text())
    dets = record['heads']['objects']
    assert dets and all(len(d['boxes3d']) == 7 and len(d['bboxes']) == 4 for d in dets)
