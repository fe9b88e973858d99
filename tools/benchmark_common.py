"""Pieces shared by the benchmark scripts: interleaved median timing, the results tables (text or
markdown) and the per-object baseline's CornerNet radius (written from the CenterNet formulas)."""
from __future__ import annotations

import contextlib
import math
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence, Tuple


def median_times(fns: Sequence[Callable[[], object]], repeats: int, warmup: int,
                 clock: Callable[[], float] = time.perf_counter) -> List[float]:
    """Median time (s) of each function over ``repeats`` calls after ``warmup`` calls.

    The functions are called in turn within each repeat, so a slow-down of the machine
    (other processes) hits all of them alike and the ratios stay meaningful. ``clock`` is wall
    time by default; ``time.process_time`` (CPU time of this process) is steadier on a shared
    machine for single-threaded runs.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: List[List[float]] = [[] for _ in fns]
    for _ in range(max(repeats, 1)):
        for fn, acc in zip(fns, times):
            t0 = clock()
            fn()
            acc.append(clock() - t0)
    return [statistics.median(acc) for acc in times]


def median_time(fn: Callable[[], object], repeats: int, warmup: int) -> float:
    return median_times([fn], repeats, warmup)[0]


@dataclass
class Row:
    """One line of the results table."""

    name: str
    ours: float
    theirs: float
    ratio: float
    diff: float
    note: str = ''


def format_number(x: float) -> str:
    return f'{x:,.0f}' if x >= 100 else f'{x:.1f}' if x >= 10 else f'{x:.2f}'


def format_table(headers: Sequence[str], cells: Sequence[Sequence[str]], align: Sequence[str],
                 markdown: bool = False) -> str:
    """A text table (`` a | b `` rows under a ``---+---`` rule) or, with ``markdown``, a markdown
    table; ``align`` holds ``'<'`` (left) or ``'>'`` (right) per column."""
    if markdown:
        def md_row(row: Sequence[str]) -> str:
            return '| ' + ' | '.join(c.replace('|', '\\|') for c in row) + ' |'
        rule = '| ' + ' | '.join('---:' if a == '>' else '---' for a in align) + ' |'
        return '\n'.join([md_row(headers), rule] + [md_row(c) for c in cells])
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    fmt = ' | '.join('{:%s%d}' % (a, w) for a, w in zip(align, widths))
    line = '+'.join('-' * (w + 2) for w in widths)
    return '\n'.join([' ' + fmt.format(*headers), line] + [' ' + fmt.format(*c) for c in cells])


def print_table(rows: Sequence[Row]) -> None:
    """measurement | centerx | baseline | ratio | max abs diff [| note] (the note column only when used)."""
    with_note = any(r.note for r in rows)
    headers = ('measurement', 'centerx', 'baseline', 'ratio', 'max abs diff') + (('note',) if with_note else ())
    cells = [(r.name, format_number(r.ours), format_number(r.theirs), f'{r.ratio:.1f}x', f'{r.diff:.2e}')
             + ((r.note,) if with_note else ()) for r in rows]
    align = '<' + '>' * 4 + ('<' if with_note else '')
    print(format_table(headers, cells, align))


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` torch threads; the previous count is restored after it."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def report(intro: str, rows: Sequence[Row], start: float) -> None:
    """Print ``intro``, the rows' table and the time since ``start`` (``time.perf_counter``)."""
    print(intro + '\n')
    print_table(rows)
    print(f'\nTotal time {time.perf_counter() - start:.1f} s')


def baseline_gaussian_radius(det_size: Tuple[float, float], min_overlap: float = 0.7) -> float:
    """CornerNet-code radius: the three quadratics solved as ``(b + sqrt(b^2 - 4ac)) / 2``."""
    height, width = det_size
    b1 = height + width
    c1 = width * height * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * c1)) / 2
    b2 = 2 * (height + width)
    c2 = (1 - min_overlap) * width * height
    r2 = (b2 + math.sqrt(b2 ** 2 - 16 * c2)) / 2
    a3 = 4 * min_overlap
    b3 = -2 * min_overlap * (height + width)
    c3 = (min_overlap - 1) * width * height
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def concat_ground_truth(images: Sequence[object], field: str):
    """The concatenated ground truth a head receives (``concat_instances`` of per-image data):
    each image's ``<field>`` array and ``labels``."""
    import torch
    from mmengine.structures import InstanceData

    from centerx.task import concat_instances
    gts = []
    for img in images:
        gt = InstanceData()
        gt.set_field(torch.from_numpy(getattr(img, field)), field)
        gt.labels = torch.from_numpy(img.labels)
        gts.append(gt)
    return concat_instances(gts)


def target_head(task, kernel, num_classes: int, classes: Optional[Sequence[str]] = None, more_tasks=()):
    """A :class:`~centerx.models.CenterHead` holding ``task`` (the center task) and ``more_tasks``
    with ``kernel``, for target building only (1x1 branches on a 1-channel feature; their weights
    are never used). Classes are ``classes`` or ``c0 ... c<num_classes - 1>``."""
    from centerx.models import CenterHead
    names = list(classes) if classes is not None else [f'c{i}' for i in range(num_classes)]
    return CenterHead(name='bench', in_channels=1, classes=names, tasks=[task, *more_tasks], kernel=kernel,
                      head_conv=0, center_task=task.name)


def as_dense(heat):
    """A (B, C, H, W) heatmap from :func:`head_targets`' heat (a ``SparseHeatmap`` or already dense)."""
    return heat.to_dense()[0] if hasattr(heat, 'to_dense') else heat


def head_targets(head, gt, grid):
    """The training targets of a batch exactly as ``CenterHead.loss`` builds them: the head's
    ``place_centers``, then its ``render_sparse`` (``heatmap_loss='sparse'``, the default) or
    ``render`` (``'dense'``), then every task's ``encode``.

    Returns:
        heat (a ``SparseHeatmap``, or the dense (B, C, H, W) heatmap), ``{task name: targets}``, and
        the centers.
    """
    centers = head.place_centers(gt, grid)
    heat = head.render_sparse(centers, grid) if head.heatmap_loss == 'sparse' else head.render(centers, grid)[0]
    targets = {name: task.encode(gt, centers, grid) for name, task in head.tasks.items()}
    return heat, targets, centers
