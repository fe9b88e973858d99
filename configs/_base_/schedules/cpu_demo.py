# The CPU demos' schedule, fixed by iteration count so results repeat: Adam 2e-3, 100 iterations of
# linear warm-up, cosine decay to 1e-5 at 800 iterations of batch 8 (cpu_demo_loaders.py), a
# validation every 200 iterations (so the metric curve can be plotted: tools/plot_curves.py).
# Measured on box2d_synthetic with its earlier shape-only classes (docs/benchmarks.md): 800 x 8 at 2e-3 reached COCO AP 0.118 where
# 400 x 16 at 2e-3 reached 0.087 for the same images seen (and 1e-3: 0.068 with the smaller kernel).
# A config that trains longer overrides train_cfg, param_scheduler and the checkpoint interval.
_base_ = ['../default_runtime.py']

max_iters = 800
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=2e-3), clip_grad=dict(max_norm=35))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min=1e-5),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=200)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(type='LoggerHook', interval=20),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=400, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
