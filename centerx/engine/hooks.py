"""Hooks: drawing predictions for ``tools/test.py --show-dir``."""
from __future__ import annotations

import os
import os.path as osp
from typing import Optional, Sequence

import cv2
from mmengine.hooks import Hook

from centerx.registry import HOOKS
from centerx.structures import DetSample
from centerx.visualization import draw_predictions


@HOOKS.register_module()
class DrawPredictionsHook(Hook):
    """Save every test image with its predictions above ``score_thr`` drawn on it."""

    def __init__(self, out_dir: str, score_thr: float = 0.3) -> None:
        self.out_dir = out_dir
        self.score_thr = score_thr

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence[DetSample]] = None) -> None:
        os.makedirs(self.out_dir, exist_ok=True)
        classes = runner.test_dataloader.dataset.metainfo.get('classes', ())
        for sample in outputs or []:
            img = cv2.imread(sample.meta.img_path)
            if img is None:
                raise FileNotFoundError(f'cannot read {sample.meta.img_path} to draw predictions')
            canvas = draw_predictions(img, sample, classes, self.score_thr)
            name = osp.splitext(osp.basename(sample.meta.img_path))[0]
            cv2.imwrite(osp.join(self.out_dir, f'{name}.jpg'), canvas)
