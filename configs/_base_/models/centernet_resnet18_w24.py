# The CPU demos' model: a ResNet-18 at reduced width (24/48/96/192 channels, 1.9M parameters),
# the skip-connected upsampling neck to stride 4 (SkipUpNeck: CenterNet's deconv path plus a 1x1
# lateral from every backbone level; from random init about twice the box AP of the deconv neck,
# which reads only the stride-32 map, at the same budget: docs/benchmarks.md), 48-channel branches.
# Configs set `classes` and `heads`.
model = dict(
    type='CenterNet',
    data_preprocessor=dict(type='DetDataPreprocessor', pad_size_divisor=32),
    backbone=dict(type='ResNet', depth=18, base_channels=24),
    neck=dict(type='SkipUpNeck', out_channels=(96, 64, 48)),
    test_cfg=dict(topk=100, score_thr=0.0),
)
