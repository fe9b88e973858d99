"""The COCO evaluation libraries a COCO metric can run on.

``'pycocotools'`` (the reference, always installed) or ``'faster_coco_eval'`` (the
``faster-coco-eval`` package, a C++ reimplementation of ``evaluate`` / ``accumulate`` with the
same API and the same AP: tests/core/test_coco_backends.py checks it to 1e-6; install with
``pip install faster-coco-eval`` or the ``fast`` extra). Both give a ``COCO`` ground-truth class
and a ``COCOeval`` class called the same way.
"""
from __future__ import annotations

from typing import Callable, Tuple, Type

#: Accepted ``backend=`` values, the default first.
COCO_BACKENDS: Tuple[str, ...] = ('pycocotools', 'faster_coco_eval')


def check_backend(backend: str, owner: str) -> str:
    """``backend`` when it is one of :data:`COCO_BACKENDS`, else a ValueError naming ``owner``."""
    if backend not in COCO_BACKENDS:
        raise ValueError(f'{owner}: unknown COCO backend {backend!r}; expected one of {list(COCO_BACKENDS)}')
    return backend


def coco_api(backend: str) -> Tuple[Type, Callable]:
    """``(COCO, make_eval)`` of a backend; ``make_eval(gt, dt, iou_type)`` returns a COCOeval
    object with ``params``, ``evaluate``, ``accumulate``, ``summarize`` (printing to stdout),
    ``stats`` and ``eval['precision']``.

    Raises:
        ImportError: ``'faster_coco_eval'`` when the package is not installed (with the command
            that installs it).
    """
    check_backend(backend, 'coco_api')
    if backend == 'pycocotools':
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        return COCO, lambda gt, dt, iou_type: COCOeval(gt, dt, iouType=iou_type)
    try:
        from faster_coco_eval import COCO as FastCOCO
        from faster_coco_eval import COCOeval_faster
    except ImportError as err:
        raise ImportError("COCO backend 'faster_coco_eval' needs the faster-coco-eval package: "
                          "pip install faster-coco-eval (or pip install -e '.[fast]'); "
                          "or use backend='pycocotools'") from err
    # print_function=print: summarize() and the progress lines go to stdout, like pycocotools',
    # where the metric captures them
    return FastCOCO, lambda gt, dt, iou_type: COCOeval_faster(gt, dt, iouType=iou_type, print_function=print)
