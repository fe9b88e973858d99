# CenterNet with a ResNet-18 backbone and the deconvolution neck (CenterNet's "resdcn18",
# with plain 3x3 convs in place of the deformable ones). `classes` is set by the dataset config.
model = dict(
    type='CenterNet',
    classes=None,
    data_preprocessor=dict(type='DetDataPreprocessor', mean=(123.675, 116.28, 103.53),
                           std=(58.395, 57.12, 57.375), bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type='ResNet', depth=18, base_channels=64, pretrained=None),
    neck=dict(type='DeconvNeck', out_channels=(256, 128, 64)),
    heads=[dict(name='objects', tasks=[dict(type='Box2DTask', loss_weights=dict(size=0.1, offset=1.0))],
                kernel=dict(type='CornerNetGaussian', min_overlap=0.7), head_conv=64)],
    test_cfg=dict(topk=100, score_thr=0.0, pool_size=3),
)
