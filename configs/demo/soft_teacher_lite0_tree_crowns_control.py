# Demo, phase 2 control: soft_teacher_lite0_tree_crowns.py with unsupervised weight 0. A weight of 0 means
# the teacher is never run on the unlabeled tiles and they add no loss, so this is a supervised
# continuation with exactly what the Soft Teacher phase has besides the unlabeled tiles: the same
# labeled tiles per iteration (same sampler and seed), learning rate, clipping and EMA teacher. Its
# teacher (EMA) is the control; its student is the raw supervised weights.
_base_ = './soft_teacher_lite0_tree_crowns.py'

unsup_weight = 0.0
model = dict(semi_train_cfg=dict(unsup_weight=unsup_weight))
custom_hooks = [
    dict(type='EMATeacherHook', teacher_momentum=0.995),
    dict(type='Weighter', name='unsup_weight', schedule=unsup_weight),
]
