"""Build-time checks that the model and the data fit together.

Run by :class:`DataModelCheckHook` before training, validation and testing (the tools
register it on every runner), so a mismatch stops the run with a clear message instead of a
shape error in the middle of training:

- the dataset's class names (``metainfo['classes']``) must be the model's ``classes``, in
  the same order (the label indices the dataset writes are the model's indices);
- every field a head's tasks require must be provided by the dataset (by at least one of
  its sources, for a dataset that mixes several); a validation or test dataset may serve only
  some heads (a test config holding one source of a multi-source model), which is logged;
- every metric's prediction field (its ``prediction_field`` class attribute, see
  :mod:`centerx.evaluation.predictions`) must be provided by a task of some head
  (``Task.provides``), so that ``CocoBboxMetric`` on a model without a box task stops the
  run before training instead of reporting AP 0 after it;
- with flip test-time augmentation (``model.test_cfg.flip=True``) every task of every head
  must implement ``Task.flip_output_maps``.

Before training, the validation dataset and evaluator are checked too, so a validation that
cannot work is reported before the first iteration rather than after a whole training.
"""
from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, List, Mapping, Sequence, Set

from mmengine.hooks import Hook
from mmengine.logging import print_log

from centerx.evaluation.predictions import prediction_field_of
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


def check_fields(heads: Iterable, provided: Set[str], dataset_name: str, where: str, every_head: bool = True) -> List[str]:
    """Raise when a head's task requires a field that the dataset never provides.

    Args:
        every_head: every head must be served (training). False (validation, testing): a
            dataset that serves only some heads is accepted, e.g. a test config holding one
            source of a multi-source model; it raises only when no head is served.

    Returns:
        the names of the heads the dataset does not serve (empty with ``every_head``).
    """
    problems: List[str] = []
    unserved: List[str] = []
    heads = list(heads)
    for head in heads:
        for task in head.tasks.values():
            missing = [f for f in task.requires if f not in provided]
            if missing:
                problems.append(f'head {head.name!r} task {type(task).__name__} ({task.name!r}) needs {missing}')
                if head.name not in unserved:
                    unserved.append(head.name)
    if problems and (every_head or len(unserved) == len(heads)):
        raise ValueError(f'{where}: {dataset_name} provides the annotation fields {sorted(provided)}, but '
                         + '; '.join(problems) + '. Use a dataset that annotates them, or remove the task.')
    return unserved


def provided_fields(heads: Iterable) -> Dict[str, List[str]]:
    """``{prediction field: ['head <name> <TaskType> (<task name>)', ...]}`` over the tasks of ``heads``."""
    out: Dict[str, List[str]] = {}
    for head in heads:
        for task in head.tasks.values():
            for f in task.provides:
                out.setdefault(f, []).append(f'head {head.name!r} {type(task).__name__} ({task.name!r})')
    return out


def leaf_metrics(evaluator: Any) -> Iterator[Any]:
    """The metrics of an mmengine ``Evaluator`` (its ``metrics``), a metric or a list of them; a
    wrapper metric that holds sub-metrics in ``metrics`` (a mapping or a list, e.g.
    :class:`~centerx.evaluation.PerSourceMetric`) yields those instead of itself."""
    if evaluator is None:
        return
    subs = evaluator if isinstance(evaluator, (list, tuple)) else getattr(evaluator, 'metrics', None)
    if subs is None:
        yield evaluator
        return
    for metric in (subs.values() if isinstance(subs, Mapping) else subs):
        yield from leaf_metrics(metric)


def check_metric_fields(heads: Sequence, evaluator: Any, where: str) -> None:
    """Raise when a metric evaluates a prediction field that no head's task provides.

    Metrics without a ``prediction_field`` (or with None, e.g. ``DumpDetResults``) are not
    checked.
    """
    provided = provided_fields(heads)
    problems = [f'{type(m).__name__} evaluates {prediction_field_of(m)!r}' for m in leaf_metrics(evaluator)
                if prediction_field_of(m) is not None and prediction_field_of(m) not in provided]
    if problems:
        have = '; '.join(f'{f} by {", ".join(by)}' for f, by in sorted(provided.items())) or 'nothing'
        raise ValueError(f'{where}: ' + '; '.join(problems) + f', but no task of the model provides it (provided: '
                         f'{have}). Add a task that decodes that field to a head, or use a metric of a field '
                         'the model predicts.')


def check_flip_support(heads: Sequence, test_cfg: Mapping) -> None:
    """Raise when ``test_cfg['flip']`` asks for flip test-time augmentation and a task cannot
    serve it, as its :meth:`~centerx.task.Task.check_flip_support` says (default: it does not
    implement :meth:`~centerx.task.Task.flip_output_maps`; a keypoint task without
    ``flip_pairs`` ...).

    Raises:
        ValueError: naming every such head and task with the task's reason.
    """
    if not (test_cfg or {}).get('flip', False):
        return
    problems = []
    for head in heads:
        for task in head.tasks.values():
            try:
                task.check_flip_support()
            except ValueError as err:
                problems.append(f'head {head.name!r} task {type(task).__name__} ({task.name!r}): {err}')
    if problems:
        raise ValueError('model.test_cfg.flip=True (flip test-time augmentation), but ' + '; '.join(problems)
                         + '. Fix that or set model.test_cfg.flip=False.')


@HOOKS.register_module()
class DataModelCheckHook(Hook):
    """Check the model against each run's datasets and metrics, and its flip TTA, before any
    iteration (see the module doc for the checks).

    Before training the validation loop (when there is one) is checked as well.
    """

    priority = 'VERY_HIGH'

    @staticmethod
    def _model(runner):
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        return model if hasattr(model, 'heads') and hasattr(model, 'classes') else None

    def _check(self, runner, phase: str) -> None:
        """Check the dataset of ``<phase>_dataloader`` and the metrics of ``<phase>_evaluator``."""
        model = self._model(runner)
        if model is None:
            return
        heads = list(model.heads.values())
        check_flip_support(heads, getattr(model, 'test_cfg', None) or {})
        loader_name = f'{phase}_dataloader'
        dataset = getattr(getattr(runner, loader_name, None), 'dataset', None)
        if dataset is not None:
            where = f'{loader_name} ({type(dataset).__name__})'
            classes = (dataset.metainfo or {}).get('classes')
            if classes is not None:
                check_classes(model.classes, classes, where)
            provided = dataset_fields(dataset)
            if provided:
                unserved = check_fields(heads, provided, type(dataset).__name__, where, every_head=phase == 'train')
                if unserved:
                    print_log(f'{where}: heads {unserved} have no ground truth in this dataset (it provides '
                              f'{sorted(provided)}); they predict, and only metrics of the other heads\' '
                              'fields can score', logger='current')
        if phase != 'train':
            check_metric_fields(heads, getattr(runner, f'{phase}_evaluator', None), f'{phase}_evaluator')

    def before_train(self, runner) -> None:
        self._check(runner, 'train')
        if getattr(runner, 'val_loop', None) is not None:
            self._check(runner, 'val')

    def before_val(self, runner) -> None:
        self._check(runner, 'val')

    def before_test(self, runner) -> None:
        self._check(runner, 'test')
