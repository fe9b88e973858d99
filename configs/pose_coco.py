# CenterNet multi-pose on COCO person keypoints with the paper's settings (DLA-34, 512x512,
# Adam 5e-4 at batch 128 scaled linearly, 320 epochs with x0.1 at 270 and 300; flip testing).
# One 'person' heatmap carries Box2DTask and KeypointTask (17 keypoints).
# Data: data/coco/annotations/person_keypoints_{train,val}2017.json, data/coco/{train,val}2017/.
_base_ = ['_base_/default_runtime.py', '_base_/models/centernet_dla34.py']

classes = ('person',)
flip_pairs = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]
data_root = 'data/coco/'
input_size = (512, 512)

model = dict(
    classes=classes,
    heads=[dict(name='person',
                tasks=[dict(type='Box2DTask'), dict(type='KeypointTask', num_keypoints=17, flip_pairs=flip_pairs)],
                kernel=dict(type='CornerNetGaussian'), head_conv=256)],
    test_cfg=dict(topk=100, score_thr=0.0, flip=True),
)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='random_crop'),
    dict(type='ColorJitter'),
    dict(type='PackDetInputs'),
]
test_pipeline = [dict(type='LoadImage'), dict(type='CenterAffine', input_size=input_size),
                 dict(type='PackDetInputs')]
train_dataloader = dict(
    batch_size=32, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CocoKeypointsDataset', data_root=data_root, ann_file='annotations/person_keypoints_train2017.json',
                 data_prefix=dict(img='train2017/'), metainfo=dict(classes=classes),
                 filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='CocoKeypointsDataset', data_root=data_root, ann_file='annotations/person_keypoints_val2017.json',
                 data_prefix=dict(img='val2017/'), metainfo=dict(classes=classes), test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoKeypointsMetric')
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=5e-4), clip_grad=dict(max_norm=35))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[270, 300], gamma=0.1)]
auto_scale_lr = dict(enable=True, base_batch_size=128)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=320, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
