"""A task under test: a tiny one-head model around it, and the batches the checks feed it.

:class:`TaskCase` builds a :class:`~centerx.models.CenterNet` whose head ``h`` holds the task (after
the center task it needs, if it places no peaks itself) and draws ground truth from every task's
``example_gt`` (or a given factory): batches already in network-input pixels, and batches drawn
on a non-square original image that the data pipeline's own transforms mirror and letterbox.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Type, Union

import numpy as np
import torch
from mmengine.structures import InstanceData
from torch import Tensor

from centerx.data.geometry import hflip_matrix
from centerx.data.transforms import CenterAffine, PackDetInputs
from centerx.data.transforms.geometric import apply_affine
from centerx.models import CenterNet
from centerx.registry import TASKS
from centerx.structures import DetSample, ImageMeta
from centerx.task import Task

#: ``factory(num, image_shape, generator) -> {field: (num, ...) tensor}``: ground truth of the
#: task under test in input pixels (the fields of its ``requires``), instead of its ``example_gt``
GtFactory = Callable[[int, Tuple[int, int], torch.Generator], Dict[str, Tensor]]
#: what names a task: its registered type name, its class, or a built instance
TaskSpec = Union[str, Type[Task], Task]

#: (H, W) of the network input of every check
IMAGE: Tuple[int, int] = (128, 160)
#: the head's classes (names with statistics in every built-in task: Box3DTask's mean sizes)
CLASSES: Tuple[str, ...] = ('car', 'pedestrian')
#: a non-square original image, letterboxed into IMAGE (scale 1.25, 14 px bars above and below;
#: upscaled, so that objects the examples keep in separate cells stay in separate cells)
ORIGINAL: Tuple[int, int] = (80, 128)


def task_class(task: TaskSpec) -> Type[Task]:
    """The class of a task given by registered name, class or instance."""
    if isinstance(task, Task):
        return type(task)
    if isinstance(task, str):
        cls = TASKS.get(task)
        if cls is None:
            raise KeyError(f'task type {task!r} is not registered (registered: {sorted(TASKS.module_dict)}); '
                           'import the plugin that registers it first')
        return cls
    if isinstance(task, type) and issubclass(task, Task):
        return task
    raise TypeError(f'a task is a registered name, a Task subclass or a Task instance, got {task!r}')


def build_task(task: TaskSpec, kwargs: Optional[dict] = None) -> Task:
    """A fresh instance: ``cls(**kwargs)`` for a name or class, a deep copy of an instance."""
    if isinstance(task, Task):
        if kwargs:
            raise ValueError(f'task_kwargs {kwargs} cannot apply to an already built {type(task).__name__}')
        return copy.deepcopy(task)
    return task_class(task)(**(kwargs or {}))


@dataclass
class TaskCase:
    """One model for the checks: head ``h`` with ``first`` (if given) and then ``task``.

    Args:
        task: the task under test.
        task_kwargs: its constructor arguments (for a name or class).
        first: the task placed first on the head; default: the task's ``companion`` when the task
            places no peaks, else none (the task is the head's center task).
        neck: the neck type of the tiny model.
        gt_factory: ground truth of ``task`` instead of its ``example_gt`` (see :data:`GtFactory`).
        classes: the head's classes.
        topk: peaks decoded per image.
        head_options: further options of the head (``kernel=dict(...)``, ``loss_heatmap_weight`` ...).
        loss_balancing: the model's ``loss_balancing`` config (None: fixed weights).
    """

    task: TaskSpec
    task_kwargs: Optional[dict] = None
    first: Optional[TaskSpec] = None
    neck: str = 'DeconvNeck'
    gt_factory: Optional[GtFactory] = None
    classes: Sequence[str] = CLASSES
    topk: int = 64
    head_options: Optional[dict] = None
    loss_balancing: Optional[dict] = None
    model: CenterNet = field(init=False)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        first = self.first if self.first is not None else task_class(self.task).companion
        tasks = [build_task(first)] if first is not None else []
        under_test = build_task(self.task, self.task_kwargs)
        tasks.append(under_test)
        torch.manual_seed(0)
        self.model = CenterNet(backbone=dict(type='TinyBackbone', channels=(8, 8, 16, 16)),
                               neck=dict(type=self.neck, out_channels=8),
                               heads=[dict(name='h', tasks=tasks, head_conv=8, **(self.head_options or {}))],
                               classes=tuple(self.classes), test_cfg=dict(topk=self.topk),
                               loss_balancing=self.loss_balancing)
        self.name = under_test.name

    # ------------------------------------------------------------------ parts
    @property
    def head(self):
        """The model's only head (a :class:`~centerx.models.center_head.CenterHead`)."""
        return self.model.heads['h']

    @property
    def tasks(self) -> List[Task]:
        return list(self.head.tasks.values())

    @property
    def under_test(self) -> Task:
        return self.head.tasks[self.name]

    # ------------------------------------------------------------------ data
    def instances(self, n: int, shape: Tuple[int, int], gen: torch.Generator, ignore: bool = False) -> InstanceData:
        """Ground truth of ``n`` objects for every task of the head (a later task's fields win on
        shared names), random labels, ``ignore`` on every row or on none."""
        gt = InstanceData()
        for task in self.tasks:
            if task is self.under_test and self.gt_factory is not None:
                values = self.gt_factory(n, shape, gen)
            else:
                values = task.example_gt(n, shape, gen)
            for key, value in values.items():
                gt.set_field(torch.as_tensor(value).to(torch.float32), key)
        gt.labels = torch.randint(0, len(self.classes), (n,), generator=gen)
        gt.ignore = torch.full((n,), ignore, dtype=torch.bool)
        return gt

    def meta_kwargs(self, shape: Tuple[int, int]) -> Dict:
        """The ``ImageMeta`` arguments the tasks' examples need (their ``example_meta`` together)."""
        meta: Dict = {}
        for task in self.tasks:
            for key, value in task.example_meta(shape).items():
                meta[key] = tuple(meta.get(key, ())) + tuple(value) if key == 'task_metas' else value
        return meta

    def metainfo(self) -> Dict:
        """The dataset metainfo of the examples (every task's ``example_metainfo``)."""
        out: Dict = {}
        for task in self.tasks:
            out.update(task.example_metainfo())
        return out

    def samples(self, counts: Sequence[int], ignore: bool = False, seed: int = 0) -> List[DetSample]:
        """One sample per entry of ``counts`` (its number of objects), ground truth already in
        network-input pixels (identity geometry)."""
        gen = torch.Generator().manual_seed(seed)
        out = []
        for i, n in enumerate(counts):
            meta = ImageMeta(img_id=i, img_path='', ori_shape=IMAGE, img_shape=IMAGE, pad_shape=IMAGE,
                             **self.meta_kwargs(IMAGE))
            out.append(DetSample(meta=meta, gt=self.instances(n, IMAGE, gen, ignore)))
        return out

    def pipeline_samples(self, counts: Sequence[int], seed: int = 0
                                    ) -> Tuple[List[DetSample], List[InstanceData]]:
        """Ground truth drawn on an :data:`ORIGINAL` image, mirrored and letterboxed into
        :data:`IMAGE` by the data pipeline's own transforms. Returns the packed samples and the
        ground truth before the warps."""
        gen = torch.Generator().manual_seed(seed)
        out, originals = [], []
        for i, n in enumerate(counts):
            gt = self.instances(n, ORIGINAL, gen)
            meta = ImageMeta(img_id=i, img_path='', ori_shape=ORIGINAL, img_shape=ORIGINAL, pad_shape=ORIGINAL,
                             **self.meta_kwargs(ORIGINAL))
            results = dict(img=np.zeros((*ORIGINAL, 3), np.uint8), meta=meta, metainfo=self.metainfo(),
                           instances={k: gt.get(k).numpy() for k in gt.keys()})
            apply_affine(results, hflip_matrix(ORIGINAL[1]), ORIGINAL, flip=True)
            results = CenterAffine(input_size=(IMAGE[1], IMAGE[0]))(results)
            packed = PackDetInputs()(results)['data_samples']
            assert packed.meta.flipped and packed.meta.img_shape == IMAGE
            out.append(packed)
            originals.append(gt)
        return out, originals

    @staticmethod
    def inputs(batch: int) -> Tensor:
        """(batch, 3, H, W) fixed random images of the :data:`IMAGE` size."""
        return torch.randn(batch, 3, *IMAGE, generator=torch.Generator().manual_seed(1))
