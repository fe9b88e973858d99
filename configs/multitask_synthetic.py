# Three heads on one backbone, trained on three datasets annotated for different tasks:
#   shapes   - 5 shape classes, 2D boxes            (synthetic COCO,      data/synthetic_shapes/)
#   vehicles - 4 aerial classes, rotated boxes      (synthetic DOTA,      data/synthetic_dota_zoom2/)
#   person   - 'person', 2D boxes + 17 keypoints    (synthetic COCO pose, data/synthetic_pose/)
# The training set is a MultiSourceDataset of the three (generated on first use with the single-task
# demos' parameters, so both share the same files and validation sets); every
# image trains only the heads whose center task it is annotated for (a DOTA image has no
# 'bboxes', so it adds no loss to the shapes and person heads; see docs/mixing_heads.md). The
# validation set mixes the three val splits and PerSourceMetric reports COCO box AP, DOTA mAP
# and COCO keypoint AP together (shapes/coco/bbox_mAP, vehicles/dota/mAP, people/coco/kpt_AP ...).
# Reduced-width ResNet-18 (24/48/96/192 channels) with the skip neck, 256x256, batch 8, 1200
# iterations (see docs/benchmarks.md for the time and results).
_base_ = ['_base_/models/centernet_resnet18_w24.py', '_base_/datasets/cpu_demo_loaders.py',
          '_base_/schedules/cpu_demo.py']

shape_classes = ('circle', 'square', 'triangle', 'cross', 'star')  # as configs/box2d_synthetic.py
vehicle_classes = ('small-vehicle', 'large-vehicle', 'ship', 'plane')
person_classes = ('person',)
# the model's classes = the MultiSourceDataset's classes: the union, in this order
classes = shape_classes + vehicle_classes + person_classes
flip_pairs = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]

shapes_root = 'data/synthetic_shapes/'
vehicles_root = 'data/synthetic_dota_zoom2/'
people_root = 'data/synthetic_pose/'
image_size = (256, 256)
# small sets (a few hundred images each); the three sizes set how often each source is drawn
shapes_synthetic = dict(root=shapes_root, num_train=600, num_val=100, image_size=image_size, seed=0,
                        classes=shape_classes, min_diameter=16.0, class_hues=True)  # as configs/box2d_synthetic.py
vehicles_synthetic = dict(root=vehicles_root, num_train=600, num_val=100, image_size=image_size, seed=0, zoom=2.0,
                          plane_span=(0.6, 0.8))  # as configs/rotated_synthetic.py
people_synthetic = dict(root=people_root, num_train=600, num_val=100, image_size=image_size, seed=0)
input_size = (256, 256)
max_iters = 1200

model = dict(
    classes=classes,
    heads=[
        # per-head class sets; per-task loss weights on the tasks; a kernel per head
        dict(name='shapes', classes=shape_classes,
             tasks=[dict(type='Box2DTask', loss_weights=dict(size=0.1, offset=1.0))],
             kernel=dict(type='EllipticalGaussian', alpha=0.54), head_conv=48),  # as configs/box2d_synthetic.py
        dict(name='vehicles', classes=vehicle_classes,
             tasks=[dict(type='RotatedBoxTask', size_encoding='log', loss_weights=dict(size=1.0, angle=1.0, offset=1.0))],
             kernel=dict(type='RotatedEllipticalGaussian', alpha=0.54), head_conv=48),
        # several tasks on one head: Box2DTask places the peaks, KeypointTask regresses at them
        dict(name='person', classes=person_classes,
             tasks=[dict(type='Box2DTask', loss_weights=dict(size=0.1, offset=1.0)),
                    dict(type='KeypointTask', num_keypoints=17, flip_pairs=flip_pairs,
                         loss_weights=dict(kps=1.0, kp_heatmap=1.0, kp_offset=1.0))],
             kernel=dict(type='CornerNetGaussian'), head_conv=48),
    ],
    # learned loss balancing (homoscedastic uncertainty, Kendall et al. 2018): one weight exp(-s) per
    # head heatmap and per task (7 groups here), on top of the fixed loss_weights above; a group with
    # no annotated image in a batch (zero loss) leaves its s alone. Remove the line for fixed weights.
    loss_balancing=dict(type='UncertaintyLossBalancing', init=0.0),
)

# One pipeline for all sources (each source may set its own `pipeline=` instead, e.g. a
# rotation augmentation for the aerial images). It sees each source's own labels and
# metainfo (keypoint flip pairs); the labels are mapped to `classes` after PackDetInputs.
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='shift_scale', shift=0.1, scale=0.25),
    dict(type='ColorJitter'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='CenterAffine', input_size=input_size),
    dict(type='PackDetInputs'),
]


def _sources(split, test_mode):
    return dict(
        shapes=dict(type='CocoDetDataset', data_root=shapes_root, ann_file=f'annotations/{split}.json',
                    data_prefix=dict(img=f'{split}/'), metainfo=dict(classes=shape_classes),
                    test_mode=test_mode, generate_if_missing=shapes_synthetic),
        vehicles=dict(type='DotaDataset', data_root=vehicles_root + f'{split}/',
                      metainfo=dict(classes=vehicle_classes), test_mode=test_mode,
                      generate_if_missing=vehicles_synthetic),
        people=dict(type='CocoKeypointsDataset', data_root=people_root, ann_file=f'annotations/{split}.json',
                    data_prefix=dict(img=f'{split}/'), metainfo=dict(classes=person_classes),
                    test_mode=test_mode, generate_if_missing=people_synthetic),
    )


train_dataloader = dict(
    dataset=dict(type='MultiSourceDataset', classes=classes, sources=_sources('train', False),
                 pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type='MultiSourceDataset', classes=classes, sources=_sources('val', True),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
# every source scored with its own metric, reported together
val_evaluator = dict(type='PerSourceMetric', metrics=dict(
    shapes=dict(type='CocoBboxMetric'),
    vehicles=dict(type='DotaMetric', iou_thr=0.5, use_07_metric=True, classwise=False),
    people=dict(type='CocoKeypointsMetric')))
test_evaluator = val_evaluator

# The single-task demos' schedule (_base_/schedules/cpu_demo.py: Adam 2e-3, batch 8, warm-up 100,
# cosine), stretched to max_iters: the sources are shuffled together, so each head trains on about a
# third of every batch's images.
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min=1e-5),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(type='LoggerHook', interval=20),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=600, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
