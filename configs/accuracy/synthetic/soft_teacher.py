# Accuracy benchmark, synthetic shapes (3 classes; tools/data/make_synthetic.py, split chosen by data_root:
# benchmarks/accuracy.py makes data/synthetic_1pct and data/synthetic_10pct), Soft Teacher arm. The same
# recipe as the tree-crown arm (configs/demo/soft_teacher_lite0_tree_crowns.py): 4 labeled + 4 unlabeled
# images per batch, constant learning rate 0.002 from the burn-in checkpoint, EMA 0.995, pseudo boxes
# above 0.7, ignore regions from 0.1, unsupervised weight ramped to 1.0 over 30 iterations.
_base_ = [
    '../../_base_/models/soft_teacher_lite0_fpn.py',
    '../../_base_/datasets/semi_synthetic.py',
    '../../_base_/schedules/schedule_180k.py',
    '../../_base_/default_runtime.py',
]

unsup_weight = 1.0
model = dict(
    detector=dict(roi_head=dict(bbox_head=dict(num_classes=3))),
    semi_train_cfg=dict(rpn_pseudo_thr=0.7, cls_pseudo_thr=0.7, unsup_weight=unsup_weight,
                        ignore_score_thr=0.1))

max_iters = 150
batch_size = 8
train_dataloader = dict(
    batch_size=batch_size,
    sampler=dict(type='GroupSemiBalanceSampler', batch_size=batch_size, source_ratio=[1, 1],
                 max_iters=max_iters))

train_cfg = dict(type='SemiIterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='SemiValLoop')
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
