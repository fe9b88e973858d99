# CenterNet multi-pose on generated stick figures (the 17 COCO keypoints; left limbs red-orange,
# right limbs blue; occluded (v=1), unlabeled (v=0) and out-of-image keypoints), COCO person-keypoints
# json written to data/synthetic_pose/ on first use. One 'person' heatmap carries Box2DTask and
# KeypointTask together; scored with pycocotools OKS AP (and person bbox AP). CPU, minutes.
_base_ = ['_base_/models/centernet_resnet18_w24.py', '_base_/datasets/cpu_demo_loaders.py',
          '_base_/schedules/cpu_demo.py']

classes = ('person',)
flip_pairs = [[1, 2], [3, 4], [5, 6], [7, 8], [9, 10], [11, 12], [13, 14], [15, 16]]
data_root = 'data/synthetic_pose/'
synthetic = dict(root=data_root, num_train=600, num_val=100, image_size=(256, 256), seed=0)
input_size = (256, 256)

model = dict(
    classes=classes,
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
    dataset=dict(type='CocoKeypointsDataset', data_root=data_root, ann_file='annotations/train.json',
                 data_prefix=dict(img='train/'), metainfo=dict(classes=classes),
                 generate_if_missing=synthetic, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type='CocoKeypointsDataset', data_root=data_root, ann_file='annotations/val.json',
                 data_prefix=dict(img='val/'), metainfo=dict(classes=classes), test_mode=True,
                 generate_if_missing=synthetic, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoKeypointsMetric')
test_evaluator = val_evaluator
# The closing summary says whether the demo reached its goal (issue 9; docs/benchmarks.md).
custom_hooks = [dict(type='ProgressHook', good_values={'coco/kpt_AP': 0.4})]
