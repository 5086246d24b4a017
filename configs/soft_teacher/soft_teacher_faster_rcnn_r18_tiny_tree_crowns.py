# Demo: Soft Teacher on the tree-crown tiles (20 labeled + 78 unlabeled), trained from scratch on a CPU.
# `make demo DEMO_CONFIG=<this file>` trains it on 2 CPU cores and prints the teacher's val mAP.
# Compare with configs/demo/faster_rcnn_r18_tiny_tree_crowns_supervised.py (labeled tiles only).
# Measured (tools/demo.py, 2 shared cores, 2026-11-23): 8 min 7 s from start to printed mAP; teacher
# bbox mAP 0.042 (mAP@0.5 0.169). In so short a from-scratch run the teacher never scores a box above
# the paper's 0.9 (candidates > 0.5 score 0.6 on average), so the unlabeled images only add background
# evidence; lowering rpn/cls_pseudo_thr to 0.6 (760 iterations) gave 0.029, i.e. no better.
#
# No pretrained weights can be loaded here (no network; `load_from` has nothing to load), so the run
# starts from random weights and has two phases:
# 1. burn-in (iterations 0-399): every image of a batch is labeled (the unlabeled branches are empty,
#    which ssod's detector and MultiBranchDataPreprocessor accept), i.e. plain supervised training of
#    the student at the cost of the supervised demo; the teacher follows it as an EMA with momentum 0.99.
# 2. semi-supervised (iterations 400-679): 2 labeled + 6 unlabeled images per batch (labeled fraction
#    0.25), the unsupervised loss weight ramps up to the paper's 4.0 along a sigmoid over 100
#    iterations, and the teacher becomes slower (momentum 0.995; the paper's 0.999 averages over ~1000
#    iterations, longer than this phase).
# The labeled fraction is a schedule of GroupSemiBalanceSampler (exact per batch), the loss weight a
# Weighter hook, the momentum a schedule of MeanTeacherHook: all pure functions of the iteration.
# Validation evaluates the teacher (semi_test_cfg.predict_on='teacher'), once, at the end.
_base_ = [
    '../_base_/models/soft_teacher_r18_tiny_fpn_scratch.py',
    '../_base_/datasets/semi_tree_crowns.py',
    '../_base_/schedules/schedule_180k.py',
    '../_base_/default_runtime.py',
]

model = dict(detector=dict(roi_head=dict(bbox_head=dict(num_classes=1))))

# Iterations, measured on 2 shared CPU cores: 0.53-0.57 s per burn-in iteration (8 labeled images)
# and 0.9-1.0 s per semi-supervised iteration (2 + 6 images, the teacher predicting on the 6 weak
# views), so 400 + 280 iterations, start-up and one validation take about 8 minutes (10 at most on a
# busier machine). Scale max_iters and burn_in together to change the length.
max_iters = 680
burn_in = 400
batch_size = 8
labeled_fraction = dict(type='step', steps=[burn_in], vals=[1.0, 0.25])

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(
        type='GroupSemiBalanceSampler',
        batch_size=batch_size,
        source_ratio=[1, 3],  # without a schedule: 2 labeled + 6 unlabeled
        ratio_schedule=labeled_fraction,
        max_iters=max_iters),
    batch_sampler=None)

train_cfg = dict(type='SemiIterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

# As the supervised demo (from scratch, trainable BN): lr 0.02 for a batch of 8, short warm-up,
# gradient clipping (also against the first iterations of the unsupervised loss), weight decay 5e-4.
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[int(max_iters * 0.75)], gamma=0.1),
]
optim_wrapper = dict(
    optimizer=dict(lr=0.02, weight_decay=0.0005),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(base_batch_size=batch_size)

custom_hooks = [
    # momentum = weight of the TEACHER (ssod convention; mmdet's hook takes the student's weight).
    dict(type='MeanTeacherHook', momentum=dict(type='step', steps=[burn_in], vals=[0.99, 0.995])),
    # sigmoid_rampup: exp(-5) * 4.0 = 0.027 up to burn_in (no unlabeled images then), 4.0 from
    # burn_in + 100 on.
    dict(type='Weighter', name='unsup_weight',
         schedule=dict(type='sigmoid_rampup', begin=burn_in, end=burn_in + 100,
                       start_value=0.0, end_value=4.0)),
]

default_hooks = dict(
    logger=dict(interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(draw=False))
