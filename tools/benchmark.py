"""Every centerx benchmark in one run, as one table of ratios measured side by side.

``python tools/benchmark.py [--quick] [--markdown] [--only SECTION ...] [--threads 1]``

Sections (each one a function of the per-topic scripts, imported, so every figure comes from the
code users run: the head's ``render``, the tasks' ``encode``, the metrics' COCOeval call, the
mmengine Runner with the real data loader):

- ``encode``: target building vs the per-object loop, box2d / rotated / keypoints at 10, 100 and
  500 objects per image (``benchmark_encode.py``, ``benchmark_rotated.py``,
  ``benchmark_keypoints.py``); 3D boxes have no loop baseline yet (their row is centerx only);
- ``decode``: peak extraction + gathers vs plain max-pool + top-K (``benchmark_encode.py``);
- ``eval``: DOTA evaluation vs the per-detection loop (``benchmark_rotated.py``) and COCO box
  evaluation, faster-coco-eval vs pycocotools (``benchmark_coco.py``);
- ``heads``: the 3-head / 4-task forward vs the one-head forward, fused branches
  (``benchmark_heads.py``);
- ``train``: the framework's training step vs a plain PyTorch loop over the same model, loss and
  batches (``benchmark_train.py``), and the data share of a step;
- ``memory``: peak memory of target building at 500 objects (``benchmark_memory.py``).

Every row prints its check (identical targets, equal peaks, equal AP, equal outputs) and, where the
issues set one, its goal. ``--quick`` (fewer repeats, smaller batches, no full-width models) runs in
under 5 minutes on 2 cores; ``--markdown`` also writes the table into docs/benchmarks.md between
the ``benchmark.py`` markers.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import platform
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402

import benchmark_coco  # noqa: E402
import benchmark_encode  # noqa: E402
import benchmark_heads  # noqa: E402
import benchmark_keypoints  # noqa: E402
import benchmark_memory  # noqa: E402
import benchmark_rotated  # noqa: E402
import benchmark_train  # noqa: E402
from benchmark_common import Row, format_number, format_table  # noqa: E402

SECTIONS = ('encode', 'decode', 'eval', 'heads', 'train', 'memory')
DOC = osp.join(ROOT, 'docs', 'benchmarks.md')
BEGIN, END = '<!-- benchmark.py: begin -->', '<!-- benchmark.py: end -->'
TRAIN_CONFIG = 'configs/box2d_synthetic.py'


@dataclass
class Line:
    """One line of the summary table."""

    section: str
    name: str
    centerx: str
    baseline: str
    ratio: str
    goal: str
    check: str


def speedup(section: str, row: Row, goal: str = '', check: str = '') -> Line:
    """A :class:`Row` whose ratio is baseline time / centerx time (higher is better)."""
    return Line(section, row.name, format_number(row.ours), format_number(row.theirs), f'{row.ratio:.1f}x',
                goal, check or row.note or f'max abs diff {row.diff:.1e}')


def encode_lines(args: argparse.Namespace) -> List[Line]:
    common = ['--objects', '10', '100', '500', '--threads', str(args.threads), '--repeats', str(args.repeats),
              '--warmup', '1']
    e_args = benchmark_encode.parse_args(common + ['--batch', str(args.encode_batch)])
    r_args = benchmark_rotated.parse_args(common + ['--kernels', 'rotated', '--batch', str(args.encode_batch)])
    # the keypoint loop draws K heatmaps per person: 17x the box loop's work
    k_args = benchmark_keypoints.parse_args(common + ['--batch', str(max(1, args.encode_batch // 4))])
    lines = []
    for n in (10, 100, 500):
        goal = '>= 20x' if n == 500 else ''
        row = benchmark_encode.bench_encode(n, e_args, args.threads)
        lines.append(speedup('encode', row, goal, f'heatmaps equal to {row.diff:.0e}; size/offset/index identical'))
        row = benchmark_rotated.bench_encode(n, 'rotated', r_args, args.threads)
        lines.append(speedup('encode', row, '', f'heatmaps equal to {row.diff:.0e}; {row.note}'))
        row = benchmark_keypoints.bench_encode(n, k_args, args.threads)
        lines.append(speedup('encode', row, '', row.note))
        row = benchmark_keypoints.bench_encode_3d(n, k_args, args.threads)
        lines.append(Line('encode', row.name, format_number(row.ours), '-', '-', '', row.note))
    return lines


def decode_lines(args: argparse.Namespace) -> List[Line]:
    d_args = benchmark_encode.parse_args(['--repeats', str(args.repeats), '--warmup', '1',
                                          '--decode-batch', '4' if args.quick else '8'])
    row = benchmark_encode.bench_decode(d_args, args.threads)
    return [speedup('decode', row, '', 'identical peaks, labels, cells and gathered maps')]


def eval_lines(args: argparse.Namespace) -> List[Line]:
    dota = ['--eval-images', '10', '--eval-dets', '300', '--eval-repeats', '1'] if args.quick else []
    row = benchmark_rotated.bench_eval(benchmark_rotated.parse_args(dota))
    lines = [speedup('eval', row, '', f'identical AP ({row.diff:.0e}), recalls, precisions; {row.note}')]
    coco = benchmark_coco.parse_args(['--images', '50', '--repeats', '2', '--warmup', '0'] if args.quick else [])
    row = benchmark_coco.bench_coco(coco)
    lines.append(speedup('eval', row, '', f'faster-coco-eval vs pycocotools: {row.note}, max diff {row.diff:.0e}'))
    return lines


def heads_lines(args: argparse.Namespace) -> List[Line]:
    h_args = benchmark_heads.parse_args(['--threads', str(args.threads), '--repeats', str(args.repeats)]
                                        + (['--quick'] if args.quick else []))
    rows, _ = benchmark_heads.run(h_args)
    lines = []
    for row in rows:
        if row.name.startswith('3 heads / 4 tasks'):  # a cost ratio: lower is better
            goal, _, check = row.note.partition('; ')
            lines.append(Line('heads', row.name, format_number(row.ours), format_number(row.theirs),
                              f'{row.ratio:.2f}x', goal, check))
        else:
            lines.append(speedup('heads', row, '', f'{row.note} {row.diff:.0e}'))
    return lines


def train_lines(args: argparse.Namespace) -> List[Line]:
    iters, warmup = (10, 2) if args.quick else (20, 3)
    result = benchmark_train.benchmark_config(osp.join(ROOT, TRAIN_CONFIG), iters, warmup, 5, args.threads)
    losses = result.first_losses
    same = len(losses) == 2 and abs(losses[0] - losses[1]) <= 1e-5 * max(1.0, abs(losses[0]))
    check = f'first-step loss {losses[0]:.6f} vs {losses[1]:.6f} ({"equal" if same else "DIFFERENT"})'
    name = f'training step {result.config}, B={result.batch_size:g} (img/s)'
    return [Line('train', name, format_number(result.centerx_images_per_s), format_number(result.plain_images_per_s),
                 f'{result.ratio:.2f}x', f'>= {benchmark_train.RATIO_GOAL:.2f}x (overhead <= 10%)', check),
            Line('train', 'data wait share of a centerx step', f'{100 * result.data_share:.1f}%', '-', '-',
                 '<= 10%', f'{len(result.centerx)} timed iterations, real loader')]


def memory_lines(args: argparse.Namespace) -> List[Line]:
    m_args = benchmark_memory.parse_args(['--threads', str(args.threads)] + (['--quick'] if args.quick else []))
    return [Line('memory', r.name, format_number(r.ours), format_number(r.theirs), f'{r.ratio:.2f}x', '',
                 r.note) for r in benchmark_memory.bench_memory(m_args)]


RUNNERS: Dict[str, Callable[[argparse.Namespace], List[Line]]] = dict(
    encode=encode_lines, decode=decode_lines, eval=eval_lines, heads=heads_lines, train=train_lines,
    memory=memory_lines)


def table(lines: Sequence[Line], markdown: bool) -> str:
    headers = ('section', 'measurement', 'centerx', 'baseline', 'ratio', 'goal', 'check')
    cells = [(ln.section, ln.name, ln.centerx, ln.baseline, ln.ratio, ln.goal, ln.check) for ln in lines]
    return format_table(headers, cells, '<<>>><<', markdown)


def header(args: argparse.Namespace) -> str:
    load = ' '.join(f'{x:.2f}' for x in os.getloadavg())
    return (f'{time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}; torch {torch.__version__}, '
            f'{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {args.threads} torch thread(s), '
            f'load average {load} at start, THP_MEM_ALLOC_ENABLE={os.environ.get("THP_MEM_ALLOC_ENABLE", "unset")}; '
            f'`{command_line(args)}`')


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces this run (every flag that changes what is measured)."""
    parts = ['python tools/benchmark.py'] + (['--quick'] if args.quick else [])
    if list(args.only) != list(SECTIONS):
        parts += ['--only', *args.only]
    if args.threads != 1:
        parts += ['--threads', str(args.threads)]
    return ' '.join(parts)


def write_markdown(text: str, path: str = DOC) -> None:
    """Replace the text between the markers of ``path`` (appended with them when absent)."""
    with open(path) as f:
        doc = f.read()
    block = f'{BEGIN}\n{text}\n{END}'
    if BEGIN in doc and END in doc:
        start, end = doc.index(BEGIN), doc.index(END) + len(END)
        doc = doc[:start] + block + doc[end:]
    else:
        doc = doc.rstrip('\n') + '\n\n' + block + '\n'
    with open(path, 'w') as f:
        f.write(doc)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Run every centerx benchmark; one table of ratios')
    parser.add_argument('--quick', action='store_true', help='fewer repeats, smaller batches (< 5 min on 2 cores)')
    parser.add_argument('--markdown', action='store_true', help=f'also write the table into {osp.relpath(DOC, ROOT)}')
    parser.add_argument('--only', nargs='+', choices=SECTIONS, default=list(SECTIONS), help='sections to run')
    parser.add_argument('--threads', type=int, default=1, help='torch threads of every measurement')
    args = parser.parse_args(argv)
    if args.markdown and list(args.only) != list(SECTIONS):
        parser.error('--markdown rewrites the whole table of docs/benchmarks.md: run every section (no --only)')
    args.repeats = 3 if args.quick else 7
    args.encode_batch = 4 if args.quick else 16
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[Line]:
    args = parse_args(argv)
    t0 = time.perf_counter()
    head = header(args)
    print(f'centerx benchmarks: {head}\n')
    lines: List[Line] = []
    cwd = os.getcwd()
    os.chdir(ROOT)  # the configs name their data relative to the repository
    try:
        for section in args.only:
            ts = time.perf_counter()
            lines += RUNNERS[section](args)
            print(f'[{section}: {time.perf_counter() - ts:.0f} s]', flush=True)
    finally:
        os.chdir(cwd)
    total = time.perf_counter() - t0
    print()
    print(table(lines, False))
    print(f'\nratio: baseline time / centerx time (higher is better), except the heads rows (3-head / 1-head '
          f'forward: lower is better), the training row (centerx img/s / plain img/s) and memory '
          f'(baseline MB / centerx MB). Total time {total:.0f} s')
    if args.markdown:
        write_markdown(f'Measured {head}; total {total:.0f} s.\n\n{table(lines, True)}')
        print(f'wrote the table into {DOC}')
    return lines


if __name__ == '__main__':
    main()
