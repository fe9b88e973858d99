#!/usr/bin/env python
"""Plot loss and metric curves of one or more trainings against the iteration.

Example::

    python tools/plot_curves.py work_dirs/box2d_synthetic
    python tools/plot_curves.py work_dirs/a work_dirs/b --labels a b --keys loss coco/bbox_mAP --out ab.png

Each WORK_DIR is a work dir (its newest ``<timestamp>/vis_data/scalars.json`` is read), a log
dir, or a ``scalars.json`` itself. Losses go on a log-scale plot, everything else (metrics,
``lr`` ...) on a second one; several runs are overlaid (one colour per key, one line style per
run), labelled by ``--labels`` or their work dirs' names. Default keys: ``loss``, every
``loss_*`` key and every metric key (``<prefix>/<name>``) found. Metric values of -1 (no ground
truth evaluated) are not drawn; nor are losses <= 0 (the loss plot has a log scale).
"""
from __future__ import annotations

import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from centerx.engine.scalars import Series, find_scalars, read_scalars  # noqa: E402

#: Timing keys that are neither losses nor metrics.
TIMING_LEAVES = ('time', 'data_time')
#: One line style per run; one colour per key.
LINESTYLES = ('-', '--', ':', '-.')


def is_loss_key(key: str) -> bool:
    """``loss``, ``loss_*`` (and ``val/loss*``)."""
    return key.rsplit('/', 1)[-1].startswith('loss')


def is_metric_key(key: str) -> bool:
    """An evaluator's ``<prefix>/<name>`` key (not a loss, not a timing)."""
    return '/' in key and not is_loss_key(key) and key.rsplit('/', 1)[-1] not in TIMING_LEAVES


def default_keys(runs: Sequence[Series]) -> List[str]:
    """The loss keys, then the metric keys, of all runs, in the order first seen."""
    seen: Dict[str, None] = {}
    for series in runs:
        seen.update((k, None) for k in series)
    return [k for k in seen if is_loss_key(k)] + [k for k in seen if is_metric_key(k)]


def run_label(path: str) -> str:
    """The name of the work dir of the ``scalars.json`` that ``path`` means
    (``<work dir>/<timestamp>/vis_data/scalars.json``), else the name of the file's folder."""
    found = osp.abspath(find_scalars(path))
    work_dir = osp.dirname(osp.dirname(osp.dirname(found)))
    return osp.basename(work_dir) or osp.basename(osp.dirname(found))


def plot_curves(runs: Sequence[Series], labels: Sequence[str], keys: Sequence[str], out: str) -> List[str]:
    """Draw ``keys`` of every run into ``out`` (PNG); returns the keys that were drawn."""
    losses = [k for k in keys if is_loss_key(k)]
    others = [k for k in keys if not is_loss_key(k)]
    panels = [(title, group) for title, group in (('losses', losses), ('metrics', others)) if group]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 4 * len(panels)), squeeze=False)
    drawn: List[str] = []
    for ax, (title, group) in zip(axes[:, 0], panels):
        for run, (series, label) in enumerate(zip(runs, labels)):
            for colour, key in enumerate(group):
                points = [(s, v) for s, v in series.get(key, [])
                          if (v > 0 if title == 'losses' else not (is_metric_key(key) and v == -1))]
                if not points:
                    continue
                steps, values = zip(*points)
                name = key if len(runs) == 1 else f'{label}: {key}'
                ax.plot(steps, values, color=f'C{colour % 10}', linestyle=LINESTYLES[run % len(LINESTYLES)],
                        marker='o' if len(points) < 20 else None, markersize=4, label=name)
                drawn.append(key)
        if title == 'losses':
            ax.set_yscale('log')
        ax.set_title(title)
        ax.set_xlabel('iteration')
        ax.grid(True, alpha=0.3)
        if ax.lines:
            ax.legend(fontsize='small')
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return list(dict.fromkeys(drawn))


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR', help='work dir, log dir or scalars.json')
    parser.add_argument('--keys', nargs='+', help='keys to plot (default: losses and metrics)')
    parser.add_argument('--labels', nargs='+', help='one label per WORK_DIR (default: folder names)')
    parser.add_argument('--out', default='curves.png', help='PNG file to write (default: curves.png)')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> str:
    args = parse_args(argv)
    if args.labels and len(args.labels) != len(args.work_dirs):
        raise SystemExit(f'--labels: {len(args.labels)} labels for {len(args.work_dirs)} work dirs')
    runs = [read_scalars(p) for p in args.work_dirs]
    labels = args.labels or [run_label(p) for p in args.work_dirs]
    keys = args.keys or default_keys(runs)
    missing = [k for k in keys if not any(k in series for series in runs)]
    if missing:
        print(f'not in any run: {", ".join(missing)}', file=sys.stderr)
    present = [k for k in keys if k not in missing]
    drawn = plot_curves(runs, labels, present, args.out) if present else []
    if not drawn:
        raise SystemExit(f'nothing to plot: none of {keys} has values in {args.work_dirs}')
    print(f'wrote {args.out} ({", ".join(drawn)})')
    return args.out


if __name__ == '__main__':
    main()
