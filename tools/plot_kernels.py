#!/usr/bin/env python
"""Draw every registered heatmap kernel on the same box, side by side.

``python tools/plot_kernels.py [--size W H] [--angle DEG] [--out docs/images/kernels.png]``

Each panel is the target heatmap the kernel renders for one box of ``W x H`` grid cells (default
24 x 12, rotated by ``--angle`` degrees, default 20; kernels without an angle draw it
axis-aligned), with the box outline on top, so the kernels' spreads and windows can be compared.
"""
from __future__ import annotations

import argparse
import math
import os.path as osp
import sys
from typing import Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from centerx.heatmap import build_kernel, render_gaussians  # noqa: E402
from centerx.registry import KERNELS  # noqa: E402

#: kernel configs drawn besides each registered kernel's defaults
EXTRA = (dict(type='BoxFillingGaussian', beta=1.0),)


def kernel_configs() -> list:
    """Every registered kernel with its defaults, then :data:`EXTRA`."""
    return [dict(type=name) for name in sorted(KERNELS.module_dict)] + [dict(c) for c in EXTRA]


def render_one(cfg: dict, size: Sequence[float], angle: float, grid: int) -> torch.Tensor:
    """(grid, grid) heatmap of one box of ``size`` (w, h) at ``angle`` (radians), centered."""
    kernel = build_kernel(cfg)
    shape = kernel(torch.tensor([list(size)], dtype=torch.float32), torch.tensor([angle]))
    c = grid // 2
    heat = render_gaussians((1, 1, grid, grid), torch.zeros(1, dtype=torch.int64), torch.zeros(1, dtype=torch.int64),
                            torch.tensor([[c, c]]), shape)
    return heat[0, 0]


def label(cfg: dict) -> str:
    args = ', '.join(f'{k}={v}' for k, v in cfg.items() if k != 'type')
    return cfg['type'] + (f'\n({args})' if args else '')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--size', nargs=2, type=float, default=(24.0, 12.0), metavar=('W', 'H'))
    parser.add_argument('--angle', type=float, default=20.0, help='box angle in degrees')
    parser.add_argument('--out', default='docs/images/kernels.png')
    args = parser.parse_args(argv)
    angle = math.radians(args.angle)
    grid = int(2 * math.ceil(max(args.size) / 2) + 7)
    cfgs = kernel_configs()
    cols = 4
    rows = math.ceil(len(cfgs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.3 * rows), squeeze=False)
    w, h = args.size
    corners = torch.tensor([[-w, -h], [w, -h], [w, h], [-w, h], [-w, -h]]) / 2
    rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    outline = corners @ rot.T + grid // 2
    for ax, cfg in zip(axes.flat, cfgs):
        heat = render_one(cfg, args.size, angle, grid)
        ax.imshow(heat.numpy(), cmap='viridis', vmin=0, vmax=1, interpolation='nearest')
        ax.plot(outline[:, 0].numpy(), outline[:, 1].numpy(), color='white', lw=1)
        ax.set_title(label(cfg), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[len(cfgs):]:
        ax.axis('off')
    fig.suptitle(f'target heatmaps of one {w:g} x {h:g}-cell box at {args.angle:g} degrees '
                 '(white: the box; axis-aligned kernels ignore the angle)', fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f'wrote {args.out} ({len(cfgs)} kernels)')


if __name__ == '__main__':
    main()
