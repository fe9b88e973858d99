"""Reading a config for use outside the Runner: options merged, plugins imported, scope set."""
from __future__ import annotations

import os
import os.path as osp
from typing import Mapping, Sequence, Union

from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.utils import import_modules_from_strings

CfgOptions = Union[Mapping[str, object], Sequence[str], None]


def load_model_config(config: Union[str, os.PathLike, Config], cfg_options: CfgOptions = None) -> Config:
    """The config ``config`` (a path or a :class:`~mmengine.config.Config`, copied), with
    ``cfg_options`` merged (a dict ``{'a.b': 1}`` or ``['a.b=1', ...]`` as on the command line),
    the modules of its ``custom_imports`` imported (the built-in tasks are
    ``centerx_tasks``, listed there by the shipped configs' runtime base) and its
    ``default_scope`` (``centerx`` when it names none) made the current registry scope.

    Raises:
        FileNotFoundError: ``config`` is a path that does not exist.
        TypeError: ``config`` is neither a path nor a Config.
    """
    from centerx.engine.launch import parse_cfg_options
    if isinstance(config, Config):
        cfg = config.copy()
    elif isinstance(config, (str, os.PathLike)):
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file {config} does not exist')
        cfg = Config.fromfile(str(config))
    else:
        raise TypeError(f'config must be a path or an mmengine Config, got {type(config).__name__}')
    if cfg_options:
        options = dict(cfg_options) if isinstance(cfg_options, Mapping) else parse_cfg_options(list(cfg_options))
        cfg.merge_from_dict(options)
    imports = cfg.get('custom_imports')
    if imports:
        import_modules_from_strings(**imports)
    init_default_scope(cfg.get('default_scope') or 'centerx')
    return cfg


def dataset_cfg_of(cfg: Config, split: str) -> dict:
    """The dataset config of ``<split>_dataloader`` (``train``, ``val`` or ``test``).

    Raises:
        KeyError: the config has no such data loader or it has no ``dataset`` (naming the key).
    """
    key = f'{split}_dataloader'
    loader = cfg.get(key)
    if not loader or 'dataset' not in loader:
        raise KeyError(f'the config {cfg.filename or "(in memory)"} has no {key}.dataset')
    return loader['dataset']
