# Rotated-box CenterNet on a generated synthetic DOTA-format dataset (rotated vehicles, ships and
# planes at all angles and many aspect ratios, some densely packed; labelTxt files + PNG images,
# written to data/synthetic_dota/ on first use). Trains on CPU in minutes and prints DOTA mAP
# (VOC07 11-point AP at polygon IoU 0.5, the official task-1 protocol).
_base_ = ['_base_/default_runtime.py']

data_root = 'data/synthetic_dota/'
classes = ('small-vehicle', 'large-vehicle', 'ship', 'plane')
synthetic = dict(root=data_root, num_train=600, num_val=100, image_size=(256, 256), seed=0)
input_size = (256, 256)
max_iters = 400

model = dict(
    type='CenterNet',
    classes=classes,
    data_preprocessor=dict(type='DetDataPreprocessor', pad_size_divisor=32),
    backbone=dict(type='ResNet', depth=18, base_channels=24),
    neck=dict(type='DeconvNeck', out_channels=(96, 64, 48)),
    heads=[dict(name='objects', tasks=[dict(type='RotatedBoxTask')],
                kernel=dict(type='RotatedEllipticalGaussian', alpha=0.54), head_conv=48)],
    test_cfg=dict(topk=100, score_thr=0.0),
)

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='shift_scale', shift=0.1, scale=0.2,
         rotation=30),
    dict(type='ColorJitter'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='CenterAffine', input_size=input_size),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='DotaDataset', data_root=data_root + 'train/', metainfo=dict(classes=classes),
                 generate_if_missing=synthetic, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='DotaDataset', data_root=data_root + 'val/', metainfo=dict(classes=classes),
                 test_mode=True, generate_if_missing=synthetic, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='DotaMetric', iou_thr=0.5, use_07_metric=True)
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
