#!/usr/bin/env python
"""Look at what the network is asked to learn: samples after the training (or validation)
pipeline with their ground truth drawn, side by side with each head's rendered target heatmap.

Example::

    python tools/browse_dataset.py configs/multitask_synthetic.py --num 8 --out-dir browse/

Each picture is one sample (the ``--num`` samples from index ``--start``) (``<out-dir>/<index>_<image name>.png``): the network input with
its ground truth drawn by the tasks' drawers (so a plugin task that registers a drawer is
drawn too), then per head the target heatmap its own render path draws, and the
heatmap-like maps of its tasks (the keypoint heatmaps), over the dimmed input. The model is
built from the config with random weights (only its target rendering is used).
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import List, Optional, Sequence

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from centerx.apis import load_model_config, target_maps  # noqa: E402
from centerx.apis.config import dataset_cfg_of  # noqa: E402
from centerx.registry import DATASETS, MODELS  # noqa: E402
from centerx.visualization import draw_ground_truth, heatmap_overlay, put_title  # noqa: E402

#: pixels of white between the panels of a picture
GAP = 2


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file path')
    parser.add_argument('--split', choices=['train', 'val'], default='train',
                        help='which data loader\'s dataset and pipeline (default: train)')
    parser.add_argument('--num', type=int, default=10, help='number of samples (default: 10)')
    parser.add_argument('--start', type=int, default=0, help='index of the first sample (default: 0)')
    parser.add_argument('--out-dir', default='browse_dataset', help='where the pictures go (default: browse_dataset)')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE')
    return parser.parse_args(argv)


def side_by_side(panels: Sequence[np.ndarray]) -> np.ndarray:
    """Panels of one height in a row, separated by :data:`GAP` white columns."""
    h = panels[0].shape[0]
    gap = np.full((h, GAP, 3), 255, np.uint8)
    row: List[np.ndarray] = []
    for panel in panels:
        row += [panel, gap]
    return np.concatenate(row[:-1], axis=1)


def browse_picture(model, item: dict, classes: Sequence[str]) -> np.ndarray:
    """The picture of one packed sample ``{'inputs', 'data_samples'}``."""
    inputs, sample = item['inputs'], item['data_samples']
    img = np.ascontiguousarray(inputs.permute(1, 2, 0).numpy())
    if img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    drawn = draw_ground_truth(img, sample, classes)
    put_title(drawn, 'ground truth')
    heat = [heatmap_overlay(img, m.heat, m.title, m.stride) for m in target_maps(model, inputs, sample)]
    return side_by_side([drawn, *heat])


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    args = parse_args(argv)
    if args.num < 1 or args.start < 0:
        raise SystemExit(f'--num must be >= 1 and --start >= 0, got {args.num} and {args.start}')
    cfg = load_model_config(args.config, args.cfg_options)
    dataset = DATASETS.build(dataset_cfg_of(cfg, args.split))
    model = MODELS.build(cfg.model).eval()
    classes = model.classes
    os.makedirs(args.out_dir, exist_ok=True)
    written = []
    if args.start >= len(dataset):
        raise SystemExit(f'--start {args.start}: the {args.split} set has {len(dataset)} samples')
    for index in tqdm(range(args.start, min(args.start + args.num, len(dataset))), desc='browse', unit='image'):
        item = dataset[index]
        picture = browse_picture(model, item, classes)
        name = osp.splitext(osp.basename(item['data_samples'].meta.img_path))[0] or 'image'
        path = osp.join(args.out_dir, f'{index:05d}_{name}.png')
        if not cv2.imwrite(path, picture):
            raise OSError(f'cannot write {path}')
        written.append(path)
    print(f'wrote {len(written)} pictures to {args.out_dir}')
    return written


if __name__ == '__main__':
    main()
