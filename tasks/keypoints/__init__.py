"""Keypoints: CenterNet multi-pose (center offsets to K keypoints, refined by keypoint heatmaps).

`synthetic` is not imported here so `python -m centerx_tasks.keypoints.synthetic` runs cleanly.
"""
from . import annotation_kind, coco_keypoints_dataset, draw, keypoints_metric, task  # noqa: F401
from .task import KeypointTask  # noqa: F401
