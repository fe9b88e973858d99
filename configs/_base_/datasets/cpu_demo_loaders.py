# Dataloaders of the CPU demos: batch 8 (twice the updates of batch 16 for the same images: faster
# from random init, docs/benchmarks.md), one worker, an infinite shuffled sampler for the
# iteration-based schedule. Configs add `dataset=...` to each (and set test_dataloader).
train_dataloader = dict(
    batch_size=8, num_workers=1, persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='pseudo_collate'))
val_dataloader = dict(
    batch_size=16, num_workers=1, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='pseudo_collate'))
test_dataloader = val_dataloader
