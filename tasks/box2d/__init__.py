"""2D box detection: COCO dataset, synthetic data generator and COCO metric."""
# `synthetic` registers nothing and is left out so `python -m centerx_tasks.box2d.synthetic`
# runs without runpy's "found in sys.modules" warning.
from . import coco_dataset  # noqa: F401
from . import coco_metric  # noqa: F401
from . import draw  # noqa: F401
from . import task  # noqa: F401
