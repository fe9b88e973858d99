"""Monocular 3D boxes (CenterNet's 3D extension) on nuScenes-style data.

Modules:
    camera              projection, lifting, box corners, observation angle (torch)
    camera_meta         CameraMeta: an image's intrinsics, poses and time (its per-task meta)
    annotation_kinds    how boxes3d / velocities move under flips
    class_stats         nuScenes classes, attributes, per-class mean sizes
    task                Box3DTask: depth, dimensions, orientation, offset at projected centers
    codecs              depth and orientation codecs of the task (map value <-> meters, angle)
    extras              velocity and attribute targets of the task
    info_dataset        OpenMMLab info v1.1 pickle loader
    mono3d_dataset      centerx's converted json (and mmdet3d's mono3d COCO json)
    mono3d_geometry     camera-frame box corners, projection, poses, bbox_cam3d layouts (numpy)
    nuscenes_convert    nuScenes dataroot -> json, through the devkit
    nuscenes_results    camera-frame boxes <-> nuScenes global-frame boxes
    nuscenes_submission the submission json: BEV NMS, class ranges, the per-sample cap, and back
    nuscenes_metric     NuScenesMetric: the devkit's detection evaluation (mAP, TP errors, NDS)
    nuscenes_devkit     the devkit's algorithm on EvalBoxes; camera ground truth as EvalBoxes
    draw                projected cuboids for `tools/test.py --show-dir`
    synthetic           generated cuboid scenes (not imported here: `python -m` entry point);
                        synthetic_render draws them
"""
from . import annotation_kinds, draw, info_dataset, mono3d_dataset, nuscenes_metric, task  # noqa: F401
from .task import Box3DTask  # noqa: F401
