# CenterNet's COCO schedule: Adam, lr 5e-4 at batch 128, 140 epochs, x0.1 at 90 and 120.
# auto_scale_lr scales the lr linearly when the real batch differs (tools/train.py --cfg-options
# auto_scale_lr.enable=True, or enable it here).
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=5e-4), clip_grad=dict(max_norm=35, norm_type=2))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[90, 120], gamma=0.1)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=140, val_interval=10)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=True, base_batch_size=128)
