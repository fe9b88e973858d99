"""nuScenes names: detection classes (in the orders that occur), attributes, cameras.

The one definition of these constants for :mod:`centerx_tasks.box3d` (plain tuples and dicts:
no torch, no numpy).

Class orders: :data:`NUSCENES_CLASSES` is the label order of mmdet3d's
``NuScenesDataset`` (v0.x), CenterNet's and centerx's default; :data:`INFO_CLASSES`
that of the OpenMMLab info v1.1 files (``metainfo['categories']`` ids 0..9);
:data:`DEVKIT_DETECTION_NAMES` the nuScenes devkit's
(``nuscenes.eval.detection.constants.DETECTION_NAMES``).

Attributes: :data:`NUSCENES_ATTRIBUTES` are the 8 attributes in the index order of
mmdet3d's ``attr_label`` (and of ``attribute_id`` in mmdet3d's mono3d json). Info files
write a 9th label, :data:`INFO_ATTRIBUTE_NONE` = 8 = ``'None'`` (barriers, traffic
cones), listed by :data:`INFO_ATTRIBUTE_NAMES`; centerx's ``attr_labels`` use -1 for
"no attribute". :data:`DEFAULT_ATTRIBUTES` is the attribute a class gets when it has
none (the devkit's / mmdet3d's defaults; ``''`` = none) and :data:`CLASS_ATTRIBUTES`
the attributes valid for each class (the devkit's ``detection_name_to_rel_attributes``).
"""
from __future__ import annotations

from typing import Dict, Tuple

#: The 10 nuScenes detection classes in mmdet3d v0.x / CenterNet / centerx label order.
NUSCENES_CLASSES: Tuple[str, ...] = ('car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier',
                                     'motorcycle', 'bicycle', 'pedestrian', 'traffic_cone')
#: The same classes in the label order of OpenMMLab's nuScenes info v1.1 files.
INFO_CLASSES: Tuple[str, ...] = ('car', 'truck', 'trailer', 'bus', 'construction_vehicle', 'bicycle',
                                 'motorcycle', 'pedestrian', 'traffic_cone', 'barrier')
#: The same classes in the nuScenes devkit's order.
DEVKIT_DETECTION_NAMES: Tuple[str, ...] = ('car', 'truck', 'bus', 'trailer', 'construction_vehicle',
                                           'pedestrian', 'motorcycle', 'bicycle', 'traffic_cone', 'barrier')

#: The 8 nuScenes attributes, in mmdet3d's order (``attr_label`` of the info files).
NUSCENES_ATTRIBUTES: Tuple[str, ...] = ('cycle.with_rider', 'cycle.without_rider', 'pedestrian.moving',
                                        'pedestrian.standing', 'pedestrian.sitting_lying_down',
                                        'vehicle.moving', 'vehicle.parked', 'vehicle.stopped')
#: Label of "no attribute" in info v1.1 files (mapped to -1 by the datasets).
INFO_ATTRIBUTE_NONE: int = len(NUSCENES_ATTRIBUTES)
#: All 9 attribute labels of the info files: the 8 attributes, then ``'None'``.
INFO_ATTRIBUTE_NAMES: Tuple[str, ...] = NUSCENES_ATTRIBUTES + ('None',)

#: The attribute a class gets when it has none ('' = no attribute): mmdet3d's, CenterPoint's
#: and FCOS3D's defaults.
DEFAULT_ATTRIBUTES: Dict[str, str] = {
    'car': 'vehicle.parked', 'truck': 'vehicle.parked', 'construction_vehicle': 'vehicle.parked',
    'bus': 'vehicle.moving', 'trailer': 'vehicle.parked', 'barrier': '',
    'motorcycle': 'cycle.without_rider', 'bicycle': 'cycle.without_rider',
    'pedestrian': 'pedestrian.moving', 'traffic_cone': ''}

_VEHICLE = ('vehicle.moving', 'vehicle.parked', 'vehicle.stopped')
_CYCLE = ('cycle.with_rider', 'cycle.without_rider')
#: The attributes valid for each class (the devkit's ``detection_name_to_rel_attributes``).
CLASS_ATTRIBUTES: Dict[str, Tuple[str, ...]] = {
    'car': _VEHICLE, 'truck': _VEHICLE, 'construction_vehicle': _VEHICLE, 'bus': _VEHICLE, 'trailer': _VEHICLE,
    'barrier': (), 'motorcycle': _CYCLE, 'bicycle': _CYCLE,
    'pedestrian': ('pedestrian.moving', 'pedestrian.sitting_lying_down', 'pedestrian.standing'),
    'traffic_cone': ()}

#: The six nuScenes cameras, in the order of the info files.
NUSCENES_CAMERAS: Tuple[str, ...] = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_FRONT_LEFT', 'CAM_BACK',
                                     'CAM_BACK_LEFT', 'CAM_BACK_RIGHT')
