# The embedded demo: CenterNet ctdet on a generated synthetic COCO-format dataset of coloured
# shapes on textured backgrounds (written to data/synthetic_shapes/ on first use), trained on CPU
# for 1200 x 8 images (about 8 minutes on a quiet 2-core machine) and evaluated with pycocotools
# COCOeval. A reduced-width ResNet-18 (24/48/96/192 channels) with the skip neck, 256x256 input,
# batch 8, Adam 2e-3 with linear warm-up and cosine decay, a fixed number of iterations so results
# repeat.
_base_ = ['_base_/models/centernet_resnet18_w24.py', '_base_/datasets/cpu_demo_loaders.py',
          '_base_/schedules/cpu_demo.py']

# 1200 iterations instead of the demos' 800 (COCO AP 0.20 / 0.34 / 0.47 / 0.503 at 300 / 600 / 900 /
# 1200, 7 min 53 s on a 2-core machine, quiet after its first minute; docs/benchmarks.md).
max_iters = 1200
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min=1e-5),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=300)

# Five shapes that differ in outline (round, four corners, three corners, concave plus sign, spiky
# star) and in hue band (class_hues: class k of 5 is filled with hues near k / 5), at least 16 px
# across. With the shapes alone to tell them apart (the earlier classes: circle, rectangle,
# triangle, ellipse, star, any hue, from 8 px) the model found the objects early but named them
# late: COCO AP 0.236 at 1200 iterations, 0.280 with these outlines but any hue, 0.503-0.508 with both
# cues (docs/benchmarks.md). `class_hues=False` gives the shape-only task.
classes = ('circle', 'square', 'triangle', 'cross', 'star')
data_root = 'data/synthetic_shapes/'
synthetic = dict(root=data_root, num_train=600, num_val=100, image_size=(256, 256), seed=0, classes=classes,
                 min_diameter=16.0, class_hues=True)
input_size = (256, 256)

model = dict(
    classes=classes,
    # TTFNet's elliptical kernel (radius 0.54 x half the box side per axis) spreads the centers
    # wider than CenterNet's CornerNet radius; together with lr 2e-3: COCO AP 0.087 vs 0.068 (CornerNet
    # kernel, lr 1e-3) at 400 x 16 (docs/benchmarks.md). Linear sizes: log sizes were worse here (0.047).
    heads=[dict(name='objects', tasks=[dict(type='Box2DTask')],
                kernel=dict(type='EllipticalGaussian', alpha=0.54), head_conv=48)],
)

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomCenterAffine', input_size=input_size, mode='random_crop',
         scales=(0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3)),
    dict(type='ColorJitter'),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='CenterAffine', input_size=input_size),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    dataset=dict(type='CocoDetDataset', data_root=data_root, ann_file='annotations/train.json',
                 data_prefix=dict(img='train/'), metainfo=dict(classes=classes),
                 generate_if_missing=synthetic, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(type='CocoDetDataset', data_root=data_root, ann_file='annotations/val.json',
                 data_prefix=dict(img='val/'), metainfo=dict(classes=classes), test_mode=True,
                 generate_if_missing=synthetic, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoBboxMetric')
test_evaluator = val_evaluator
# The closing summary says whether the demo reached its goal (issue 9; docs/benchmarks.md).
custom_hooks = [dict(type='ProgressHook', good_values={'coco/bbox_mAP': 0.45})]
