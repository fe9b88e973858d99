# Rotated-box CenterNet on DOTA v1.0 (15 classes), trained on 1024x1024 patches (gap 200) and
# evaluated on the full val images: patch detections are merged back with polygon NMS and
# scored with the official task-1 protocol (VOC07 AP at polygon IoU 0.5, difficult ignored).
#
# Data (not downloadable from here): put DOTA v1.0 as
#   data/DOTA/train/{images,labelTxt}/   data/DOTA/val/{images,labelTxt}/
# and split it once:
#   python tools/dota_split.py --src data/DOTA/train --dst data/DOTA/split_1024/train --patch-size 1024 --gap 200
#   python tools/dota_split.py --src data/DOTA/val   --dst data/DOTA/split_1024/val   --patch-size 1024 --gap 200
# Without the data the dataset stops with a message saying exactly this.
_base_ = ['_base_/default_runtime.py', '_base_/models/centernet_dla34.py']

data_root = 'data/DOTA/'
input_size = (1024, 1024)
classes = ('plane', 'baseball-diamond', 'bridge', 'ground-track-field', 'small-vehicle', 'large-vehicle',
           'ship', 'tennis-court', 'basketball-court', 'storage-tank', 'soccer-ball-field', 'roundabout',
           'harbor', 'swimming-pool', 'helicopter')

model = dict(
    classes=classes,
    heads=[dict(name='objects', tasks=[dict(type='RotatedBoxTask')],
                kernel=dict(type='RotatedEllipticalGaussian', alpha=0.54), head_conv=256)],
    test_cfg=dict(topk=500, score_thr=0.01),  # DOTA patches hold hundreds of objects
)

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='shift_scale', shift=0.1, scale=0.2,
         rotation=180),
    dict(type='ColorJitter'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='CenterAffine', input_size=input_size),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='DotaDataset', data_root=data_root + 'split_1024/train/', version='v1.0',
                 filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type='DotaDataset', data_root=data_root + 'split_1024/val/', version='v1.0', test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='DotaMetric', iou_thr=0.5, use_07_metric=True, merge_patches=True,
                     merged_ann_dir=data_root + 'val/labelTxt/', outfile_dir=None)
test_evaluator = val_evaluator

# Adam 5e-4 at batch 128 as CenterNet, scaled linearly to the real batch; 60 epochs with x0.1
# at 40 and 55 (a starting point: DOTA patches are many and dense)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=5e-4), clip_grad=dict(max_norm=35))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=True, milestones=[40, 55], gamma=0.1),
]
auto_scale_lr = dict(enable=True, base_batch_size=128)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=60, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
