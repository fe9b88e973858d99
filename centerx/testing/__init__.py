"""Test kit for task plugins: the checks the repository runs on every registered task.

A plugin's own pytest needs three lines::

    import my_plugin  # noqa: F401  (registers LineTask)
    from centerx.testing import check_task
    def test_line_task(): check_task('LineTask')

:func:`check_task` runs every check of :data:`CHECKS` (forward/backward with a gradient on every
branch, empty batch, all objects ignored, finite predictions, the round-trip law on input pixels
and through letterbox + flip, traced decoding) and then puts the task behind every other
registered center-placing task. Pass ``checks=[name]`` to run one (e.g. under
``pytest.mark.parametrize('check', CHECKS)``). The task supplies its examples through
``example_gt`` / ``example_meta`` / ``roundtrip_error`` (see ``docs/writing_a_task.md``), or the
test passes a ``gt_factory``.
"""
from .cases import CLASSES, IMAGE, ORIGINAL, GtFactory, TaskCase, TaskSpec, task_class
from .checks import CHECKS, check_behind, perfect_decode, roundtrip, train_step
from .run import center_task_types, check_task, check_task_behind

__all__ = ['CHECKS', 'CLASSES', 'IMAGE', 'ORIGINAL', 'GtFactory', 'TaskCase', 'TaskSpec',
           'center_task_types', 'check_behind', 'check_task', 'check_task_behind', 'perfect_decode', 'roundtrip',
           'task_class', 'train_step']
