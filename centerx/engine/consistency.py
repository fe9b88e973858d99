"""Build-time checks that the model and the data fit together.

Run by :class:`DataModelCheckHook` before training, validation and testing (the tools
register it on every runner), so a mismatch stops the run with a clear message instead of a
shape error in the middle of training:

- the dataset's class names (``metainfo['classes']``) must be the model's ``classes``, in
  the same order (the label indices the dataset writes are the model's indices);
- every field a head's tasks require must be provided by the dataset (by at least one of
  its sources, for a dataset that mixes several).
"""
from __future__ import annotations

from typing import Iterable, List, Sequence, Set

from mmengine.hooks import Hook

from centerx.registry import HOOKS


def dataset_fields(dataset) -> Set[str]:
    """Annotation fields a dataset provides: the union over its sources (``sources`` or
    ``datasets`` attributes of mixing wrappers) of the fields of their first item."""
    subs = getattr(dataset, 'sources', None)
    if isinstance(subs, dict):
        subs = list(subs.values())
    elif subs is None:
        subs = getattr(dataset, 'datasets', None)
    if subs and not isinstance(subs, (str, bytes)) and all(hasattr(d, 'get_data_info') for d in subs):
        return set().union(*(dataset_fields(d) for d in subs))
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    if not hasattr(dataset, 'get_data_info') or len(dataset) == 0:
        return set()
    info = dataset.get_data_info(0)
    return set((info.get('instances') or {}).keys())


def check_classes(model_classes: Sequence[str], dataset_classes: Sequence[str], where: str) -> None:
    """Raise when the dataset's classes are not the model's, in order."""
    model_classes, dataset_classes = tuple(model_classes), tuple(dataset_classes)
    if model_classes == dataset_classes:
        return
    only_model = [c for c in model_classes if c not in dataset_classes]
    only_data = [c for c in dataset_classes if c not in model_classes]
    detail = []
    if only_model:
        detail.append(f'only in the model: {only_model}')
    if only_data:
        detail.append(f'only in the dataset: {only_data}')
    if not detail:
        detail.append('same names in a different order')
    raise ValueError(f'{where}: the dataset has {len(dataset_classes)} classes {list(dataset_classes)} but the model '
                     f'has {len(model_classes)} {list(model_classes)} ({"; ".join(detail)}). Set model.classes to '
                     'the dataset classes (or select the dataset classes with metainfo=dict(classes=...)).')


def check_fields(heads: Iterable, provided: Set[str], dataset_name: str, where: str) -> None:
    """Raise when a head's task requires a field that the dataset never provides."""
    problems: List[str] = []
    for head in heads:
        for task in head.tasks.values():
            missing = [f for f in task.requires if f not in provided]
            if missing:
                problems.append(f'head {head.name!r} task {type(task).__name__} ({task.name!r}) needs {missing}')
    if problems:
        raise ValueError(f'{where}: {dataset_name} provides the annotation fields {sorted(provided)}, but '
                         + '; '.join(problems) + '. Use a dataset that annotates them, or remove the task.')


@HOOKS.register_module()
class DataModelCheckHook(Hook):
    """Check model classes and task fields against each dataloader's dataset before a run."""

    priority = 'VERY_HIGH'

    def _check(self, runner, loader_name: str) -> None:
        loader = getattr(runner, loader_name, None)
        dataset = getattr(loader, 'dataset', None)
        if dataset is None:
            return
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        if not hasattr(model, 'heads') or not hasattr(model, 'classes'):
            return
        where = f'{loader_name} ({type(dataset).__name__})'
        classes = (dataset.metainfo or {}).get('classes')
        if classes is not None:
            check_classes(model.classes, classes, where)
        provided = dataset_fields(dataset)
        if provided:
            check_fields(model.heads.values(), provided, type(dataset).__name__, where)

    def before_train(self, runner) -> None:
        self._check(runner, 'train_dataloader')

    def before_val(self, runner) -> None:
        self._check(runner, 'val_dataloader')

    def before_test(self, runner) -> None:
        self._check(runner, 'test_dataloader')
