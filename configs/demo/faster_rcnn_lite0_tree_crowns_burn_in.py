# Demo, phase 1: the supervised burn-in on the 20 labeled tree-crown tiles, from ImageNet EfficientNet-Lite0
# weights. Both later phases (configs/demo/soft_teacher_lite0_tree_crowns.py and its control) start from
# its last checkpoint. `make demo` runs the three phases (ssod/experiments/demo.py).
_base_ = [
    '../_base_/models/faster_rcnn_lite0_fpn.py',
    '../_base_/datasets/tree_crowns.py',
    '../_base_/schedules/schedule_180k.py',
    '../_base_/default_runtime.py',
]

model = dict(roi_head=dict(bbox_head=dict(num_classes=1)))

# Length: the teacher should be near its supervised plateau before pseudo-labelling (measured: val mAP
# 0.097 after 250 iterations, 0.094 after 500), within the 15-minute budget of the whole demo on 2 cores
# (1.1-1.3 s per iteration of 8 tiles).
max_iters = 240
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[int(max_iters * 0.8)], gamma=0.1),
]
optim_wrapper = dict(
    optimizer=dict(lr=0.01, weight_decay=0.0001),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(base_batch_size=8)

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(draw=False))
