# Monocular 3D CenterNet on nuScenes (CenterNet's 3D settings on DLA-34): all six cameras, each
# image an independent sample (`cameras='all'`; set cameras=['CAM_FRONT'] for the front camera only),
# 1600x900 images at half resolution (800x448 input), the 10 detection classes.
# Data: a nuScenes dataroot under data/nuscenes/ (samples/, v1.0-trainval/ or v1.0-mini/), converted
# once with
#   python tools/nuscenes_convert.py --dataroot data/nuscenes --version v1.0-trainval --out data/nuscenes/annotations
# (v1.0-mini: --version v1.0-mini, and ann files nus_mono3d_mini_train.json / nus_mono3d_mini_val.json).
# Evaluation: the devkit's full DetectionEval (mAP, ATE/ASE/AOE/AVE/AAE, NDS) on the val split.
_base_ = ['_base_/default_runtime.py', '_base_/models/centernet_dla34.py']

classes = ('car', 'truck', 'construction_vehicle', 'bus', 'trailer', 'barrier', 'motorcycle', 'bicycle',
           'pedestrian', 'traffic_cone')
data_root = 'data/nuscenes/'
version = 'v1.0-trainval'
input_size = (800, 448)

model = dict(
    classes=classes,
    heads=[dict(name='objects',
                tasks=[dict(type='Box3DTask', depth_encoding='inverse_sigmoid', velocity=True,
                            num_attributes=8),
                       dict(type='Box2DTask')],
                center_task='box3d', kernel=dict(type='CornerNetGaussian'), head_conv=256)],
    test_cfg=dict(topk=100, score_thr=0.05),
)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='shift_scale', shift=0.1, scale=0.2),
    dict(type='ColorJitter'),
    dict(type='PackDetInputs'),
]
test_pipeline = [dict(type='LoadImage'), dict(type='CenterAffine', input_size=input_size),
                 dict(type='PackDetInputs')]
train_dataloader = dict(
    batch_size=16, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='NuScenesMono3DDataset', data_root=data_root, ann_file='annotations/nus_mono3d_train.json',
                 cameras='all', ignore_without_points=True, filter_cfg=dict(filter_empty_gt=True),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='NuScenesMono3DDataset', data_root=data_root, ann_file='annotations/nus_mono3d_val.json',
                 cameras='all', test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='NuScenesMetric', data_root=data_root, version=version, eval_set='val',
                     use_devkit_eval='auto', nms_iou_thr=0.5)
test_evaluator = val_evaluator

# CenterNet's 3D schedule: Adam 1.25e-4 at batch 32 (scaled linearly), 70 epochs, x0.1 at 45 and 60
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1.25e-4), clip_grad=dict(max_norm=35))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[45, 60], gamma=0.1)]
auto_scale_lr = dict(enable=True, base_batch_size=32)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=70, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
