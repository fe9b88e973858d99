"""nuScenes detection classes, their mean sizes, and the nuScenes attributes.

The class and attribute names are defined in :mod:`centerx_tasks.box3d.nuscenes_names` and
re-exported here.

Class orders
------------
``NUSCENES_CLASSES`` is the order of mmdet3d's ``NuScenesDataset`` (v0.x) and of the other
nuScenes modules of this package (:mod:`centerx_tasks.box3d.mono3d_dataset`,
:mod:`centerx_tasks.box3d.nuscenes_results`): car, truck, construction_vehicle, bus, trailer,
barrier, motorcycle, bicycle, pedestrian, traffic_cone. ``INFO_CLASSES`` is the order of
the OpenMMLab info v1.1 files (``metainfo['categories']``: car 0, truck 1, trailer 2,
bus 3, construction_vehicle 4, bicycle 5, motorcycle 6, pedestrian 7, traffic_cone 8,
barrier 9), i.e. the label order :class:`~centerx_tasks.box3d.info_dataset.NuScenesInfoDataset`
produces. ``DEVKIT_DETECTION_NAMES`` is the nuScenes devkit's order
(``nuscenes.eval.detection.constants.DETECTION_NAMES``). Mean sizes are looked up by
name: the head hands its class names to the task (``Task.bind_classes``).

Mean sizes
----------
``NUSCENES_MEAN_SIZES`` gives per-class mean ``(l, h, w)`` in meters (length along the
heading, height, width; the order of a ``boxes3d`` row). The numbers are the nuScenes
train-set per-class mean box sizes published with CBGS (Zhu et al., "Class-balanced
Grouping and Sampling for Point Cloud 3D Object Detection", 2019) and used as the
per-class anchor sizes of mmdet3d's nuScenes configs (there as ``(w, l, h)``), rounded
to millimetres and reordered to ``(l, h, w)``. Barriers are wider than long because a
nuScenes barrier "heads" across its long side.

Attributes
----------
``NUSCENES_ATTRIBUTES``: the 8 nuScenes attributes in the index order of mmdet3d's
``attr_label`` (the info files' order). Info files write a 9th label, 8 = ``'None'``
(barriers, traffic cones); the dataset maps it to ``-1`` (no attribute), the
``attr_labels`` convention of centerx. ``INFO_ATTRIBUTE_NAMES`` lists all 9 labels of
the info files. ``DEFAULT_ATTRIBUTES`` is the devkit's default attribute per class
(what a detector without an attribute branch reports; '' = none), and
``CLASS_ATTRIBUTES`` the attributes valid for each class.
"""
from __future__ import annotations

import math
import numbers
from typing import Dict, Optional, Sequence, Tuple

import torch

# the names are defined in nuscenes_names (torch-free) and re-exported here
from .nuscenes_names import (CLASS_ATTRIBUTES, DEFAULT_ATTRIBUTES, DEVKIT_DETECTION_NAMES,  # noqa: F401
                             INFO_ATTRIBUTE_NAMES, INFO_ATTRIBUTE_NONE, INFO_CLASSES, NUSCENES_ATTRIBUTES,
                             NUSCENES_CLASSES)

# (l, h, w) meters; CBGS nuScenes train-set means (see the module docstring)
NUSCENES_MEAN_SIZES: Dict[str, Tuple[float, float, float]] = {
    'car': (4.607, 1.723, 1.950),
    'truck': (6.738, 2.730, 2.456),
    'construction_vehicle': (6.384, 3.133, 2.731),
    'bus': (11.189, 3.470, 2.940),
    'trailer': (12.013, 3.815, 2.874),
    'barrier': (0.486, 0.983, 2.490),
    'motorcycle': (2.100, 1.444, 0.763),
    'bicycle': (1.685, 1.272, 0.601),
    'pedestrian': (0.726, 1.757, 0.663),
    'traffic_cone': (0.404, 1.062, 0.397),
}


def mean_size_table(classes: Sequence[str],
                    mean_sizes: Optional[Dict[str, Sequence[float]]] = None) -> torch.Tensor:
    """(C, 3) float32 mean ``(l, h, w)`` of ``classes`` in order.

    Args:
        classes: class names (a head's channels).
        mean_sizes: name -> (l, h, w); default :data:`NUSCENES_MEAN_SIZES`.

    Raises:
        ValueError: a class has no mean size, or a size is not 3 positive finite numbers.
    """
    table = NUSCENES_MEAN_SIZES if mean_sizes is None else mean_sizes
    missing = [c for c in classes if c not in table]
    if missing:
        raise ValueError(f'no mean (l, h, w) size for classes {missing}; known: {sorted(table)}. '
                         'Pass mean_sizes=dict(name=(l, h, w), ...)')
    rows = []
    for c in classes:
        row = tuple(table[c]) if isinstance(table[c], (list, tuple)) else (table[c],)
        ok = len(row) == 3 and all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                                   and math.isfinite(v) and v > 0 for v in row)
        if not ok:
            raise ValueError(f'mean size of {c!r} must be 3 positive finite numbers (l, h, w), got {table[c]!r}')
        rows.append([float(v) for v in row])
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 3)
