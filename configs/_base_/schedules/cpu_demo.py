# The CPU demos' schedule, fixed by iteration count so results repeat: Adam 1e-3, 50 iterations of
# linear warm-up, cosine decay to 1e-5 at 400 iterations, one validation at the end.
# A config that trains longer overrides train_cfg, param_scheduler and the checkpoint interval.
_base_ = ['../default_runtime.py']

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3), clip_grad=dict(max_norm=35))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=50, end=400, eta_min=1e-5),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=400, val_interval=400)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(logger=dict(type='LoggerHook', interval=20),
                     checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=200, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
