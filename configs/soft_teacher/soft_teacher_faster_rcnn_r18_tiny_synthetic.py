# Soft Teacher on the synthetic shapes (3 classes), for tests and smoke runs: a few iterations of
# 1 labeled + 1 unlabeled image, no worker processes, validation at the end. Tests point it at their
# generated data with --cfg-options, e.g.
#   train_dataloader.dataset.datasets.0.data_root=<root>/
#   train_dataloader.dataset.datasets.1.data_root=<root>/
#   val_dataloader.dataset.data_root=<root>/ val_evaluator.ann_file=<root>/annotations/val.json
# The schedules are those of the tree-crown demo, shrunk: burn-in for the first half, then the
# unsupervised loss ramps up.
_base_ = [
    '../_base_/models/soft_teacher_r18_tiny_fpn_scratch.py',
    '../_base_/datasets/semi_synthetic.py',
    '../_base_/schedules/schedule_180k.py',
    '../_base_/default_runtime.py',
]

model = dict(detector=dict(roi_head=dict(bbox_head=dict(num_classes=3))))

max_iters = 4
burn_in = 2
batch_size = 2

train_dataloader = dict(
    batch_size=batch_size,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(
        type='GroupSemiBalanceSampler', batch_size=batch_size, source_ratio=[1, 1],
        max_iters=max_iters),
    batch_sampler=None)
val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader

train_cfg = dict(type='SemiIterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
]
optim_wrapper = dict(
    optimizer=dict(lr=0.01, weight_decay=0.0005),
    clip_grad=dict(max_norm=10, norm_type=2))
auto_scale_lr = dict(base_batch_size=batch_size)

custom_hooks = [
    dict(type='EMATeacherHook', teacher_momentum=dict(type='step', steps=[burn_in], vals=[0.99, 0.995])),
    dict(type='Weighter', name='unsup_weight',
         schedule=dict(type='sigmoid_rampup', begin=burn_in, end=max_iters,
                       start_value=0.0, end_value=4.0)),
]

default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(draw=False))
