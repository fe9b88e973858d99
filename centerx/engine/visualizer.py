"""The training visualizer with a TensorBoard switch: ``visualizer.tensorboard=True``."""
from __future__ import annotations

import importlib.util
from typing import List, Optional, Sequence

from mmengine.visualization import Visualizer

from centerx.registry import VISUALIZERS

#: mmengine's backend type that writes TensorBoard event files
TENSORBOARD_BACKEND = 'TensorboardVisBackend'


@VISUALIZERS.register_module()
class CenterXVisualizer(Visualizer):
    """mmengine's Visualizer whose backends default to ``LocalVisBackend`` (``vis_data/scalars.json``,
    what ``tools/plot_curves.py`` reads) and, with ``tensorboard=True``, add
    ``TensorboardVisBackend`` (event files in ``<work_dir>/<timestamp>/vis_data/``), so that
    TensorBoard is a switch: ``--cfg-options visualizer.tensorboard=True``.

    Args:
        tensorboard: also write TensorBoard event files.
        vis_backends: the backends (default ``[dict(type='LocalVisBackend')]``); a
            ``TensorboardVisBackend`` among them is not added twice.
        name, save_dir, kwargs: as mmengine's :class:`~mmengine.visualization.Visualizer`.

    Raises:
        ImportError: ``tensorboard=True`` without the ``tensorboard`` package (install
            the ``tensorboard`` extra).
    """

    def __init__(self, name: str = 'visualizer', vis_backends: Optional[Sequence[dict]] = None,
                 save_dir: Optional[str] = None, tensorboard: bool = False, **kwargs) -> None:
        backends: List[dict] = [dict(b) for b in (vis_backends or [dict(type='LocalVisBackend')])]
        if tensorboard:
            if importlib.util.find_spec('tensorboard') is None:
                raise ImportError('visualizer.tensorboard=True needs the tensorboard package: '
                                  "pip install -e '.[tensorboard]' in the repository (or pip install tensorboard)")
            if not any(b.get('type') == TENSORBOARD_BACKEND for b in backends):
                backends.append(dict(type=TENSORBOARD_BACKEND))
        self.tensorboard = bool(tensorboard)
        super().__init__(name=name, vis_backends=backends, save_dir=save_dir, **kwargs)
