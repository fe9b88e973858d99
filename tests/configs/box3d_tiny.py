# configs/box3d_synthetic.py shrunk for seconds-long tests: 64x96 generated images, a few of them,
# TinyBackbone, no workers. Paths are relative to the working directory the test runs in.
_base_ = ['../../configs/box3d_synthetic.py']

data_root = 'data/tiny_box3d/'
synthetic = dict(root=data_root, num_train=4, num_val=2, image_size=(64, 96), seed=0,
                 depth_range=(4.0, 20.0), max_objects=3)
input_size = (96, 64)
model = dict(backbone=dict(_delete_=True, type='TinyBackbone', channels=(8, 16, 32, 32)),
             neck=dict(out_channels=(32, 24, 16)),
             heads=[dict(name='objects', tasks=[dict(type='Box3DTask', depth_loss='encoded'), dict(type='Box2DTask')],
                         center_task='box3d', kernel=dict(type='CornerNetGaussian'), head_conv=16)])
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='shift_scale', shift=0.05, scale=0.1),
    dict(type='PackDetInputs'),
]
test_pipeline = [dict(type='LoadImage'), dict(type='CenterAffine', input_size=input_size),
                 dict(type='PackDetInputs')]
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root, generate_if_missing=synthetic, pipeline=train_pipeline))
val_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                      dataset=dict(data_root=data_root, generate_if_missing=synthetic, pipeline=test_pipeline))
test_dataloader = val_dataloader
