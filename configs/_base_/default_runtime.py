# Runtime defaults shared by every centerx config.
default_scope = 'centerx'
# The built-in tasks (the tasks/ folder, installed as centerx_tasks) register themselves on import,
# exactly as a user's plugin does: the core names none of them. A config that sets its own
# custom_imports lists centerx_tasks too when it uses a built-in task (tools/train.py and
# tools/test.py import it anyway).
custom_imports = dict(imports=['centerx_tasks'], allow_failed_imports=False)
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    # log_metric_by_epoch=False: validation scalars are logged at their iteration (not at epoch 0
    # of an iteration-based training), so tools/plot_curves.py puts them on the loss curves' axis.
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
# Progress lines with an ETA after iterations 1, 5 and 10, and a summary at the end of training.
# A config that sets its own custom_hooks keeps this one by listing it too.
custom_hooks = [dict(type='ProgressHook')]
# Scalars go to <work_dir>/<timestamp>/vis_data/scalars.json (tools/plot_curves.py); TensorBoard
# event files too with tensorboard=True (or --cfg-options visualizer.tensorboard=True; needs the
# tensorboard package: pip install 'centerx[tensorboard]'), then: tensorboard --logdir work_dirs
visualizer = dict(type='CenterXVisualizer', vis_backends=[dict(type='LocalVisBackend')], tensorboard=False)
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
