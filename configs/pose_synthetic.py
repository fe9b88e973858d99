# CenterNet multi-pose on generated stick figures (the 17 COCO keypoints; left limbs red-orange,
# right limbs blue; occluded (v=1), unlabeled (v=0) and out-of-image keypoints), COCO person-keypoints
# json written to data/synthetic_pose/ on first use. One 'person' heatmap carries Box2DTask and
# KeypointTask together; scored with pycocotools OKS AP (and person bbox AP). CPU, minutes.
_base_ = ['_base_/default_runtime.py']

classes = ('person',)
flip_pairs = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]
data_root = 'data/synthetic_pose/'
synthetic = dict(root=data_root, num_train=600, num_val=100, image_size=(256, 256), seed=0)
input_size = (256, 256)
max_iters = 400

model = dict(
    type='CenterNet',
    classes=classes,
    data_preprocessor=dict(type='DetDataPreprocessor', pad_size_divisor=32),
    backbone=dict(type='ResNet', depth=18, base_channels=24),
    neck=dict(type='DeconvNeck', out_channels=(96, 64, 48)),
    heads=[dict(name='person',
                tasks=[dict(type='Box2DTask'), dict(type='KeypointTask', num_keypoints=17, flip_pairs=flip_pairs)],
                kernel=dict(type='CornerNetGaussian'), head_conv=48)],
    test_cfg=dict(topk=100, score_thr=0.0, flip=False),
)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='shift_scale', shift=0.1, scale=0.25),
    dict(type='ColorJitter'),
    dict(type='PackDetInputs'),
]
test_pipeline = [dict(type='LoadImage'), dict(type='CenterAffine', input_size=input_size),
                 dict(type='PackDetInputs')]
train_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CocoKeypointsDataset', data_root=data_root, ann_file='annotations/train.json',
                 data_prefix=dict(img='train/'), metainfo=dict(classes=classes),
                 generate_if_missing=synthetic, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CocoKeypointsDataset', data_root=data_root, ann_file='annotations/val.json',
                 data_prefix=dict(img='val/'), metainfo=dict(classes=classes), test_mode=True,
                 generate_if_missing=synthetic, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoKeypointsMetric')
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3), clip_grad=dict(max_norm=35))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=max_iters, eta_min=1e-5),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(type='LoggerHook', interval=20),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
