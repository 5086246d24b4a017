# Demo: the supervised baseline on the labeled tree-crown tiles, trained from scratch on a CPU.
# `make demo` trains it (about 9 minutes on 2 cores) and prints the val mAP.
_base_ = [
    '../_base_/models/faster_rcnn_r18_tiny_fpn_scratch.py',
    '../_base_/datasets/tree_crowns.py',
    '../_base_/schedules/schedule_180k.py',
    '../_base_/default_runtime.py',
]

model = dict(roi_head=dict(bbox_head=dict(num_classes=1)))

max_iters = 1000
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
# From scratch with trainable BN: a larger learning rate than the ImageNet-initialised 180k schedule,
# a short warm-up, gradient clipping for the first unstable iterations, and a stronger weight decay
# against overfitting the 20 labeled tiles.
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[int(max_iters * 0.75)], gamma=0.1),
]
optim_wrapper = dict(
    optimizer=dict(lr=0.02, weight_decay=0.0005),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(base_batch_size=8)

default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(draw=False))
