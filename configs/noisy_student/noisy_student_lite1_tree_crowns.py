# Noisy Student on the tree crowns with a larger student (the paper's "equal-or-larger"): EfficientNet-Lite1
# (depth x1.1, same level channels as Lite0) from its ImageNet weights, trained on labeled + pseudo-labeled
# tiles with the burn-in's schedule (240 iterations, lr 0.01 with warm-up, x0.1 at 80 %). The round-0 teacher is
# the Lite0 burn-in; from round 2 on, the Lite1 student of the round before labels the tiles.
_base_ = './noisy_student_lite0_tree_crowns.py'

model = dict(backbone=dict(arch='lite1'))
self_training = dict(student_init='config')

max_iters = 240
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False, milestones=[int(max_iters * 0.8)],
         gamma=0.1),
]
optim_wrapper = dict(optimizer=dict(lr=0.01))
default_hooks = dict(checkpoint=dict(interval=80))
