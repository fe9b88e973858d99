#!/usr/bin/env python
"""Ablations of the head and loss options of issue 14 against the demos' baseline.

``python tools/ablate.py [--demos box2d_synthetic rotated_synthetic] [--options NAME ...]
[--seeds 3] [--iters 800] [--jobs 1] [--quick] [--work-dir work_dirs/ablate] [--doc docs/ablations.md]``

Each option (:data:`OPTIONS`: one config change each) is trained on each demo config
(``configs/<demo>.py``) with seeds ``0 .. seeds-1`` for a fixed number of iterations (the warm-up
and the cosine decay rescaled to that budget; no checkpoint), validated once after the last
iteration. The metric (COCO box AP, DOTA mAP ...: :data:`METRICS`) and the median
seconds per training iteration of every run are kept in ``<work-dir>/results.json``; a run found
there (same demo, option, seed, iterations and mode) is not trained again, so an interrupted
table resumes. The table (mean +- std over the seeds) and a plot (``docs/images/ablations.png``)
are written into the ``--doc`` file between its ``ablate`` markers; the per-group loss weights of
the balancing options (first seed) are plotted into ``docs/images/ablation_weights.png``.

``--jobs N`` trains N runs side by side, each in its own process (for a GPU or a many-core
machine; the table's seconds per iteration are then those of N runs sharing the machine, and
the doc says so). On an H200 with 16 cores, 14 demo trainings side by side ran at ~0.5 s per
iteration each (their data loading and Python, not the GPU, were the limit).

``--quick`` is a smoke run of the script itself, not a measurement: one seed, 6 iterations,
batch 4, 16 training / 8 validation images generated under the work dir; its table is labelled
as such (``docs/images/ablations_smoke.png``).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import os.path as osp
import signal
import statistics
import subprocess
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import matplotlib  # noqa: E402

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402

import centerx_tasks  # noqa: E402,F401
from benchmark_common import format_table  # noqa: E402
from centerx.engine.launch import build_runner, load_config  # noqa: E402
from centerx.engine.scalars import read_scalars  # noqa: E402

DEMOS = ('box2d_synthetic', 'rotated_synthetic')
#: the metric reported per demo
METRICS = {'box2d_synthetic': 'coco/bbox_mAP', 'rotated_synthetic': 'dota/mAP',
           'box3d_synthetic': 'nuscenes/NDS', 'pose_synthetic': 'coco/keypoints_AP'}
BEGIN, END = '<!-- ablate:begin -->', '<!-- ablate:end -->'


def _heads(**change) -> Callable[[Config], None]:
    def apply(cfg: Config) -> None:
        for head in cfg.model.heads:
            for key, value in change.items():  # replace, not merge (ConfigDict.update merges dicts)
                head[key] = copy.deepcopy(value)
    return apply


def _balancing(**balancing) -> Callable[[Config], None]:
    def apply(cfg: Config) -> None:
        cfg.model.loss_balancing = dict(balancing)
    return apply


#: option name -> (the one config change, as written in docs, the function applying it)
OPTIONS: Dict[str, tuple] = {
    'baseline': ('the demo config as shipped', lambda cfg: None),
    'centerness_kernel': ("kernel=dict(type='CenternessKernel')", _heads(kernel=dict(type='CenternessKernel'))),
    'box_filling_kernel': ("kernel=dict(type='BoxFillingGaussian', beta=1.0)",
                           _heads(kernel=dict(type='BoxFillingGaussian', beta=1.0))),
    'center_attention': ('center_attention=True', _heads(center_attention=True)),
    'class_agnostic': ("center_mode='class_agnostic'", _heads(center_mode='class_agnostic')),
    'uncertainty': ("loss_balancing=dict(type='UncertaintyLossBalancing')",
                    _balancing(type='UncertaintyLossBalancing')),
    'gradnorm': ("loss_balancing=dict(type='GradNormLossBalancing', alpha=1.5)",
                 _balancing(type='GradNormLossBalancing', alpha=1.5)),
    'dwa': ("loss_balancing=dict(type='DynamicWeightAverage', period=50)",
            _balancing(type='DynamicWeightAverage', period=50)),
}
BALANCING_OPTIONS = ('uncertainty', 'gradnorm', 'dwa')


class IterClock(Hook):
    """Timestamps after every training iteration (for the median seconds per iteration), and the
    metrics of the last validation."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.stamps: List[float] = []
        self.metrics: Optional[Dict[str, float]] = None

    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        self.metrics = dict(metrics or {})

    def before_train(self, runner) -> None:
        self.stamps = [time.perf_counter()]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.stamps.append(time.perf_counter())

    def seconds_per_iter(self) -> float:
        """Median duration of the iterations after the first (which pays for start-up)."""
        steps = [b - a for a, b in zip(self.stamps[1:], self.stamps[2:])] or \
            [b - a for a, b in zip(self.stamps, self.stamps[1:])]
        return statistics.median(steps) if steps else float('nan')


def shrink_data(cfg: Config, root: str, num_train: int, num_val: int) -> None:
    """Point every loader's synthetic dataset at a small set generated under ``root``."""
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dataset = cfg[key].dataset
        gen = dataset.get('generate_if_missing')
        if gen is None:
            raise ValueError(f'{key}.dataset has no generate_if_missing: --quick needs a synthetic demo')
        old_root = gen['root']
        dataset.data_root = dataset.data_root.replace(old_root.rstrip('/'), root.rstrip('/'), 1)
        dataset.generate_if_missing = dict(gen, root=root, num_train=num_train, num_val=num_val)


def demo_config(demo: str, option: str, seed: int, iters: int, work_dir: str,
                quick_data: Optional[str] = None) -> Config:
    """The demo's config with ``option`` applied, for ``iters`` iterations with ``seed``; with
    ``quick_data`` (a folder), the smoke run's tiny data, batch and logging."""
    quick = quick_data is not None
    cfg = load_config(osp.join(ROOT, 'configs', f'{demo}.py'), work_dir=work_dir)
    OPTIONS[option][1](cfg)
    cfg.randomness = dict(seed=seed)
    # mmengine's loop validates once, after the last iteration
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=iters, val_interval=iters)
    warmup = min(100, max(1, iters // 8))
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup),
        dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup, end=iters, eta_min=1e-5)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', by_epoch=False, interval=iters + 1, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1 if quick else 20)
    cfg.custom_hooks = []  # the demos' progress summaries judge the full schedule
    if quick:
        shrink_data(cfg, quick_data, num_train=16, num_val=8)
        cfg.train_dataloader.batch_size = 4
        cfg.val_dataloader.batch_size = 8
        for key in ('train_dataloader', 'val_dataloader'):
            cfg[key].num_workers = 0
            cfg[key].persistent_workers = False
        cfg.test_dataloader = cfg.val_dataloader
    return cfg


def run_one(demo: str, option: str, seed: int, iters: int, work_dir: str, quick_data: Optional[str] = None) -> dict:
    """Train and validate one configuration; returns its results row."""
    quick = quick_data is not None
    cfg = demo_config(demo, option, seed, iters, work_dir, quick_data)
    runner = build_runner(cfg)
    clock = IterClock()
    runner.register_hook(clock, priority='LOWEST')
    runner.train()
    metrics = clock.metrics or {}
    key = METRICS.get(demo)
    if key not in metrics:
        raise KeyError(f'{demo}: validation gave {sorted(metrics)}, not {key!r} (METRICS in tools/ablate.py)')
    return dict(demo=demo, option=option, seed=seed, iters=iters, quick=quick, metric=key,
                value=float(metrics[key]), s_per_iter=clock.seconds_per_iter(), work_dir=runner.log_dir)


def run_side_by_side(pending: List[tuple], jobs: int, iters: int, results_path: str, rows: List[dict],
                     quick: bool) -> None:
    """Train ``pending`` (demo, option, seed, work_dir, quick_data) ``jobs`` at a time, each by
    ``tools/ablate.py --run-one`` in its own process; rows are saved as runs finish. A failed run
    stops the table with its log's path (the runs already done stay saved)."""
    if not pending:
        return
    running: List[tuple] = []
    queue = list(pending)
    failed: List[str] = []
    side_by_side = min(jobs, len(pending))
    env = dict(os.environ)
    # each run its share of the cores (torch would give every one of them all cores), unless set
    env.setdefault('OMP_NUM_THREADS', str(max(1, (os.cpu_count() or 1) // side_by_side)))
    try:
        while queue or running:
            while queue and len(running) < jobs and not failed:
                demo, option, seed, work_dir, quick_data = queue.pop(0)
                os.makedirs(work_dir, exist_ok=True)
                row_file, log_file = osp.join(work_dir, 'row.json'), osp.join(work_dir, 'ablate.log')
                if osp.exists(row_file):  # a row left by an earlier, interrupted table
                    os.remove(row_file)
                cmd = [sys.executable, osp.abspath(__file__), '--run-one', demo, option, str(seed), str(iters),
                       work_dir, row_file] + (['--quick-data', quick_data] if quick else [])
                print(f'[ablate] {demo} / {option} / seed {seed}: {iters} iterations (log {log_file})', flush=True)
                log = open(log_file, 'w')
                try:
                    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
                except BaseException:
                    log.close()
                    raise
                running.append((proc, log, row_file, log_file))
            if failed and not running:
                break
            time.sleep(0.5)
            for item in list(running):
                proc, log, row_file, log_file = item
                if proc.poll() is None:
                    continue
                log.close()
                running.remove(item)
                if proc.returncode != 0 or not osp.isfile(row_file):
                    failed.append(log_file)
                    continue
                with open(row_file) as f:
                    row = json.load(f)
                row['side_by_side'] = side_by_side
                rows.append(row)
                save_results(results_path, rows)
    finally:  # interrupted (Ctrl-C, SIGTERM) or broken: no run goes on training without its table
        for proc, log, _, _ in running:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            log.close()
    if failed:
        raise RuntimeError(f'{len(failed)} ablation run(s) failed; see {", ".join(failed)}')


def load_results(path: str) -> List[dict]:
    if not osp.isfile(path):
        return []
    with open(path) as f:
        return json.load(f)


def save_results(path: str, rows: List[dict]) -> None:
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(rows, f, indent=1)
    os.replace(tmp, path)


def mean_std(values: Sequence[float]) -> str:
    if len(values) == 1:
        return f'{values[0]:.3f}'
    return f'{statistics.mean(values):.3f} +- {statistics.stdev(values):.3f}'


def table(rows: List[dict], demos: Sequence[str], options: Sequence[str]) -> str:
    """Markdown: one row per option, per demo the metric (mean +- std over seeds) and s/iteration."""
    headers = ['option', 'config line']
    for demo in demos:
        headers += [f'{demo} {METRICS.get(demo, "")}', f'{demo} s/iter']
    cells = []
    for option in options:
        line = [option, f'`{OPTIONS[option][0]}`']
        for demo in demos:
            mine = [r for r in rows if r['demo'] == demo and r['option'] == option]
            line += [mean_std([r['value'] for r in mine]) if mine else '-',
                     mean_std([r['s_per_iter'] for r in mine]) if mine else '-']
        cells.append(line)
    return format_table(headers, cells, '<<' + '>>' * len(demos), markdown=True)


def plot(rows: List[dict], demos: Sequence[str], options: Sequence[str], path: str, title: str) -> None:
    """One bar chart per demo: the metric per option, mean with the seeds' min-max as error bar."""
    fig, axes = plt.subplots(1, len(demos), figsize=(5.5 * len(demos), 3.8), squeeze=False)
    for ax, demo in zip(axes[0], demos):
        means, lows, highs = [], [], []
        for option in options:
            values = [r['value'] for r in rows if r['demo'] == demo and r['option'] == option] or [float('nan')]
            m = statistics.mean(values)
            means.append(m)
            lows.append(m - min(values))
            highs.append(max(values) - m)
        ax.bar(range(len(options)), means, yerr=[lows, highs], capsize=3,
               color=['grey'] + ['tab:blue'] * (len(options) - 1))
        ax.set_xticks(range(len(options)))
        ax.set_xticklabels(options, rotation=35, ha='right', fontsize=8)
        ax.set_title(f'{demo}: {METRICS.get(demo, "")}', fontsize=9)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_weights(rows: List[dict], demos: Sequence[str], path: str, title: str) -> bool:
    """The logged per-group weights (``weight_<head>__<group>``) of the balancing options' first
    seed against the iteration; False when there is nothing to plot."""
    runs = [r for r in rows if r['option'] in BALANCING_OPTIONS and r['seed'] == min(x['seed'] for x in rows)]
    if not runs:
        return False
    fig, axes = plt.subplots(len(demos), len(BALANCING_OPTIONS), figsize=(4.2 * len(BALANCING_OPTIONS), 3 * len(demos)),
                             squeeze=False)
    for i, demo in enumerate(demos):
        for j, option in enumerate(BALANCING_OPTIONS):
            ax = axes[i][j]
            ax.set_title(f'{demo}: {option}', fontsize=9)
            mine = [r for r in runs if r['demo'] == demo and r['option'] == option]
            if not mine:
                continue
            series = read_scalars(mine[0]['work_dir'])
            for key, points in series.items():
                if key.startswith('weight_'):
                    ax.plot([p[0] for p in points], [p[1] for p in points], label=key[len('weight_'):])
            ax.set_xlabel('iteration', fontsize=8)
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def side_by_side_note(rows: List[dict]) -> str:
    """The doc's caveat when some runs were trained side by side (``--jobs``)."""
    shared = sorted({int(r.get('side_by_side', 1)) for r in rows} - {1})
    if not shared:
        return ''
    return ('; runs trained ' + ' or '.join(map(str, shared)) + ' side by side (`--jobs`) report the '
            'seconds of an iteration sharing the machine with the others')


def write_doc(doc: str, section: str) -> None:
    """Replace the text between the ``ablate`` markers of ``doc`` (appended when missing)."""
    text = open(doc).read() if osp.isfile(doc) else '# Ablations\n'
    block = f'{BEGIN}\n{section}\n{END}'
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip('\n') + '\n\n' + block + '\n'
    with open(doc, 'w') as f:
        f.write(text)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    parser.add_argument('--demos', nargs='+', default=list(DEMOS))
    parser.add_argument('--options', nargs='+', default=list(OPTIONS), choices=list(OPTIONS))
    parser.add_argument('--seeds', type=int, default=3)
    parser.add_argument('--iters', type=int, default=800)
    parser.add_argument('--jobs', type=int, default=1, help='runs trained side by side (separate processes)')
    parser.add_argument('--quick', action='store_true', help='smoke run: 1 seed, 6 iterations, tiny data')
    parser.add_argument('--run-one', nargs=6, metavar=('DEMO', 'OPTION', 'SEED', 'ITERS', 'WORK_DIR', 'ROW_FILE'),
                        help=argparse.SUPPRESS)  # one run of --jobs, in its own process
    parser.add_argument('--quick-data', help=argparse.SUPPRESS)
    parser.add_argument('--work-dir', default='work_dirs/ablate')
    parser.add_argument('--doc', default='docs/ablations.md')
    args = parser.parse_args(argv)
    if args.run_one:
        demo, option, seed, iters, work_dir, row_file = args.run_one
        row = run_one(demo, option, int(seed), int(iters), work_dir, args.quick_data)
        with open(row_file, 'w') as f:
            json.dump(row, f)
        return
    if args.jobs < 1:
        parser.error(f'--jobs must be >= 1, got {args.jobs}')
    if 'baseline' not in args.options:
        args.options = ['baseline'] + args.options
    seeds, iters = (1, 6) if args.quick else (args.seeds, args.iters)
    mode = 'quick' if args.quick else 'full'
    os.makedirs(args.work_dir, exist_ok=True)
    results_path = osp.join(args.work_dir, f'results_{mode}.json')
    rows = load_results(results_path)
    pending = []
    for demo in args.demos:
        for option in args.options:
            for seed in range(seeds):
                done = [r for r in rows if (r['demo'], r['option'], r['seed'], r['iters'], r['quick'])
                        == (demo, option, seed, iters, args.quick)]
                if not done:
                    quick_data = osp.join(args.work_dir, f'data_{demo}') if args.quick else None
                    pending.append((demo, option, seed, osp.join(args.work_dir, mode, demo, option, f'seed{seed}'),
                                    quick_data))
    if args.jobs > 1:  # a scheduler's SIGTERM stops the children too (run_side_by_side's finally)
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        run_side_by_side(pending, args.jobs, iters, results_path, rows, args.quick)
    for demo, option, seed, work_dir, quick_data in pending if args.jobs == 1 else ():
        print(f'[ablate] {demo} / {option} / seed {seed}: {iters} iterations', flush=True)
        rows.append(run_one(demo, option, seed, iters, work_dir, quick_data))
        save_results(results_path, rows)
    rows = [r for r in rows if r['iters'] == iters and r['quick'] == args.quick and r['demo'] in args.demos
            and r['option'] in args.options and r['seed'] < seeds]
    suffix = '_smoke' if args.quick else ''
    images = osp.join(osp.dirname(args.doc), 'images')
    os.makedirs(images, exist_ok=True)
    label = ('1 seed, 6 iterations, 16 training images: checks the script, measures nothing'
             if args.quick else f'{seeds} seed{"s" if seeds != 1 else ""} x {iters} iterations')
    plot(rows, args.demos, args.options, osp.join(images, f'ablations{suffix}.png'),
         ('SMOKE RUN: ' if args.quick else '') + label)
    has_weights = plot_weights(rows, args.demos, osp.join(images, f'ablation_weights{suffix}.png'),
                               ('SMOKE RUN: ' if args.quick else '') + f'learned loss weights per group ({label})')
    command = 'python tools/ablate.py ' + ' '.join(
        (['--quick'] if args.quick else ['--seeds', str(seeds), '--iters', str(iters)]) + ['--demos', *args.demos]
        + (['--jobs', str(args.jobs)] if args.jobs > 1 else []))
    section = [f'### {"Smoke run (--quick), not results" if args.quick else "Measured"}: {label}', '',
               f'Produced by `{command}` ({len(rows)} runs; metric of the final validation, mean +- std over '
               'the seeds; s/iter: median training iteration on this machine'
               + (', here over 5 iterations of a CPU shared with other jobs' if args.quick else '')
               + side_by_side_note(rows) + ').', '',
               table(rows, args.demos, args.options), '',
               f'![ablations](images/ablations{suffix}.png)']
    if has_weights:
        section += ['', f'![per-group loss weights](images/ablation_weights{suffix}.png)']
    write_doc(args.doc, '\n'.join(section))
    print(table(rows, args.demos, args.options))
    print(f'[ablate] wrote {args.doc} and {images}/ablations{suffix}.png')


if __name__ == '__main__':
    main()
