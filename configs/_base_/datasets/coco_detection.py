# COCO 2017 instances under data/coco/ (annotations/instances_{train,val}2017.json, train2017/, val2017/).
dataset_type = 'CocoDetDataset'
data_root = 'data/coco/'
input_size = (512, 512)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='random_crop'),
    dict(type='ColorJitter'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='CenterAffine', input_size=input_size),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=32, num_workers=8, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img='train2017/'), filter_cfg=dict(filter_empty_gt=True),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='annotations/instances_val2017.json',
                 data_prefix=dict(img='val2017/'), test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoBboxMetric')
test_evaluator = val_evaluator
