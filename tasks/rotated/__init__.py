"""Rotated-box (DOTA) task: geometry, label IO, polygon IoU, evaluation, split and merge.

Modules:
    geometry        rbox <-> polygon conversions (torch, vectorized)
    dota_labels     labelTxt parsing / writing, class lists
    polygon_iou     vectorized polygon IoU (shapely STR-tree prefilter; numpy or GEOS intersection)
    convex_quads    numpy convex hull / convex clipping of quadrilaterals
    dota_eval       DOTA task-1 evaluation (fast); dota_eval_reference: the slow baseline
    submission      Task1_<class>.txt result files
    patch_names     <image>__<rate>__<x0>___<y0> patch names
    split           cutting images into patches
    merge           patch detections -> full images with polygon NMS
"""

from .dota_eval import DotaEvalResult, average_precision, eval_dota, group_detections
from .dota_labels import (
    DOTA_V1_CLASSES,
    DOTA_V15_CLASSES,
    DotaLabelError,
    DotaLabelFile,
    parse_dota_label_file,
    write_dota_label_file,
)
from .geometry import (
    canonical_rbox,
    canonical_rbox_np,
    min_area_rect,
    poly_to_hbox,
    poly_to_rbox,
    poly_to_rbox_np,
    rbox_to_hbox,
    rbox_to_poly,
    rbox_to_poly_np,
)
from .merge import DOTA_MERGE_NMS_THR, batched_rotated_nms, merge_patch_detections, rotated_nms
from .patch_names import PatchName, format_patch_name, parse_patch_name
from .polygon_iou import poly_iou_aligned, poly_iou_matrix, poly_iou_sparse
from .split import Patch, SplitStats, split_image, split_stats
from .submission import Task1Detections, read_task1_detections, read_task1_submission, write_task1_submission

__all__ = [
    "DOTA_MERGE_NMS_THR",
    "DOTA_V15_CLASSES",
    "DOTA_V1_CLASSES",
    "DotaEvalResult",
    "DotaLabelError",
    "DotaLabelFile",
    "Patch",
    "PatchName",
    "SplitStats",
    "average_precision",
    "batched_rotated_nms",
    "canonical_rbox",
    "canonical_rbox_np",
    "eval_dota",
    "format_patch_name",
    "group_detections",
    "merge_patch_detections",
    "min_area_rect",
    "parse_dota_label_file",
    "parse_patch_name",
    "poly_iou_aligned",
    "poly_iou_matrix",
    "poly_iou_sparse",
    "poly_to_hbox",
    "poly_to_rbox",
    "poly_to_rbox_np",
    "rbox_to_hbox",
    "rbox_to_poly",
    "rbox_to_poly_np",
    "read_task1_detections",
    "read_task1_submission",
    "Task1Detections",
    "rotated_nms",
    "split_image",
    "split_stats",
    "write_dota_label_file",
    "write_task1_submission",
]

# registered with centerx (`synthetic` is left out so `python -m centerx_tasks.rotated.synthetic` runs cleanly)
from . import annotation_kind, dota_dataset, dota_metric, draw, task  # noqa: F401,E402
from .task import RotatedBoxTask  # noqa: E402,F401
