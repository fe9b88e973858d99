"""Config loading and Runner building shared by tools/train.py and tools/test.py."""
from __future__ import annotations

import os
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, Optional, Sequence

import torch
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from .checkpoint import TRUST_ENV
from .consistency import DataModelCheckHook
from .non_finite import GUARDED_VERSION


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
    """Read a config and apply the command-line options the way mmdet's tools do."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path} does not exist')
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(parse_cfg_options(cfg_options))
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


def build_runner(cfg: Config) -> Runner:
    """Build the mmengine Runner (``runner_type`` in the config selects a custom one) with the
    :class:`DataModelCheckHook` that checks the model against the data before each run."""
    if 'runner_type' in cfg:
        from mmengine.registry import RUNNERS
        runner = RUNNERS.build(cfg)
    else:
        runner = Runner.from_cfg(cfg)
    runner.register_hook(DataModelCheckHook(), priority='VERY_HIGH')
    return runner
