"""DotaMetric through the mmengine metric interface: fixtures, hand cases, Task1 files, merging."""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData

from centerx.evaluation import MissingPredictionsError
from centerx.registry import METRICS
from centerx.structures import DetSample, ImageMeta
from centerx_tasks.rotated.dota_dataset import DotaDataset
from centerx_tasks.rotated.dota_metric import DotaMetric
from centerx_tasks.rotated.submission import read_task1_submission

CLASSES = ('plane', 'ship')


def box(x0: float, y0: float, w: float = 10.0, h: float = 10.0) -> List[float]:
    return [x0, y0, x0 + w, y0, x0 + w, y0 + h, x0, y0 + h]


def sample(img_id: str, polys: Sequence, scores: Sequence[float], labels: Sequence[int],
           shape=(100, 100), head: str = 'h') -> DetSample:
    preds = InstanceData(polygons=torch.as_tensor(np.asarray(polys, np.float32).reshape(-1, 8)),
                         scores=torch.as_tensor(np.asarray(scores, np.float32)),
                         labels=torch.as_tensor(np.asarray(labels, np.int64)))
    return DetSample(meta=ImageMeta(img_id=img_id, img_path=f'{img_id}.png', ori_shape=shape), preds={head: preds})


def write_labels(folder: Path, name: str, lines: Sequence[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f'{name}.txt').write_text('imagesource:x\ngsd:null\n' + ''.join(line + '\n' for line in lines))


def evaluate(metric: DotaMetric, samples: Sequence[DetSample], classes=CLASSES, ann_dir: Optional[Path] = None):
    metric.dataset_meta = dict(classes=classes, **({'ann_dir': str(ann_dir)} if ann_dir else {}))
    metric.process({}, list(samples))
    return metric.evaluate(len(samples))


def test_fixture_ground_truth_is_perfect(dota_dir: Path, tmp_path: Path) -> None:
    ds = DotaDataset(data_root=str(dota_dir))
    metric = METRICS.build(dict(type='DotaMetric', outfile_dir=str(tmp_path / 'task1')))
    metric.dataset_meta = ds.metainfo
    samples = []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        inst = info['instances']
        n = len(inst['labels'])
        samples.append(sample(info['img_id'], inst['polygons'], np.linspace(1.0, 0.5, n), inst['labels'],
                              shape=(info['height'], info['width'])))
    metric.process({}, samples)
    out = metric.evaluate(len(samples))
    assert out == {'dota/mAP': 1.0, 'dota/AP_small-vehicle': 1.0, 'dota/AP_large-vehicle': 1.0,
                   'dota/AP_ship': 1.0, 'dota/AP_harbor': 1.0}
    written = read_task1_submission(tmp_path / 'task1', ds.metainfo['classes'])
    assert sorted(written) == ['P0706', 'P1888']
    assert sum(len(v) for per in written.values() for v in per.values()) == 600
    assert len(list((tmp_path / 'task1').glob('Task1_*.txt'))) == 15


def test_hand_computed_ap(tmp_path: Path) -> None:
    ann = tmp_path / 'labelTxt'
    write_labels(ann, 'img', [' '.join(map(str, box(0, 0))) + ' plane 0', ' '.join(map(str, box(100, 0))) + ' plane 0',
                              ' '.join(map(str, box(50, 50))) + ' ship 1'])
    write_labels(ann, 'other', [])
    # scores 0.9 hits G1, 0.8 hits nothing, 0.7 hits G2: precision 1, 1/2, 2/3 at recall 1/2, 1/2, 1
    # VOC07: 6 thresholds see 1, 5 see 2/3 -> 28/33; area: 1/2 * 1 + 1/2 * 2/3 = 5/6.
    # The ship is difficult (no GT counted, its detection is ignored): no AP_ship.
    polys = [box(0, 0), box(300, 300), box(100, 1), box(50, 50)]
    samples = [sample('img', polys, [0.9, 0.8, 0.7, 0.95], [0, 0, 0, 1]), sample('other', [], [], [])]
    out = evaluate(DotaMetric(), samples, ann_dir=ann)
    assert out == {'dota/mAP': round(28 / 33, 4), 'dota/AP_plane': round(28 / 33, 4)}
    out = evaluate(DotaMetric(use_07_metric=False, prefix='x', ann_dir=str(ann)), samples)
    assert out == {'x/mAP': round(5 / 6, 4), 'x/AP_plane': round(5 / 6, 4)}
    strict = evaluate(DotaMetric(iou_thr=0.95, classwise=False), samples, ann_dir=ann)
    assert strict['dota/mAP'] == round(6 / 11, 4)  # the shifted box (IoU 0.9) no longer matches
    repeated = evaluate(DotaMetric(), samples + samples[:1], ann_dir=ann)  # sampler padding
    assert repeated['dota/mAP'] == round(28 / 33, 4)
    # the devkit's count: the ship (no non-difficult GT) has AP 0 and is averaged in
    devkit = evaluate(DotaMetric(classes_without_gt='devkit'), samples, ann_dir=ann)
    assert devkit['dota/AP_ship'] == 0.0 and devkit['dota/mAP'] == round(28 / 33 / len(CLASSES), 4)
    with pytest.raises(ValueError, match='classes_without_gt'):
        DotaMetric(classes_without_gt='all')


def test_task1_files(tmp_path: Path) -> None:
    ann = tmp_path / 'labelTxt'
    write_labels(ann, 'a', [' '.join(map(str, box(0, 0))) + ' ship 0'])
    write_labels(ann, 'b', [])
    samples = [sample('a', [box(0, 0), box(20, 20)], [0.9, 0.3], [1, 0]), sample('b', [box(5, 5)], [0.5], [1])]
    evaluate(DotaMetric(outfile_dir=str(tmp_path / 'out')), samples, ann_dir=ann)
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['Task1_plane.txt', 'Task1_ship.txt']
    lines = (tmp_path / 'out' / 'Task1_ship.txt').read_text().splitlines()
    assert lines[0].split()[0] == 'a' and float(lines[0].split()[1]) == pytest.approx(0.9) and len(lines) == 2
    back = read_task1_submission(tmp_path / 'out', CLASSES)
    np.testing.assert_allclose(back['a'][0], [box(20, 20) + [0.3]], atol=1e-6)
    np.testing.assert_allclose(back['b'][1], [box(5, 5) + [0.5]], atol=1e-6)


def test_merge_patches_equals_full_image(tmp_path: Path) -> None:
    """Two 200x200 patches (x0 = 0 and 100) of a 300x200 image; objects in the overlap appear twice."""
    full = tmp_path / 'full'
    rng = np.random.default_rng(0)
    gt, dets = [], []
    for k, x in enumerate([10, 60, 120, 150, 170, 230, 260]):
        y = float(rng.uniform(10, 170))
        gt.append(box(x, y, 20, 8))
        dets.append((box(x + rng.uniform(-2, 2), y + rng.uniform(-1, 1), 20, 8), float(rng.uniform(0.3, 1)), k % 2))
    dets.append((box(40, 100, 20, 8), 0.95, 0))  # a false positive in patch A only
    write_labels(full, 'IMG', [' '.join(f'{v:g}' for v in p) + f' {CLASSES[k % 2]} 0' for k, p in enumerate(gt)])
    polys = np.array([d[0] for d in dets]).reshape(-1, 4, 2)
    scores = np.array([d[1] for d in dets])
    labels = np.array([d[2] for d in dets])
    whole = evaluate(DotaMetric(), [sample('IMG', polys.reshape(-1, 8), scores, labels)], ann_dir=full)

    patches = []
    for x0 in (0, 100):
        inside = (polys[..., 0].min(1) >= x0) & (polys[..., 0].max(1) <= x0 + 200)
        shifted = polys[inside] - np.array([x0, 0.0])
        patches.append(sample(f'IMG__1__{x0}___0', shifted.reshape(-1, 8), scores[inside], labels[inside],
                              shape=(200, 200)))
    assert sum(len(p.preds['h'].scores) for p in patches) > len(dets)  # duplicates in the overlap
    merged = evaluate(DotaMetric(merge_patches=True, merged_ann_dir=str(full), outfile_dir=str(tmp_path / 'm')),
                      patches, ann_dir=tmp_path / 'no_patch_labels_needed')
    assert merged == whole and 0 < whole['dota/mAP'] < 1
    back = read_task1_submission(tmp_path / 'm', CLASSES)
    assert list(back) == ['IMG'] and sum(len(v) for v in back['IMG'].values()) == len(dets)
    # without the NMS the overlap duplicates would be false positives
    to_full = [p.preds['h'].polygons.numpy().reshape(-1, 4, 2) + np.array([x0, 0.0], np.float32)
               for p, x0 in zip(patches, (0, 100))]
    no_nms = sample('IMG', np.concatenate(to_full).reshape(-1, 8), torch.cat([p.preds['h'].scores for p in patches]),
                    torch.cat([p.preds['h'].labels for p in patches]))
    assert evaluate(DotaMetric(), [no_nms], ann_dir=full)['dota/mAP'] < whole['dota/mAP']


def test_errors_and_edge_cases(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='merged_ann_dir'):
        DotaMetric(merge_patches=True)
    metric = DotaMetric()
    metric.dataset_meta = dict(classes=CLASSES, ann_dir=str(tmp_path))
    with pytest.raises(ValueError, match='not class indices'):
        metric.process({}, [sample('a', [box(0, 0)], [0.5], [2])])
    metric.process({}, [sample('a', [box(0, 0)], [0.5], [1])])
    with pytest.raises(FileNotFoundError, match='a.txt'):
        metric.compute_metrics(metric.results)
    assert metric.compute_metrics([]) == {'mAP': -1.0}
    write_labels(tmp_path, 'nothing', [])
    empty = sample('nothing', np.zeros((0, 8)), [], [])  # a head that found nothing
    assert evaluate(DotaMetric(), [empty], ann_dir=tmp_path) == {'dota/mAP': -1.0}
    no_field = DetSample(meta=ImageMeta(img_id='nothing', img_path='x', ori_shape=(9, 9)))
    with pytest.raises(MissingPredictionsError, match="DotaMetric: image nothing has no predictions of 'polygons'"):
        evaluate(DotaMetric(), [no_field], ann_dir=tmp_path)
    with pytest.raises(ValueError, match='patch name'):
        evaluate(DotaMetric(merge_patches=True, merged_ann_dir=str(tmp_path)), [empty], ann_dir=tmp_path)
    nan = sample('nothing', [[np.nan] * 8, box(0, 0)], [0.5, 0.4], [0, 0])
    assert evaluate(DotaMetric(), [nan], ann_dir=tmp_path) == {'dota/mAP': -1.0}
