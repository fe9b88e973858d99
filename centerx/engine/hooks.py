"""Hooks: drawing predictions for ``tools/test.py --show-dir``."""
from __future__ import annotations

import os
import os.path as osp
from typing import Optional, Sequence

import cv2
from mmengine.hooks import Hook
from mmengine.logging import print_log

from centerx.data.transforms.loading import read_image_file
from centerx.registry import HOOKS
from centerx.structures import DetSample
from centerx.visualization import draw_predictions

from .show_stats import ShowStats, drawn_heads

#: drawings are JPEG files; other images get ``.jpg`` appended to their whole name
_JPEG = ('.jpg', '.jpeg')


def show_path(out_dir: str, img_path: str, img_root: Optional[str] = None) -> str:
    """Where the drawing of ``img_path`` goes: its path relative to ``img_root`` (the
    dataset's image folder) under ``out_dir``, so that images of one base name in different
    folders never overwrite each other. A path outside ``img_root`` (or without one) keeps
    all its folders (an absolute path below ``out_dir/_abs``, ``..`` written ``__``). The
    drawing is a JPEG: ``a/b.jpg`` stays ``a/b.jpg``, ``a/b.png`` becomes ``a/b.png.jpg``
    (so ``b.png`` and ``b.jpg`` of one folder stay apart too)."""
    norm = osp.normpath(img_path)
    if img_root and not osp.relpath(norm, osp.normpath(img_root)).startswith(os.pardir):
        rel = osp.relpath(norm, osp.normpath(img_root))
    elif osp.isabs(norm):
        rel = osp.join('_abs', osp.splitdrive(norm)[1].lstrip('/\\'))
    else:
        rel = osp.join(*['__' if part == os.pardir else part for part in norm.split(os.sep)])
    if osp.splitext(rel)[1].lower() not in _JPEG:
        rel += '.jpg'
    return osp.join(out_dir, rel)


@HOOKS.register_module()
class DrawPredictionsHook(Hook):
    """Save every test image with its predictions above ``score_thr`` drawn on it, at
    :func:`show_path` (the image's path relative to the dataset's ``data_prefix['img']``).

    Only the heads an image's source annotates are drawn on it (:func:`drawn_heads`). The output
    folder, when the hook creates it, gets a ``.gitignore`` of ``*`` (pictures never land in a
    repository's commits; an existing folder is left as it is), and
    the test ends with a line saying how many predictions were drawn and how many were under the
    threshold, with a lower one to try when pictures are blank (:class:`ShowStats`).
    """

    def __init__(self, out_dir: str, score_thr: float = 0.3) -> None:
        self.out_dir = out_dir
        self.score_thr = score_thr
        self.stats = ShowStats(score_thr)

    def before_test(self, runner) -> None:
        self.stats = ShowStats(self.score_thr)
        created = not osp.exists(self.out_dir)
        os.makedirs(self.out_dir, exist_ok=True)
        ignore = osp.join(self.out_dir, '.gitignore')
        if created:  # only a folder it makes: a user's existing folder is left as it is
            with open(ignore, 'w') as f:
                f.write('# pictures of tools/test.py --show-dir\n*\n')

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence[DetSample]] = None) -> None:
        dataset = runner.test_dataloader.dataset
        classes = dataset.metainfo.get('classes', ())
        img_root = (getattr(dataset, 'data_prefix', None) or {}).get('img')
        model = getattr(runner, 'model', None)
        model = getattr(model, 'module', model)
        for sample in outputs or []:
            heads = drawn_heads(model, sample)
            self.stats.add(sample, heads)
            img = read_image_file(sample.meta.img_path, sample.meta.img_id)
            canvas = draw_predictions(img, sample, classes, self.score_thr, heads=heads)
            path = show_path(self.out_dir, sample.meta.img_path, img_root)
            os.makedirs(osp.dirname(path), exist_ok=True)
            if not cv2.imwrite(path, canvas):
                raise OSError(f'cannot write the drawing of {sample.meta.img_path} to {path}')

    def after_test(self, runner) -> None:
        print_log(self.stats.summary(self.out_dir), logger='current')
