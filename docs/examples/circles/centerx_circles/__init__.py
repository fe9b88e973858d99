"""centerx_circles: a task plugin for centerx that detects discs (center + radius).

Importing the package registers, in centerx's registries:

- ``ANNOTATION_KINDS['circles']``  how (N, 3) discs move under flips and affine warps
- ``TASKS['CircleTask']``          radius + offset maps, encoder, loss, decoder, flip TTA
- ``KERNELS['DiscIoUGaussian']``   a heatmap kernel sized by disc IoU
- ``DATASETS['CircleDataset']``    the circle json format (with a synthetic generator)
- ``METRICS['CircleAPMetric']``    VOC-style AP at disc IoU 0.5
- a drawer for ``circles``         so ``tools/test.py --show-dir`` draws them

Load it from a config with ``custom_imports = dict(imports=['centerx_circles'],
allow_failed_imports=False)``. The tutorial is ``docs/writing_a_task.md``.
"""
from . import annotation_kind, dataset, draw, kernel, metric, task  # noqa: F401  (register)
from .annotation_kind import CircleKind
from .dataset import CircleDataset, read_circle_file
from .iou import disc_iou
from .kernel import DiscIoUGaussian
from .metric import CircleAPMetric
from .task import CircleTask

__all__ = ['CircleAPMetric', 'CircleDataset', 'CircleKind', 'CircleTask', 'DiscIoUGaussian', 'disc_iou',
           'read_circle_file']
