"""Bad files: unreadable, empty, truncated and junk images and annotation files give errors
naming the file (also through a data loader worker); drawings of same-named images of
different folders do not overwrite each other."""
from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from torch.utils.data import DataLoader

from centerx.data.transforms import LoadImage
from centerx.data.transforms.loading import read_image_file, truncation_of
from centerx.engine.hooks import DrawPredictionsHook, show_path
from centerx.structures import DetSample, ImageMeta
from centerx_tasks.box2d.coco_dataset import CocoDetDataset


def write_image(path: Path, ext: str = '.jpg', value: int = 0) -> bytes:
    """A 24x32 noisy image written to ``path``; returns its encoded bytes."""
    rng = np.random.default_rng(value)
    img = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.tobytes())
    return buf.tobytes()


@pytest.mark.parametrize('ext', ['.jpg', '.png'])
def test_complete_images_load(tmp_path, ext) -> None:
    path = tmp_path / f'a{ext}'
    write_image(path, ext)
    assert read_image_file(str(path)).shape == (24, 32, 3)
    assert truncation_of(path.read_bytes()) is None
    assert truncation_of(path.read_bytes() + b'\x00' * 16) is None  # trailing padding after the end is fine


@pytest.mark.parametrize('ext, keep, reason', [
    ('.jpg', 0.6, 'truncated JPEG'), ('.jpg', 0.95, 'truncated JPEG'), ('.png', 0.6, 'truncated PNG'),
    ('.png', 0.0, 'is empty'), ('.jpg', None, 'not a readable image')])
def test_truncated_empty_or_junk_images_are_named_errors(tmp_path, ext, keep, reason) -> None:
    path = tmp_path / f'bad{ext}'
    data = write_image(path, ext)
    path.write_bytes(b'\x01junk' * 40 if keep is None else data[:int(len(data) * keep)])
    if ext == '.jpg' and keep:
        # what this guards against: OpenCV decodes a cut JPEG without any error
        assert cv2.imread(str(path)) is not None
    with pytest.raises(ValueError, match=reason) as err:
        LoadImage()(dict(img_path=str(path), img_id=7))
    assert str(path) in str(err.value) and 'img_id=7' in str(err.value)


def test_missing_and_unreadable_images_are_named_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match='does not exist') as err:
        read_image_file(str(tmp_path / 'nope.jpg'), 3)
    assert 'nope.jpg (img_id=3)' in str(err.value)
    with pytest.raises(ValueError, match='cannot be read') as err:  # a folder named like an image
        (tmp_path / 'dir.jpg').mkdir()
        read_image_file(str(tmp_path / 'dir.jpg'))
    assert 'dir.jpg' in str(err.value)


@pytest.mark.parametrize('content', [b'{"images": [', b'\xff\xfe\x00junk', b'[1, 2]', b''])
def test_annotation_file_that_is_not_coco_json_is_a_named_error(tmp_path, content) -> None:
    path = tmp_path / 'ann.json'
    path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        CocoDetDataset(ann_file=str(path), test_mode=True)
    assert str(path) in str(err.value)


def test_deeply_nested_json_is_a_named_error(tmp_path) -> None:
    path = tmp_path / 'ann.json'
    path.write_text('[' * 100_000 + ']' * 100_000)
    with pytest.raises(ValueError, match='not a valid json') as err:
        CocoDetDataset(ann_file=str(path), test_mode=True)
    assert str(path) in str(err.value)


def test_a_bad_image_in_a_loader_worker_surfaces_in_the_main_process(tmp_path) -> None:
    good = tmp_path / 'img' / 'good.jpg'
    write_image(good)
    cut = tmp_path / 'img' / 'cut.jpg'
    cut.write_bytes(write_image(cut)[:300])
    coco = dict(images=[dict(id=1, file_name='good.jpg', height=24, width=32),
                        dict(id=2, file_name='cut.jpg', height=24, width=32)],
                annotations=[], categories=[dict(id=1, name='thing')])
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(coco))
    ds = CocoDetDataset(ann_file=str(ann), data_prefix=dict(img=str(tmp_path / 'img')), test_mode=True,
                        pipeline=[LoadImage()])
    loader = DataLoader(ds, batch_size=1, num_workers=1, collate_fn=lambda batch: batch, timeout=120)
    batches = iter(loader)
    assert next(batches)[0]['img'].shape == (24, 32, 3)
    with pytest.raises(ValueError, match='truncated JPEG') as err:
        next(batches)
    assert str(cut) in str(err.value) and 'img_id=2' in str(err.value)


def bad_image_dataset(tmp_path: Path, **kwargs) -> CocoDetDataset:
    """Four images: good, truncated, missing, junk (in that order)."""
    folder = tmp_path / 'img'
    write_image(folder / 'good.jpg')
    (folder / 'cut.jpg').write_bytes(write_image(folder / 'cut.jpg')[:300])
    (folder / 'junk.png').write_bytes(b'\x01junk' * 40)
    names = ['good.jpg', 'cut.jpg', 'gone.jpg', 'junk.png']
    coco = dict(images=[dict(id=k + 1, file_name=n, height=24, width=32) for k, n in enumerate(names)],
                annotations=[], categories=[dict(id=1, name='thing')])
    ann = tmp_path / 'ann.json'
    ann.write_text(json.dumps(coco))
    return CocoDetDataset(ann_file=str(ann), data_prefix=dict(img=str(folder)), pipeline=[LoadImage()], **kwargs)


def test_bad_images_are_counted_skips_under_on_invalid_skip(tmp_path, monkeypatch) -> None:
    import centerx.data.base_dataset as base_dataset
    messages = []
    monkeypatch.setattr(base_dataset, 'log', lambda message, level=None: messages.append(message))
    ds = bad_image_dataset(tmp_path, on_invalid='skip')
    for idx in (1, 2, 3):  # each bad one is replaced by another item: the good image
        item = ds[idx]
        assert item['img'].shape == (24, 32, 3) and item['img_id'] == 1
    assert ds.num_skipped_images >= 3  # each bad item once, plus bad items drawn as replacements
    assert any('1 of 4 image files do not exist' in m for m in messages)  # counted at build, kept
    skips = [m for m in messages if 'skipped so far' in m]
    logged = '\n'.join(skips)
    assert len(skips) == ds.num_skipped_images
    assert 'cut.jpg' in logged and 'gone.jpg' in logged and 'junk.png' in logged and 'skipped so far' in logged


def test_bad_images_raise_naming_the_file_under_raise_and_in_test_mode(tmp_path) -> None:
    for kwargs in (dict(), dict(on_invalid='skip', test_mode=True)):
        with pytest.raises(FileNotFoundError, match=r'1 of 4 image files do not exist, the first: .*gone\.jpg'):
            bad_image_dataset(tmp_path, **kwargs)  # a missing file fails the build
        gone = tmp_path / 'img' / 'gone.jpg'
        write_image(gone)
        ds = bad_image_dataset(tmp_path, **kwargs)
        gone.unlink()  # removed after the build: the load names it
        with pytest.raises(ValueError, match='truncated JPEG') as err:
            ds[1]
        assert str(tmp_path / 'img' / 'cut.jpg') in str(err.value)
        with pytest.raises(FileNotFoundError, match='gone.jpg'):
            ds[2]
        assert ds.num_skipped_images == 0


def test_skipped_images_in_a_loader_worker_do_not_hang_it(tmp_path) -> None:
    ds = bad_image_dataset(tmp_path, on_invalid='skip')
    loader = DataLoader(ds, batch_size=4, num_workers=1, collate_fn=lambda batch: batch, timeout=120)
    (batch,) = list(loader)
    assert [item['img_id'] for item in batch] == [1, 1, 1, 1]


def test_show_path_keeps_the_folders_below_the_image_root(tmp_path) -> None:
    out = str(tmp_path / 'shown')
    root = str(tmp_path / 'data')
    a, b = show_path(out, f'{root}/x/img.jpg', root), show_path(out, f'{root}/y/img.jpg', root)
    assert a == os.path.join(out, 'x', 'img.jpg') and b == os.path.join(out, 'y', 'img.jpg')
    assert show_path(out, 'x/img.jpg') != show_path(out, 'y/img.jpg')
    assert show_path(out, '/elsewhere/img.jpg', root) == os.path.join(out, '_abs', 'elsewhere', 'img.jpg')
    outside = show_path(out, '../up/img.jpg')
    assert os.path.normpath(outside).startswith(out) and outside.endswith(os.path.join('__', 'up', 'img.jpg'))
    assert show_path(out, 'a/img.png') == os.path.join(out, 'a', 'img.png.jpg')  # apart from a/img.jpg


def test_draw_hook_does_not_overwrite_same_named_images(tmp_path) -> None:
    root = tmp_path / 'data'
    paths = [root / 'x' / 'img.jpg', root / 'y' / 'img.jpg']
    for k, p in enumerate(paths):
        write_image(p, value=k)
    dataset = SimpleNamespace(metainfo=dict(classes=('thing',)), data_prefix=dict(img=str(root)))
    runner = SimpleNamespace(test_dataloader=SimpleNamespace(dataset=dataset))
    samples = [DetSample(meta=ImageMeta(img_id=k, img_path=str(p), ori_shape=(24, 32), img_shape=(24, 32),
                                        pad_shape=(24, 32))) for k, p in enumerate(paths)]
    out = tmp_path / 'shown'
    DrawPredictionsHook(out_dir=str(out)).after_test_iter(runner, 0, outputs=samples)
    written = sorted(str(p.relative_to(out)) for p in out.rglob('*.jpg'))
    assert written == [os.path.join('x', 'img.jpg'), os.path.join('y', 'img.jpg')]
    drawn = [cv2.imread(str(out / w)).astype(int) for w in written]
    assert np.abs(drawn[0] - drawn[1]).mean() > 20  # two different images, none overwritten
