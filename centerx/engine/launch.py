"""Config loading and Runner building shared by tools/train.py and tools/test.py."""
from __future__ import annotations

import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log
from mmengine.runner import Runner

from .checkpoint import TRUST_ENV
from .consistency import DataModelCheckHook
from .non_finite import GUARDED_VERSION
from .schedule_length import follow_max_iters
from .terminal_noise import quiet_terminal


def parse_cfg_options(options: Sequence[str]) -> dict:
    """``['a.b=1', 'c=[1,2]']`` -> ``{'a.b': 1, 'c': [1, 2]}`` with mmengine's value parsing."""
    out = {}
    for item in options:
        if '=' not in item:
            raise ValueError(f'--cfg-options expects KEY=VALUE, got {item!r}')
        key, value = item.split('=', 1)
        out[key] = DictAction._parse_iterable(value)
    return out


def init_cpu_distributed(launcher: str) -> None:
    """Start a gloo process group for CPU training (mmengine's init_dist assumes CUDA)."""
    import torch.distributed as dist
    if dist.is_initialized():
        return
    if launcher == 'slurm':
        os.environ.setdefault('RANK', os.environ['SLURM_PROCID'])
        os.environ.setdefault('WORLD_SIZE', os.environ['SLURM_NTASKS'])
        os.environ.setdefault('LOCAL_RANK', os.environ.get('SLURM_LOCALID', '0'))
        os.environ.setdefault('MASTER_ADDR', 'localhost')
        os.environ.setdefault('MASTER_PORT', '29500')
    dist.init_process_group(backend='gloo', init_method='env://')


@contextmanager
def distributed_teardown() -> Iterator[None]:
    """Run a tool's work, then tear down the process group before the interpreter exits.

    Left to interpreter shutdown, gloo's background threads can be destroyed while still joinable
    and abort the process ("terminate called without an active exception", SIGABRT), which fails a
    run that trained correctly. When the body succeeds the ranks first meet at a barrier so that no
    rank tears its connections down while another is still in a collective; after an exception
    there is no barrier (the other ranks may never reach it). No-op outside distributed runs.
    """
    import torch.distributed as dist
    succeeded = False
    try:
        yield
        succeeded = True
    finally:
        if dist.is_available() and dist.is_initialized():
            if succeeded:
                dist.barrier()
            dist.destroy_process_group()


def load_config(path: str, cfg_options: Sequence[str] = (), work_dir: Optional[str] = None,
                launcher: str = 'none', amp: bool = False, trust_checkpoint: bool = False) -> Config:
    """Read a config and apply the command-line options the way mmdet's tools do.

    A ``train_cfg.max_iters`` changed by the options rescales the iteration-based lr schedule
    (:func:`~centerx.engine.schedule_length.follow_max_iters`) unless they set ``param_scheduler``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    old_max_iters = (cfg.get('train_cfg') or {}).get('max_iters')
    options = parse_cfg_options(cfg_options)
    if options:
        cfg.merge_from_dict(options)
    note = follow_max_iters(cfg, old_max_iters, any(k.split('.')[0] == 'param_scheduler' for k in options))
    if note:
        print_log(note, logger='current')
    cfg.setdefault('default_scope', 'centerx')
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    cfg.launcher = launcher
    if trust_checkpoint:
        os.environ[TRUST_ENV] = '1'
    if amp:
        wrapper = cfg.optim_wrapper
        if torch.cuda.is_available():
            wrapper.type = 'AmpOptimWrapper'
            wrapper.setdefault('loss_scale', 'dynamic')
        else:
            wrapper.type = 'BF16AutocastOptimWrapper'
    if cfg.get('optim_wrapper') is not None:
        # every training checks for non-finite losses and gradients (centerx.engine.non_finite)
        wrapper = cfg.optim_wrapper
        wrapper.type = GUARDED_VERSION.get(wrapper.get('type', 'OptimWrapper'), wrapper.get('type'))
    if launcher != 'none' and not torch.cuda.is_available():
        init_cpu_distributed(launcher)
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None)
        env = cfg.get('env_cfg') or {}
        env.setdefault('dist_cfg', {})['backend'] = 'gloo'
        cfg.env_cfg = env
    return cfg


def require_checkpoint(path: Optional[str], what: str) -> None:
    """Fail before the runner is built (which takes seconds to minutes) when a checkpoint to load
    does not exist.

    Args:
        path: the checkpoint path (None: nothing to load).
        what: where the path came from, for the message (``'--resume'``, ``'load_from'`` ...).

    Raises:
        FileNotFoundError: naming the path and where it came from.
    """
    if path and '://' not in str(path) and not osp.isfile(path):  # URLs (http, s3, torchvision://) load remotely
        raise FileNotFoundError(f'checkpoint {path} ({what}) does not exist')


class QuietStartRunner(Runner):
    """mmengine's Runner whose terminal leaves out the start-up noise (environment, config dump,
    hook table, checkpoint-backend lines, deprecations: :mod:`centerx.engine.terminal_noise`);
    the run's log file keeps all of it and the config is written to the work dir as before."""

    def build_logger(self, log_level='INFO', log_file=None, **kwargs):
        logger = super().build_logger(log_level=log_level, log_file=log_file, **kwargs)
        quiet_terminal(logger)
        return logger


def build_runner(cfg: Config) -> Runner:
    """Build the Runner (:class:`QuietStartRunner`; ``runner_type`` in the config selects another)
    with the :class:`DataModelCheckHook` that checks the model against the data before each run."""
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = QuietStartRunner.from_cfg(cfg)
    runner.register_hook(DataModelCheckHook(), priority='VERY_HIGH')
    return runner
