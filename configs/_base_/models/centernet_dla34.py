# CenterNet with DLA-34 and the DLA-up aggregation neck (plain convs instead of DCN).
model = dict(
    type='CenterNet',
    classes=None,
    data_preprocessor=dict(type='DetDataPreprocessor', mean=(123.675, 116.28, 103.53),
                           std=(58.395, 57.12, 57.375), bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type='DLA', depth=34, pretrained=None),
    neck=dict(type='DLAUpNeck', first_level=2, out_channels=64),
    heads=[dict(name='objects', tasks=[dict(type='Box2DTask', loss_weights=dict(size=0.1, offset=1.0))],
                kernel=dict(type='CornerNetGaussian', min_overlap=0.7), head_conv=256)],
    test_cfg=dict(topk=100, score_thr=0.0, pool_size=3),
)
