# A task that centerx does not ship, trained from a plugin: discs (center + radius) on a
# generated dataset of coloured discs on noisy backgrounds (written to data/circles/ under
# the working directory on first use), evaluated with the plugin's own circle AP.
#
#   PYTHONPATH=docs/examples/circles python tools/train.py docs/examples/circles/circles_synthetic.py
#
# Self-contained on purpose (a plugin usually lives outside the centerx repository, where
# configs/_base_/ is not at a known relative path). See docs/writing_a_task.md.
custom_imports = dict(imports=['centerx_circles'], allow_failed_imports=False)
default_scope = 'centerx'

classes = ('red', 'green', 'blue')
data_root = 'data/circles/'
synthetic = dict(root=data_root, num_train=400, num_val=50, image_size=(128, 128), seed=0,
                 classes=classes, max_objects=6)
input_size = (128, 128)
max_iters = 800

model = dict(
    type='CenterNet',
    classes=classes,
    data_preprocessor=dict(type='DetDataPreprocessor', pad_size_divisor=32),
    # a ResNet-18 at reduced width (24/48/96/192 channels) and a 3-stage deconv neck to stride 4
    backbone=dict(type='ResNet', depth=18, base_channels=24),
    neck=dict(type='DeconvNeck', out_channels=(96, 64, 48)),
    heads=[dict(name='discs',
                tasks=[dict(type='CircleTask', loss_weights=dict(radius=0.1, offset=1.0))],
                kernel=dict(type='DiscIoUGaussian', min_iou=0.5),  # the plugin's own kernel
                head_conv=48)],
    test_cfg=dict(topk=50, score_thr=0.0),
)

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='shift_scale', shift=0.1, scale=0.3,
         rotation=15),  # discs stay discs under rotation: the 'circles' kind warps them exactly
    dict(type='ColorJitter', brightness=0.3, contrast=0.3, saturation=0.2, lighting_std=0.05),
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
    dataset=dict(type='CircleDataset', data_root=data_root, ann_file='train.json',
                 data_prefix=dict(img='train/'), metainfo=dict(classes=classes),
                 generate_if_missing=synthetic, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CircleDataset', data_root=data_root, ann_file='val.json',
                 data_prefix=dict(img='val/'), metainfo=dict(classes=classes), test_mode=True,
                 generate_if_missing=synthetic, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CircleAPMetric', iou_thr=0.5)
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3), clip_grad=dict(max_norm=35))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=30),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=30, end=max_iters, eta_min=1e-5),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=20),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=2),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
