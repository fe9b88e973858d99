# configs/multitask_synthetic.py shrunk for a seconds-long test: 64x64 images, a few per source,
# TinyBackbone, batch 6, no workers. Paths are relative to the working directory the test runs in.
_base_ = ['../../configs/multitask_synthetic.py']

image_size = (64, 64)
input_size = (64, 64)
max_iters = 20
shapes_synthetic = dict(root='data/synthetic_shapes/', num_train=8, num_val=4, image_size=image_size, seed=0,
                        classes=('circle', 'square', 'triangle', 'cross', 'star'), max_objects=3, class_hues=True)
vehicles_synthetic = dict(root='data/synthetic_dota_zoom2/', num_train=8, num_val=4, image_size=image_size, seed=0)
people_synthetic = dict(root='data/synthetic_pose/', num_train=8, num_val=4, image_size=image_size, seed=0,
                        max_persons=2)

model = dict(backbone=dict(_delete_=True, type='TinyBackbone', channels=(8, 16, 32, 32)),
             neck=dict(out_channels=(32, 24, 16)))
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='shift_scale', shift=0.1, scale=0.25),
    dict(type='PackDetInputs'),
]
test_pipeline = [dict(type='LoadImage'), dict(type='CenterAffine', input_size=input_size),
                 dict(type='PackDetInputs')]
train_dataloader = dict(
    batch_size=6, num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=train_pipeline, sources=dict(
        shapes=dict(generate_if_missing=shapes_synthetic),
        vehicles=dict(generate_if_missing=vehicles_synthetic),
        people=dict(generate_if_missing=people_synthetic))))
val_dataloader = dict(
    batch_size=6, num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=test_pipeline, sources=dict(
        shapes=dict(generate_if_missing=shapes_synthetic),
        vehicles=dict(generate_if_missing=vehicles_synthetic),
        people=dict(generate_if_missing=people_synthetic))))
test_dataloader = val_dataloader
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5)]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(type='LoggerHook', interval=5),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters))
log_processor = dict(by_epoch=False, window_size=1)
