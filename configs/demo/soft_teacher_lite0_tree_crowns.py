# Demo, phase 2: Soft Teacher from the burn-in checkpoint (configs/demo/faster_rcnn_lite0_tree_crowns_burn_in.py,
# given as load_from by ssod/experiments/demo.py): 4 labeled + 4 unlabeled tiles per batch, the EMA
# teacher pseudo-labels the unlabeled tiles. Its control (soft_teacher_lite0_tree_crowns_control.py) is
# this config with unsupervised weight 0: the same labeled tiles per iteration, learning rate and EMA.
#
# Settings for a teacher that starts converged on 20 tiles and misses most trees of an unlabeled tile
# (at 0.7 its boxes found about a third of the hidden trees in earlier runs):
# * a gentle constant learning rate (no restart of the burn-in's 0.01), EMA momentum 0.995;
# * pseudo boxes above 0.7 (RPN and classification), unsupervised weight ramped to 1.0;
# * ignore_score_thr: teacher detections between 0.1 and the pseudo-label threshold are ignore regions
#   for the student's RPN and R-CNN: RoIs/anchors that overlap them are neither foreground nor
#   background, so trees the teacher is unsure of are not taught as background.
_base_ = [
    '../_base_/models/soft_teacher_lite0_fpn.py',
    '../_base_/datasets/semi_tree_crowns.py',
    '../_base_/schedules/schedule_180k.py',
    '../_base_/default_runtime.py',
]

unsup_weight = 1.0
model = dict(
    detector=dict(roi_head=dict(bbox_head=dict(num_classes=1))),
    semi_train_cfg=dict(rpn_pseudo_thr=0.7, cls_pseudo_thr=0.7, unsup_weight=unsup_weight,
                        ignore_score_thr=0.1))

max_iters = 150
batch_size = 8
train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='GroupSemiBalanceSampler', batch_size=batch_size, source_ratio=[1, 1],
                 max_iters=max_iters),
    batch_sampler=None)

train_cfg = dict(type='SemiIterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='SemiValLoop')  # teacher/coco/... (EMA) and student/coco/... (raw weights)
test_cfg = dict(type='TestLoop')

param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=max_iters)]
optim_wrapper = dict(
    optimizer=dict(lr=0.002, weight_decay=0.0001),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(base_batch_size=batch_size)

custom_hooks = [
    dict(type='EMATeacherHook', teacher_momentum=0.995),
    dict(type='Weighter', name='unsup_weight',
         schedule=dict(type='sigmoid_rampup', begin=0, end=30, start_value=0.0,
                       end_value=unsup_weight)),
]

default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(draw=False))
