# A seconds-long training for tests: 64x64 synthetic images, TinyBackbone, batch 4, no workers.
# Paths are relative to the working directory the test runs in.
_base_ = ['../../configs/_base_/default_runtime.py']

classes = ('circle', 'rectangle', 'triangle', 'ellipse', 'star')
data_root = 'data/tiny/'
synthetic = dict(root=data_root, num_train=16, num_val=8, image_size=(64, 64), seed=0, classes=classes,
                 max_objects=4)
input_size = (64, 64)
max_iters = 10

model = dict(
    type='CenterNet', classes=classes,
    backbone=dict(type='TinyBackbone', channels=(8, 16, 32, 32)),
    neck=dict(type='DeconvNeck', out_channels=16),
    heads=[dict(name='objects', tasks=[dict(type='Box2DTask')], head_conv=16)],
)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='shift_scale'),
    dict(type='ColorJitter'),
    dict(type='PackDetInputs'),
]
test_pipeline = [dict(type='LoadImage'), dict(type='CenterAffine', input_size=input_size),
                 dict(type='PackDetInputs')]
train_dataloader = dict(
    batch_size=4, num_workers=0, sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CocoDetDataset', data_root=data_root, ann_file='annotations/train.json',
                 data_prefix=dict(img='train/'), metainfo=dict(classes=classes),
                 generate_if_missing=synthetic, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=0, drop_last=False, sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CocoDetDataset', data_root=data_root, ann_file='annotations/val.json',
                 data_prefix=dict(img='val/'), metainfo=dict(classes=classes), test_mode=True,
                 generate_if_missing=synthetic, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoBboxMetric')
test_evaluator = val_evaluator
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=5e-3))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(type='LoggerHook', interval=1),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=5))
log_processor = dict(by_epoch=False, window_size=1)
custom_hooks = [dict(type='ProgressHook'), dict(type='RecordLossesHook')]
